//! Glue Data Quality: one run per ruleset evaluation result, a span per rule. A pipeline is a
//! ruleset.
//!
//! `ListDataQualityResults` cannot be filtered by ruleset, and its entries do not name their
//! ruleset: so the results of all rulesets are listed **once per cycle** (filtered on
//! `StartedAfter`, 1000 per page) and their details read with `BatchGetDataQualityResult` (100
//! per call) only for ids not read before (a result never changes), then shared by the
//! rulesets' scans ([`Listing`]).
//!
//! Calls per cycle: `ListDataQualityRulesets` every `discovery_interval` (1000 per page); one
//! `ListDataQualityResults` per 1000 results in the window (plus one for a ruleset whose
//! window reaches further back than the first listing: only the gap is listed);
//! `BatchGetDataQualityResult` per 100 new results; `GetDataQualityResult` per awaited result
//! the listing no longer returns.

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
use records::DqResult;
use std::collections::{HashMap, HashSet};

/// `glue-data-quality`, `cloud.platform` `aws_glue`.
pub const KIND: PipelineKind = PipelineKind::new("glue-data-quality", "aws_glue");

// --- attributes of a result's root span ------------------------------------------------------
/// `Score`: the share of rules that passed, 0 to 1.
pub const ATTR_SCORE: &str = "aws.glue.data_quality.score";
/// Rules by outcome (`PASS`, `FAIL`, `ERROR` or undocumented).
pub const ATTR_RULES_PASSED: &str = "aws.glue.data_quality.rules_passed";
pub const ATTR_RULES_FAILED: &str = "aws.glue.data_quality.rules_failed";
pub const ATTR_RULES_ERRORED: &str = "aws.glue.data_quality.rules_errored";
/// The table evaluated (`DataSource`).
pub const ATTR_DATABASE_NAME: &str = "aws.glue.data_quality.database_name";
pub const ATTR_TABLE_NAME: &str = "aws.glue.data_quality.table_name";
pub const ATTR_CATALOG_ID: &str = "aws.glue.data_quality.catalog_id";
/// `EvaluationContext`: which evaluation node of a job (or what the caller named it).
pub const ATTR_EVALUATION_CONTEXT: &str = "aws.glue.data_quality.evaluation_context";
/// The ruleset evaluation run that produced the result, if one did.
pub const ATTR_RULESET_EVALUATION_RUN_ID: &str = "aws.glue.data_quality.ruleset_evaluation_run_id";
/// The Glue job run that produced the result, if one did.
pub const ATTR_JOB_NAME: &str = "aws.glue.data_quality.job_name";
pub const ATTR_JOB_RUN_ID: &str = "aws.glue.data_quality.job_run_id";
/// How many analyzer results and observations (anomaly findings) came with the result.
pub const ATTR_ANALYZERS: &str = "aws.glue.data_quality.analyzers";
pub const ATTR_OBSERVATIONS: &str = "aws.glue.data_quality.observations";

// --- attributes of a rule's span ------------------------------------------------------------
/// The rule's outcome as Glue names it (`PASS`, `FAIL`, `ERROR`).
pub const ATTR_RULE_RESULT: &str = "aws.glue.data_quality.rule.result";
/// The rule in DQDL (`Description`).
pub const ATTR_RULE_DESCRIPTION: &str = "aws.glue.data_quality.rule.description";
/// What was measured (`EvaluatedMetrics`), `name=value, …`.
pub const ATTR_RULE_METRICS: &str = "aws.glue.data_quality.rule.evaluated_metrics";

// --- error types ----------------------------------------------------------------------------
/// `error.type` of a result with a failed rule, and of a failed rule.
pub const ERROR_RULES_FAILED: &str = "RulesFailed";
pub const ERROR_RULE_FAILED: &str = "RuleFailed";
/// `error.type` of a result with a rule that could not be evaluated (and none failed), and of
/// such a rule.
pub const ERROR_RULE_ERRORS: &str = "RuleErrors";
pub const ERROR_RULE_ERROR: &str = "RuleError";

// --- metrics of its own ---------------------------------------------------------------------
/// Label of both metrics: the table evaluated, `database.table`.
pub const LABEL_TABLE: &str = "aws.glue.data_quality.table";

pub const SCORE: MetricDef = MetricDef {
    name: "pipeline_bridge.glue.data_quality.score",
    unit: "1",
    description: "Score (share of rules passed, 0 to 1) of the latest Glue Data Quality result, by ruleset and table.",
};
pub const RULES_FAILED: MetricDef = MetricDef {
    name: "pipeline_bridge.glue.data_quality.rules_failed",
    unit: "{rule}",
    description: "Rules that failed in Glue Data Quality results, by ruleset and table.",
};

pub static SPEC: SourceSpec = SourceSpec {
    key: "glue_data_quality",
    kind: KIND,
    component: "glue_data_quality",
    watches: "Glue Data Quality ruleset evaluations (a pipeline is a ruleset), a span per rule",
    iam_actions: &[
        "glue:ListDataQualityRulesets",
        "glue:ListDataQualityResults",
        "glue:BatchGetDataQualityResult",
        "glue:GetDataQualityResult",
    ],
    tag_actions: &["glue:GetTags"],
    metrics: &[SCORE, RULES_FAILED],
    connect: |c| Box::new(GlueDataQuality::connect(c)),
};

/// A Data Quality ruleset; its ARN is derived (`dataQualityRuleset/{name}`, the IAM resource
/// type), as the listing does not return it.
pub fn pipeline(account: &str, region: &str, name: &str) -> PipelineRef {
    PipelineRef::new(
        KIND,
        account,
        region,
        name,
        &format!(
            "arn:{}:glue:{region}:{account}:dataQualityRuleset/{name}",
            partition(region)
        ),
    )
}

/// The results of all rulesets listed in one cycle, shared by the rulesets' scans.
#[derive(Debug, Default)]
pub struct Listing {
    /// `now` of the cycle the listing is of.
    cycle: Option<Millis>,
    /// Results started at or after this are listed in `listed`.
    from: Millis,
    /// The oldest start any scan asked for in this cycle, and in the one before: a cycle lists
    /// from the older of its first scan's and the last cycle's, so that every ruleset's scan
    /// is served by one listing (cutoffs only move forward) instead of one more per ruleset
    /// whose window reaches further back than the first scan's.
    floor: Option<Millis>,
    last_floor: Option<Millis>,
    listed: HashSet<String>,
    /// The listing of this cycle failed: every ruleset's scan fails with it, without calling
    /// again.
    failed: Option<AwsError>,
    /// Details of results, by id: those listed in the latest cycle (a result never changes, so
    /// they are read once while they stay in the window).
    details: HashMap<String, DqResult>,
}

/// The Data Quality rulesets of one account and region.
pub struct GlueDataQuality {
    client: aws_sdk_glue::Client,
    account: String,
    region: String,
    /// Held across the calls: concurrent scans of one cycle wait for the one listing.
    listing: tokio::sync::Mutex<Listing>,
}

impl GlueDataQuality {
    pub fn connect(c: &Connection<'_>) -> Self {
        GlueDataQuality {
            client: aws_sdk_glue::Client::from_conf(
                aws_sdk_glue::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
            listing: tokio::sync::Mutex::default(),
        }
    }

    /// The results of `ruleset` started at or after `since`, from the cycle's one listing
    /// (made by the first scan of cycle `now`, widened back to `since` if a scan needs more).
    pub async fn results(
        &self,
        ruleset: &str,
        since: Millis,
        now: Millis,
    ) -> Result<Vec<DqResult>, AwsError> {
        let mut l = self.listing.lock().await;
        if l.cycle != Some(now) {
            l.cycle = Some(now);
            l.failed = None;
            l.listed.clear();
            l.last_floor = l.floor.take().or(l.last_floor);
            let from = l.last_floor.map_or(since, |f| f.min(since));
            l.from = from;
            match self.extend(&mut l, from, None).await {
                Ok(()) => {
                    // Details of results that left the window are dropped.
                    let listed = std::mem::take(&mut l.listed);
                    l.details.retain(|id, _| listed.contains(id));
                    l.listed = listed;
                }
                Err(e) => l.failed = Some(e),
            }
        } else if l.failed.is_none() && since < l.from {
            let before = l.from;
            match self.extend(&mut l, since, Some(before)).await {
                Ok(()) => l.from = since,
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = &l.failed {
            return Err(e.clone());
        }
        l.floor = Some(l.floor.map_or(since, |f| f.min(since)));
        Ok(l.listed
            .iter()
            .filter_map(|id| l.details.get(id))
            .filter(|r| r.ruleset_name.as_deref() == Some(ruleset))
            .filter(|r| r.started_on.or(r.completed_on).is_none_or(|s| s >= since))
            .cloned()
            .collect())
    }

    /// Lists results started in `[since, before)` into `l.listed` and reads the details of
    /// those not read before.
    async fn extend(
        &self,
        l: &mut Listing,
        since: Millis,
        before: Option<Millis>,
    ) -> Result<(), AwsError> {
        let ids: HashSet<String> = aws::list_results(&self.client, &self.region, since, before)
            .await?
            .into_iter()
            .map(|d| d.result_id)
            .filter(|id| !id.is_empty())
            .collect();
        let new: Vec<String> = ids
            .iter()
            .filter(|id| !l.details.contains_key(*id))
            .cloned()
            .collect();
        // Ids Glue no longer knows (deleted since the listing) are left out.
        let (found, _gone) = aws::batch_get_results(&self.client, &self.region, &new).await?;
        for r in found.into_iter().filter(|r| ids.contains(&r.result_id)) {
            l.details.insert(r.result_id.clone(), r);
        }
        l.listed
            .extend(ids.into_iter().filter(|id| l.details.contains_key(id)));
        Ok(())
    }
}

impl Source for GlueDataQuality {
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
            let rulesets = aws::list_rulesets(&self.client, &self.region).await?;
            Ok(rulesets
                .iter()
                .filter(|r| !r.name.is_empty())
                .map(|r| pipeline(&self.account, &self.region, &r.name))
                .collect())
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
            let src = Results {
                source: self,
                ruleset: &pipeline.name,
                now: w.now,
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

/// The results of one ruleset.
pub struct Results<'a> {
    pub source: &'a GlueDataQuality,
    pub ruleset: &'a str,
    /// The cycle's `now`: which shared listing to use.
    pub now: Millis,
}

impl RunSource for Results<'_> {
    type Record = DqResult;

    async fn list(&self, since: Millis) -> Result<Vec<DqResult>, AwsError> {
        self.source.results(self.ruleset, since, self.now).await
    }
    async fn get(&self, run_id: &str) -> Result<Option<DqResult>, AwsError> {
        let s = self.source;
        let r = aws::get_result(&s.client, &s.region, run_id).await?;
        Ok(r.filter(|r| r.ruleset_name.as_deref() == Some(self.ruleset)))
    }
    fn id<'r>(&self, rec: &'r DqResult) -> &'r str {
        &rec.result_id
    }
    fn to_run(&self, rec: &DqResult) -> Option<PipelineRun> {
        convert::to_run(&self.source.account, &self.source.region, self.ruleset, rec)
    }
    /// A result's record is complete: nothing more to fetch.
    async fn details(&self, rec: &DqResult) -> Result<Option<PipelineRun>, AwsError> {
        Ok(self.to_run(rec))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_arns_use_the_region_partition() {
        assert_eq!(
            super::pipeline("1", "cn-north-1", "r").arn,
            "arn:aws-cn:glue:cn-north-1:1:dataQualityRuleset/r"
        );
        assert_eq!(
            super::pipeline("123456789012", "eu-west-1", "orders-dq").arn,
            "arn:aws:glue:eu-west-1:123456789012:dataQualityRuleset/orders-dq"
        );
    }
}
