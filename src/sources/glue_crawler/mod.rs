//! Glue crawlers: one trace per crawl.
//!
//! Calls per cycle: `GetCrawlers` every `discovery_interval` (1000 crawlers per page); per
//! crawler `ListCrawls` filtered on `START_TIME` ≥ the listing floor (100 crawls per page), and
//! `ListCrawls` filtered on `CRAWL_ID` per awaited crawl the listing no longer returns.

pub mod aws;
pub mod convert;
pub mod records;

use super::{scan, Connection, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window};
use crate::aws::AwsError;
use crate::model::{partition, PipelineKind, PipelineRef, PipelineRun};
use crate::records::Millis;
use crate::semconv::MetricDef;
use crate::state::Checkpoint;
use futures::future::BoxFuture;
use futures::FutureExt;
use records::{GlueCrawl, GlueCrawler};
use std::collections::HashMap;
use std::sync::Mutex;

/// `glue-crawler`, `cloud.platform` `aws_glue`.
pub const KIND: PipelineKind = PipelineKind::new("glue-crawler", "aws_glue");

// --- attributes of a crawl's root span -----------------------------------------------------
/// The crawl's `State` as Glue names it.
pub const ATTR_CRAWL_STATE: &str = "aws.glue.crawl.state";
/// DPU-hours the crawl consumed (`DPUHour`).
pub const ATTR_DPU_HOURS: &str = "aws.glue.crawl.dpu_hours";
/// Catalog changes of a finished crawl, from its `Summary`.
pub const ATTR_TABLES_ADDED: &str = "aws.glue.crawl.tables_added";
pub const ATTR_TABLES_UPDATED: &str = "aws.glue.crawl.tables_updated";
pub const ATTR_TABLES_DELETED: &str = "aws.glue.crawl.tables_deleted";
pub const ATTR_PARTITIONS_ADDED: &str = "aws.glue.crawl.partitions_added";
pub const ATTR_PARTITIONS_UPDATED: &str = "aws.glue.crawl.partitions_updated";
pub const ATTR_PARTITIONS_DELETED: &str = "aws.glue.crawl.partitions_deleted";
/// Where the crawl logged: CloudWatch Logs group and stream, and the prefix of its lines.
pub const ATTR_LOG_GROUP: &str = "aws.glue.crawl.log_group";
pub const ATTR_LOG_STREAM: &str = "aws.glue.crawl.log_stream";
pub const ATTR_MESSAGE_PREFIX: &str = "aws.glue.crawl.message_prefix";
/// The CloudWatch console page of the crawl's log lines.
pub const ATTR_LOG_URL: &str = "aws.glue.crawl.log_url";
/// The Data Catalog database the crawler writes to.
pub const ATTR_DATABASE_NAME: &str = "aws.glue.crawler.database_name";

// --- metrics of its own --------------------------------------------------------------------
/// Label of [`CATALOG_CHANGES`]: `table` or `partition`.
pub const LABEL_OBJECT: &str = "aws.glue.catalog.object";
/// Label of [`CATALOG_CHANGES`]: `added`, `updated` or `deleted`.
pub const LABEL_CHANGE: &str = "aws.glue.catalog.change";

pub const DPU_USAGE: MetricDef = MetricDef {
    name: "pipeline_bridge.glue.crawler.dpu_usage",
    unit: "{dpu_hour}",
    description: "DPU-hours consumed by finished Glue crawls.",
};
pub const CATALOG_CHANGES: MetricDef = MetricDef {
    name: "pipeline_bridge.glue.crawler.catalog_changes",
    unit: "{change}",
    description: "Data Catalog tables and partitions added, updated or deleted by finished Glue crawls, by object and change.",
};

pub static SPEC: SourceSpec = SourceSpec {
    key: "glue_crawlers",
    kind: KIND,
    component: "glue_crawler",
    watches: "Glue crawls",
    iam_actions: &["glue:GetCrawlers", "glue:ListCrawls", "glue:ListCrawlers"],
    tag_actions: &["glue:GetTags"],
    metrics: &[DPU_USAGE, CATALOG_CHANGES],
    connect: |c| Box::new(GlueCrawlers::connect(c)),
};

/// A Glue crawler; its ARN is derived, as Glue's APIs do not return it.
pub fn pipeline(account: &str, region: &str, name: &str) -> PipelineRef {
    PipelineRef::new(
        KIND,
        account,
        region,
        name,
        &format!(
            "arn:{}:glue:{region}:{account}:crawler/{name}",
            partition(region)
        ),
    )
}

/// The Glue crawlers of one account and region.
pub struct GlueCrawlers {
    client: aws_sdk_glue::Client,
    account: String,
    region: String,
    /// Crawler definitions from the last discovery (database), by name.
    crawlers: Mutex<HashMap<String, GlueCrawler>>,
}

impl GlueCrawlers {
    pub fn connect(c: &Connection<'_>) -> Self {
        GlueCrawlers {
            client: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
            crawlers: Mutex::default(),
        }
    }
}

impl Source for GlueCrawlers {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn region(&self) -> &str {
        &self.region
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>> {
        async move {
            let crawlers = aws::list_crawlers(&self.client, &self.region).await?;
            let out = crawlers
                .iter()
                .filter(|c| !c.name.is_empty())
                .map(|c| pipeline(&self.account, &self.region, &c.name))
                .collect();
            if let Ok(mut m) = self.crawlers.lock() {
                *m = crawlers.into_iter().map(|c| (c.name.clone(), c)).collect();
            }
            Ok(out)
        }
        .boxed()
    }

    fn scan<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
        cp: &'a Checkpoint,
        w: Window,
        cache: Option<&'a DetailsCache>,
    ) -> BoxFuture<'a, Result<PipelineScan, AwsError>> {
        async move {
            let crawler = self
                .crawlers
                .lock()
                .ok()
                .and_then(|m| m.get(&pipeline.name).cloned());
            let src = Crawls {
                client: &self.client,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
                crawler: crawler.as_ref(),
            };
            scan::scan(&src, cp, w.cutoff, w.now, cache).await
        }
        .boxed()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), AwsError>> {
        aws::probe(&self.client, &self.region).boxed()
    }

    fn tags<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, String>, AwsError>> {
        crate::sources::glue_job::aws::get_tags(&self.client, &self.region, &pipeline.arn).boxed()
    }
}

/// The crawls of one crawler.
pub struct Crawls<'a> {
    pub client: &'a aws_sdk_glue::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    pub crawler: Option<&'a GlueCrawler>,
}

impl RunSource for Crawls<'_> {
    type Record = GlueCrawl;

    async fn list(&self, since: Millis) -> Result<Vec<GlueCrawl>, AwsError> {
        aws::list_crawls(self.client, self.region, self.name, since).await
    }
    async fn get(&self, run_id: &str) -> Result<Option<GlueCrawl>, AwsError> {
        aws::get_crawl(self.client, self.region, self.name, run_id).await
    }
    fn id<'r>(&self, rec: &'r GlueCrawl) -> &'r str {
        &rec.crawl_id
    }
    fn to_run(&self, rec: &GlueCrawl) -> Option<PipelineRun> {
        convert::to_run(self.account, self.region, self.name, self.crawler, rec)
    }
    /// A crawl's record is complete: nothing more to fetch.
    async fn details(&self, rec: &GlueCrawl) -> Result<Option<PipelineRun>, AwsError> {
        Ok(self.to_run(rec))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_arns_use_the_region_partition() {
        assert_eq!(
            super::pipeline("1", "cn-north-1", "c").arn,
            "arn:aws-cn:glue:cn-north-1:1:crawler/c"
        );
        assert_eq!(
            super::pipeline("123456789012", "eu-west-1", "orders").arn,
            "arn:aws:glue:eu-west-1:123456789012:crawler/orders"
        );
    }
}
