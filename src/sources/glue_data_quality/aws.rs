//! AWS Glue Data Quality: rulesets and their evaluation results.

use super::records::{
    DqAnalyzerResult, DqDataSource, DqObservation, DqResult, DqResultDescription, DqRuleResult,
    DqRuleset, DqTable,
};
use crate::aws::{millis, next_token, AwsError};
use crate::records::Millis;
use aws_sdk_glue::types::{
    DataQualityResultFilterCriteria, DataQualityRuleResult, DataQualityRulesetListDetails,
    DataSource,
};
use aws_sdk_glue::Client;
use aws_smithy_types::DateTime;

const SERVICE: &str = "glue";

/// A `DataQualityResult` or a `GetDataQualityResultOutput` (the same fields, two types) as a
/// [`DqResult`].
macro_rules! result {
    ($r:expr) => {{
        let r = &$r;
        DqResult {
            result_id: r.result_id().unwrap_or_default().to_string(),
            score: r.score(),
            data_source: r.data_source().map(data_source),
            ruleset_name: r.ruleset_name().map(str::to_string),
            evaluation_context: r.evaluation_context().map(str::to_string),
            started_on: r.started_on().map(millis),
            completed_on: r.completed_on().map(millis),
            job_name: r.job_name().map(str::to_string),
            job_run_id: r.job_run_id().map(str::to_string),
            ruleset_evaluation_run_id: r.ruleset_evaluation_run_id().map(str::to_string),
            rule_results: r.rule_results().iter().map(rule).collect(),
            analyzer_results: r
                .analyzer_results()
                .iter()
                .map(|a| DqAnalyzerResult {
                    name: a.name().unwrap_or_default().to_string(),
                    description: a.description().map(str::to_string),
                })
                .collect(),
            observations: r
                .observations()
                .iter()
                .map(|o| DqObservation {
                    description: o.description().map(str::to_string),
                })
                .collect(),
        }
    }};
}

/// Rulesets and results per listing page: the documented maximum of both APIs.
pub const PAGE_SIZE: i32 = 1000;

/// Result ids per `BatchGetDataQualityResult`: the documented maximum.
pub const BATCH_SIZE: usize = 100;

/// Every ruleset (`ListDataQualityRulesets`, 1000 per page).
pub async fn list_rulesets(client: &Client, region: &str) -> Result<Vec<DqRuleset>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_data_quality_rulesets()
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListDataQualityRulesets", region, e))?;
        out.extend(page.rulesets().iter().map(ruleset));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Results of every ruleset started at or after `since` and, with `before`, before it
/// (`ListDataQualityResults` filtered on `StartedAfter`/`StartedBefore`, every page: the filter
/// bounds them). The filter cannot name a ruleset: one listing serves all rulesets.
pub async fn list_results(
    client: &Client,
    region: &str,
    since: Millis,
    before: Option<Millis>,
) -> Result<Vec<DqResultDescription>, AwsError> {
    // `StartedAfter` may be exclusive: a millisecond earlier takes a result started at `since`.
    let filter = DataQualityResultFilterCriteria::builder()
        .started_after(DateTime::from_millis(since.0.saturating_sub(1)))
        .set_started_before(before.map(|b| DateTime::from_millis(b.0.saturating_add(1))))
        .build();
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_data_quality_results()
            .filter(filter.clone())
            .max_results(PAGE_SIZE)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListDataQualityResults", region, e))?;
        out.extend(page.results().iter().map(|d| DqResultDescription {
            result_id: d.result_id().unwrap_or_default().to_string(),
            data_source: d.data_source().map(data_source),
            job_name: d.job_name().map(str::to_string),
            job_run_id: d.job_run_id().map(str::to_string),
            started_on: d.started_on().map(millis),
        }));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The results of `ids` (`BatchGetDataQualityResult`, 100 ids per call), and the ids Glue
/// no longer knows (`ResultsNotFound`).
pub async fn batch_get_results(
    client: &Client,
    region: &str,
    ids: &[String],
) -> Result<(Vec<DqResult>, Vec<String>), AwsError> {
    let (mut found, mut missing) = (Vec::new(), Vec::new());
    for chunk in ids.chunks(BATCH_SIZE) {
        let out = client
            .batch_get_data_quality_result()
            .set_result_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "BatchGetDataQualityResult", region, e))?;
        found.extend(out.results().iter().map(|r| result!(r)));
        missing.extend(out.results_not_found().iter().cloned());
    }
    Ok((found, missing))
}

/// One result by id (`GetDataQualityResult`); `None` when Glue no longer knows it.
pub async fn get_result(
    client: &Client,
    region: &str,
    id: &str,
) -> Result<Option<DqResult>, AwsError> {
    match client.get_data_quality_result().result_id(id).send().await {
        // The id is compared again: an answer about another result is not this one.
        Ok(r) => Ok(Some(result!(r)).filter(|r: &DqResult| r.result_id == id)),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "GetDataQualityResult", region, e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Cheapest call that proves read access (`ListDataQualityRulesets`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_data_quality_rulesets()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListDataQualityRulesets", region, e))
}

fn ruleset(r: &DataQualityRulesetListDetails) -> DqRuleset {
    DqRuleset {
        name: r.name().unwrap_or_default().to_string(),
        target_table: r.target_table().map(|t| DqTable {
            database_name: t.database_name().to_string(),
            table_name: t.table_name().to_string(),
            catalog_id: t.catalog_id().map(str::to_string),
        }),
        rule_count: r.rule_count().map(i64::from),
    }
}

fn data_source(d: &DataSource) -> DqDataSource {
    DqDataSource {
        glue_table: d.glue_table().map(|t| DqTable {
            database_name: t.database_name().to_string(),
            table_name: t.table_name().to_string(),
            catalog_id: t.catalog_id().map(str::to_string),
        }),
        data_quality_glue_table: d.data_quality_glue_table().map(|t| DqTable {
            database_name: t.database_name().to_string(),
            table_name: t.table_name().to_string(),
            catalog_id: t.catalog_id().map(str::to_string),
        }),
    }
}

fn rule(r: &DataQualityRuleResult) -> DqRuleResult {
    DqRuleResult {
        name: r.name().unwrap_or_default().to_string(),
        description: r.description().map(str::to_string),
        evaluation_message: r.evaluation_message().map(str::to_string),
        result: r.result().map(|s| s.as_str().to_string()),
        evaluated_metrics: r
            .evaluated_metrics()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
    }
}
