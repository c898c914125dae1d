//! AWS Glue: crawler definitions and their crawls.

use super::records::{GlueCrawl, GlueCrawler};
use crate::aws::{millis, next_token, AwsError};
use crate::records::Millis;
use aws_sdk_glue::types::{Crawler, CrawlerHistory, CrawlsFilter, FieldName, FilterOperator};
use aws_sdk_glue::Client;

const SERVICE: &str = "glue";

/// Crawls per `ListCrawls` page: the documented maximum.
pub const CRAWLS_PER_PAGE: i32 = 100;

/// Every crawler definition (`GetCrawlers`, 1000 per page).
pub async fn list_crawlers(client: &Client, region: &str) -> Result<Vec<GlueCrawler>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_crawlers()
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetCrawlers", region, e))?;
        out.extend(page.crawlers().iter().map(crawler));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The `ListCrawls` filter of crawls started at or after `since`: AWS compares `START_TIME`
/// with epoch milliseconds (`CrawlsFilter` reference).
pub fn started_since(since: Millis) -> CrawlsFilter {
    CrawlsFilter::builder()
        .field_name(FieldName::StartTime)
        .filter_operator(FilterOperator::Ge)
        .field_value(since.0.max(0).to_string())
        .build()
}

/// Crawls of a crawler started at or after `since` (every page: the filter bounds them). A
/// crawler deleted since discovery has no crawls.
pub async fn list_crawls(
    client: &Client,
    region: &str,
    crawler: &str,
    since: Millis,
) -> Result<Vec<GlueCrawl>, AwsError> {
    match crawls(client, region, crawler, started_since(since)).await {
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        other => other,
    }
}

/// One crawl by id (`ListCrawls` filtered on `CRAWL_ID`); `None` when Glue no longer knows it
/// or its crawler.
pub async fn get_crawl(
    client: &Client,
    region: &str,
    crawler: &str,
    crawl_id: &str,
) -> Result<Option<GlueCrawl>, AwsError> {
    let filter = CrawlsFilter::builder()
        .field_name(FieldName::CrawlId)
        .filter_operator(FilterOperator::Eq)
        .field_value(crawl_id)
        .build();
    match crawls(client, region, crawler, filter).await {
        // The id is compared again: an API that ignored the filter must not hand back
        // another crawl under this id.
        Ok(list) => Ok(list.into_iter().find(|c| c.crawl_id == crawl_id)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

async fn crawls(
    client: &Client,
    region: &str,
    crawler: &str,
    filter: CrawlsFilter,
) -> Result<Vec<GlueCrawl>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_crawls()
            .crawler_name(crawler)
            .filters(filter.clone())
            .max_results(CRAWLS_PER_PAGE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListCrawls", region, e))?;
        out.extend(page.crawls().iter().map(crawl));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Cheapest call that proves read access (`ListCrawlers`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_crawlers()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListCrawlers", region, e))
}

fn crawler(c: &Crawler) -> GlueCrawler {
    GlueCrawler {
        name: c.name().unwrap_or_default().to_string(),
        database_name: c.database_name().map(str::to_string),
    }
}

fn crawl(c: &CrawlerHistory) -> GlueCrawl {
    GlueCrawl {
        crawl_id: c.crawl_id().unwrap_or_default().to_string(),
        state: c
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        start_time: c.start_time().map(millis),
        end_time: c.end_time().map(millis),
        summary: c.summary().map(str::to_string),
        error_message: c.error_message().map(str::to_string),
        log_group: c.log_group().map(str::to_string),
        log_stream: c.log_stream().map(str::to_string),
        message_prefix: c.message_prefix().map(str::to_string),
        dpu_hour: Some(c.dpu_hour()),
    }
}
