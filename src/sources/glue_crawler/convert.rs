//! Glue crawls → [`PipelineRun`].

use super::records::{GlueCrawl, GlueCrawler};
use super::{
    ATTR_CRAWL_STATE, ATTR_DATABASE_NAME, ATTR_DPU_HOURS, ATTR_LOG_GROUP, ATTR_LOG_STREAM,
    ATTR_LOG_URL, ATTR_MESSAGE_PREFIX, ATTR_PARTITIONS_ADDED, ATTR_PARTITIONS_DELETED,
    ATTR_PARTITIONS_UPDATED, ATTR_TABLES_ADDED, ATTR_TABLES_DELETED, ATTR_TABLES_UPDATED,
    CATALOG_CHANGES, DPU_USAGE, LABEL_CHANGE, LABEL_OBJECT,
};
use crate::convert::{console_host, error_type_from_message, urlencode};
use crate::model::{
    truncate_message, Attr, Measure, MeasureKind, PipelineRun, RunError, RunPhase, RunResult,
    RunStatus, MAX_MESSAGE_BYTES,
};
use crate::records::Millis;
use serde_json::Value;

/// Maps a crawl's `State` (`CrawlerHistoryState`) to where the run stands.
///
/// The API documents `RUNNING`, `COMPLETED`, `FAILED` and `STOPPED`. Any other state is
/// treated as in flight, so the crawl is re-read until it reaches a state the bridge knows
/// instead of being exported with a guessed result.
pub fn status(state: &str) -> RunStatus {
    match state {
        "COMPLETED" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "STOPPED" => RunStatus::Ended(RunResult::Cancellation),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// Catalog objects added, updated and deleted by a crawl.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// What a crawl changed in the Data Catalog, from its `Summary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CatalogChanges {
    pub tables: Changes,
    pub partitions: Changes,
}

impl CatalogChanges {
    /// Reads a crawl's `Summary`: a JSON object by object type (`TABLE`, `PARTITION`), each an
    /// object by change (`ADD`, `UPDATE`, `DELETE`) whose value is itself a JSON document **in
    /// a string**, `{"Details": {…}, "Count": n}`:
    ///
    /// ```text
    /// {"TABLE":{"ADD":"{\"Details\":{\"names\":[\"orders\"]},\"Count\":1}"},"PARTITION":{…}}
    /// ```
    ///
    /// No summary means nothing changed (all zero). A summary that is not such an object gives
    /// `None` (unknown, not zero). Read defensively: an inner value may also be an object, a
    /// count a numeric string; keys are compared case-insensitively; unknown object types and
    /// changes, and counts that are not non-negative integers, are left out.
    pub fn parse(summary: Option<&str>) -> Option<CatalogChanges> {
        let Some(text) = summary.map(str::trim).filter(|s| !s.is_empty()) else {
            return Some(CatalogChanges::default());
        };
        let Value::Object(top) = serde_json::from_str::<Value>(text).ok()? else {
            return None;
        };
        let mut out = CatalogChanges::default();
        for (object, changes) in &top {
            let target = match object.to_ascii_uppercase().as_str() {
                "TABLE" => &mut out.tables,
                "PARTITION" => &mut out.partitions,
                _ => continue,
            };
            let Value::Object(changes) = changes else {
                continue;
            };
            for (change, detail) in changes {
                let slot = match change.to_ascii_uppercase().as_str() {
                    "ADD" => &mut target.added,
                    "UPDATE" => &mut target.updated,
                    "DELETE" => &mut target.deleted,
                    _ => continue,
                };
                if let Some(n) = count(detail) {
                    *slot = slot.saturating_add(n);
                }
            }
        }
        Some(out)
    }
}

/// `Count` of one change: `{"Count": n}`, as an object or a JSON string of one.
fn count(detail: &Value) -> Option<u64> {
    let parsed;
    let obj = match detail {
        Value::Object(o) => o,
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_object()?
        }
        _ => return None,
    };
    let n = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Count"))
        .map(|(_, v)| v)?;
    let n = match n {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    // Bad data must not stick in a cumulative counter: no crawl changes a billion objects.
    n.filter(|n| *n <= MAX_CHANGES)
}

/// Most tables or partitions one crawl is taken to add, update or delete; a larger count is
/// bad data and left out (it would stay in a cumulative counter forever).
pub const MAX_CHANGES: u64 = 1_000_000_000;
/// Most DPU-hours one crawl is taken to use (a crawl is stopped after 24 hours of its DPUs).
pub const MAX_DPU_HOURS: f64 = 100_000.0;

/// The CloudWatch console's page of a crawl's log lines: the crawler's stream in its group,
/// filtered on the crawl's message prefix (all crawls of a crawler share one stream), from the
/// crawl's start to a minute after its end.
///
/// The console takes the log group, the stream and the stream's query string URL-encoded
/// twice, with `$` in place of `%` (`/aws-glue/crawlers` → `$252Faws-glue$252Fcrawlers`).
pub fn log_url(
    region: &str,
    group: &str,
    stream: &str,
    prefix: Option<&str>,
    start: Millis,
    end: Option<Millis>,
) -> String {
    let cw = |s: &str| urlencode(s).replace('%', "$");
    let mut query = String::new();
    if let Some(p) = prefix.filter(|p| !p.is_empty()) {
        query.push_str(&format!(
            "filterPattern={}&",
            urlencode(&format!("\"{p}\""))
        ));
    }
    let end = end.unwrap_or(start).max(start);
    query.push_str(&format!(
        "start={}&end={}",
        start.0,
        end.0.saturating_add(60_000)
    ));
    format!(
        "https://{}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}/log-events/{}{}",
        console_host(region),
        cw(&urlencode(group)),
        cw(&urlencode(stream)),
        cw(&format!("?{query}")),
    )
}

/// The crawler's page in the Glue console (its crawls are listed there).
pub fn crawler_url(region: &str, crawler: &str) -> String {
    format!(
        "https://{}/glue/home?region={region}#/v2/data-catalog/crawlers/view/{}",
        console_host(region),
        urlencode(crawler)
    )
}

/// Converts one crawl of `crawler_name`; `crawler` (its definition) adds its database.
/// Returns `None` for a crawl without an id or any timestamp, which cannot be identified or
/// placed in time.
pub fn to_run(
    account: &str,
    region: &str,
    crawler_name: &str,
    crawler: Option<&GlueCrawler>,
    crawl: &GlueCrawl,
) -> Option<PipelineRun> {
    if crawl.crawl_id.is_empty() {
        return None;
    }
    let start = crawl.start_time.or(crawl.end_time)?;
    let status = status(&crawl.state);
    let ended = matches!(status, RunStatus::Ended(_));
    // A crawl that ended without EndTime ends at its start; an end before the start is clamped
    // (zero-length span).
    let end = ended.then(|| crawl.end_time.unwrap_or(start).max(start));
    let error = match status {
        RunStatus::Ended(r) if r.is_error() => {
            let message = crawl.error_message.as_deref().unwrap_or_default();
            Some(RunError {
                error_type: error_type_from_message(message)
                    .unwrap_or_else(|| state_or_other(&crawl.state)),
                message: truncate_message(message, MAX_MESSAGE_BYTES),
            })
        }
        _ => None,
    };
    let dpu_hours = crawl
        .dpu_hour
        .filter(|d| d.is_finite() && (0.0..=MAX_DPU_HOURS).contains(d));
    let changes = CatalogChanges::parse(crawl.summary.as_deref());

    let mut attributes = vec![Attr::str(ATTR_CRAWL_STATE, crawl.state.clone())];
    // Empty strings say nothing: left out.
    let opt_str = |key, v: Option<&String>| {
        v.filter(|v| !v.is_empty())
            .map(|v| Attr::str(key, v.clone()))
    };
    attributes.extend(opt_str(
        ATTR_DATABASE_NAME,
        crawler.and_then(|c| c.database_name.as_ref()),
    ));
    attributes.extend(dpu_hours.map(|d| Attr::f64(ATTR_DPU_HOURS, d)));
    if let (true, Some(c)) = (ended, changes) {
        let int = |key, n: u64| Attr::int(key, i64::try_from(n).unwrap_or(i64::MAX));
        attributes.extend([
            int(ATTR_TABLES_ADDED, c.tables.added),
            int(ATTR_TABLES_UPDATED, c.tables.updated),
            int(ATTR_TABLES_DELETED, c.tables.deleted),
            int(ATTR_PARTITIONS_ADDED, c.partitions.added),
            int(ATTR_PARTITIONS_UPDATED, c.partitions.updated),
            int(ATTR_PARTITIONS_DELETED, c.partitions.deleted),
        ]);
    }
    attributes.extend(opt_str(ATTR_LOG_GROUP, crawl.log_group.as_ref()));
    attributes.extend(opt_str(ATTR_LOG_STREAM, crawl.log_stream.as_ref()));
    attributes.extend(opt_str(ATTR_MESSAGE_PREFIX, crawl.message_prefix.as_ref()));
    if let (Some(g), Some(s)) = (
        crawl.log_group.as_deref().filter(|g| !g.is_empty()),
        crawl.log_stream.as_deref().filter(|s| !s.is_empty()),
    ) {
        attributes.push(Attr::str(
            ATTR_LOG_URL,
            log_url(region, g, s, crawl.message_prefix.as_deref(), start, end),
        ));
    }

    let mut measures = Vec::new();
    if ended {
        measures.extend(dpu_hours.map(|d| Measure {
            metric: &DPU_USAGE,
            kind: MeasureKind::Sum,
            value: d,
            labels: Vec::new(),
        }));
        if let Some(c) = changes {
            for (object, ch) in [("table", c.tables), ("partition", c.partitions)] {
                for (change, n) in [
                    ("added", ch.added),
                    ("updated", ch.updated),
                    ("deleted", ch.deleted),
                ] {
                    measures.push(Measure {
                        metric: &CATALOG_CHANGES,
                        kind: MeasureKind::Sum,
                        value: n as f64,
                        labels: vec![
                            (LABEL_OBJECT, object.to_string()),
                            (LABEL_CHANGE, change.to_string()),
                        ],
                    });
                }
            }
        }
    }

    Some(PipelineRun {
        pipeline: super::pipeline(account, region, crawler_name),
        run_id: crawl.crawl_id.clone(),
        attempt: 0,
        previous_run_id: None,
        aws_state: crawl.state.clone(),
        status,
        start,
        end,
        error,
        will_retry: false,
        dpu_seconds: None,
        url: Some(crawler_url(region, crawler_name)),
        sla_secs: None,
        queued_until: None,
        parent: None,
        links: Vec::new(),
        measures,
        attributes,
        tasks: Vec::new(),
    })
}

fn state_or_other(state: &str) -> String {
    if state.is_empty() {
        "_OTHER".to_string()
    } else {
        state.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states() {
        assert_eq!(status("COMPLETED"), RunStatus::Ended(RunResult::Success));
        assert_eq!(status("FAILED"), RunStatus::Ended(RunResult::Failure));
        assert_eq!(status("STOPPED"), RunStatus::Ended(RunResult::Cancellation));
        for s in ["RUNNING", "", "SOMETHING_NEW", "completed"] {
            assert_eq!(status(s), RunStatus::InFlight(RunPhase::Executing), "{s}");
        }
    }

    #[test]
    fn summaries() {
        let aws = r#"{"TABLE":{"ADD":"{\"Details\":{\"names\":[\"orders\"]},\"Count\":1}","UPDATE":"{\"Details\":{\"names\":[\"a\",\"b\"]},\"Count\":2}"},"PARTITION":{"ADD":"{\"Details\":{\"orders\":[\"dt=2024-10-01\"]},\"Count\":24}","DELETE":"{\"Count\":3}"}}"#;
        assert_eq!(
            CatalogChanges::parse(Some(aws)),
            Some(CatalogChanges {
                tables: Changes {
                    added: 1,
                    updated: 2,
                    deleted: 0
                },
                partitions: Changes {
                    added: 24,
                    updated: 0,
                    deleted: 3
                },
            })
        );
        let objects = r#"{"table":{"add":{"Count":"4"}},"PARTITION":{"UPDATE":{"count":5.0}}}"#;
        let c = CatalogChanges::parse(Some(objects)).unwrap();
        assert_eq!((c.tables.added, c.partitions.updated), (4, 5));
        assert_eq!(CatalogChanges::parse(None), Some(CatalogChanges::default()));
        assert_eq!(
            CatalogChanges::parse(Some("  ")),
            Some(CatalogChanges::default())
        );
        for bad in ["not json", "[1,2]", "\"TABLE\"", "{\"TABLE\":"] {
            assert_eq!(CatalogChanges::parse(Some(bad)), None, "{bad}");
        }
        // Odd parts are left out, the rest stands.
        let odd = r#"{"TABLE":{"ADD":"{\"Count\":-1}","UPDATE":"nope","DELETE":{"Count":1.5},"DEPRECATE":"{\"Count\":9}"},"PARTITION":[],"VIEW":{"ADD":"{\"Count\":7}"},"X":{"ADD":{"Count":18446744073709551615}}}"#;
        assert_eq!(
            CatalogChanges::parse(Some(odd)),
            Some(CatalogChanges::default())
        );
    }

    #[test]
    fn log_links_encode_the_console_way() {
        let u = log_url(
            "eu-west-1",
            "/aws-glue/crawlers",
            "orders crawler",
            Some("0f1e2d3c-aaaa"),
            Millis(1_000),
            Some(Millis(5_000)),
        );
        assert_eq!(
            u,
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1\
             #logsV2:log-groups/log-group/$252Faws-glue$252Fcrawlers/log-events/orders$2520crawler\
             $3FfilterPattern$3D$25220f1e2d3c-aaaa$2522$26start$3D1000$26end$3D65000"
        );
        // No prefix, an end before the start: the range starts at the start.
        let u = log_url("cn-north-1", "g", "s", None, Millis(9_000), Some(Millis(1)));
        assert!(u.starts_with("https://cn-north-1.console.amazonaws.cn/cloudwatch/"));
        assert!(u.ends_with("/log-group/g/log-events/s$3Fstart$3D9000$26end$3D69000"));
    }
}
