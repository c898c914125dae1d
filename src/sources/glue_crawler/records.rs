//! Glue crawler records in their wire shape (`GetCrawlers`, `ListCrawls`, PascalCase JSON).

use crate::records::Millis;
use serde::Deserialize;

/// A crawler definition (`GetCrawlers`), the fields the bridge uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueCrawler {
    pub name: String,
    /// The Data Catalog database the crawler writes to.
    pub database_name: Option<String>,
}

/// One crawl of a crawler (`ListCrawls` → `CrawlerHistory`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueCrawl {
    pub crawl_id: String,
    /// `RUNNING`, `COMPLETED`, `FAILED` or `STOPPED`.
    pub state: String,
    pub start_time: Option<Millis>,
    pub end_time: Option<Millis>,
    /// The catalog changes of the crawl, as a JSON document in a string (see
    /// [`super::convert::CatalogChanges::parse`]).
    pub summary: Option<String>,
    pub error_message: Option<String>,
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    /// Prefix of this crawl's lines in the crawler's log stream (the crawl id).
    pub message_prefix: Option<String>,
    #[serde(rename = "DPUHour")]
    pub dpu_hour: Option<f64>,
}
