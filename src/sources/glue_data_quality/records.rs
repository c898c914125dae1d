//! Glue Data Quality records in their wire shape (`ListDataQualityRulesets`,
//! `ListDataQualityResults`, `BatchGetDataQualityResult`, `GetDataQualityResult`: PascalCase
//! JSON, epoch-second timestamps).

use crate::records::Millis;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A ruleset (`ListDataQualityRulesets` → `DataQualityRulesetListDetails`), the fields the
/// bridge uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqRuleset {
    pub name: String,
    /// The table the ruleset was written for, when it names one.
    pub target_table: Option<DqTable>,
    pub rule_count: Option<i64>,
}

/// A Data Catalog table (`GlueTable`, `DataQualityGlueTable`, `DataQualityTargetTable`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqTable {
    pub database_name: String,
    pub table_name: String,
    pub catalog_id: Option<String>,
}

/// The data a result was evaluated on (`DataSource`): a Glue table, in one of two shapes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqDataSource {
    pub glue_table: Option<DqTable>,
    pub data_quality_glue_table: Option<DqTable>,
}

impl DqDataSource {
    /// The table, whichever shape names it (`GlueTable` first).
    pub fn table(&self) -> Option<&DqTable> {
        self.glue_table
            .as_ref()
            .or(self.data_quality_glue_table.as_ref())
    }
}

/// One entry of a `ListDataQualityResults` answer (`DataQualityResultDescription`): no
/// ruleset, no rules; the details come from `BatchGetDataQualityResult`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqResultDescription {
    pub result_id: String,
    pub data_source: Option<DqDataSource>,
    pub job_name: Option<String>,
    pub job_run_id: Option<String>,
    pub started_on: Option<Millis>,
}

/// One ruleset evaluation result (`DataQualityResult`, as `BatchGetDataQualityResult` and
/// `GetDataQualityResult` return it). A result exists only once its evaluation completed.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqResult {
    pub result_id: String,
    /// Rules passed / rules evaluated, 0 to 1.
    pub score: Option<f64>,
    pub data_source: Option<DqDataSource>,
    pub ruleset_name: Option<String>,
    /// The evaluation's node in a Glue Studio job (several evaluations in one job differ by
    /// it), or what the caller named it.
    pub evaluation_context: Option<String>,
    pub started_on: Option<Millis>,
    pub completed_on: Option<Millis>,
    /// Set when a Glue job run evaluated the ruleset (`EvaluateDataQuality` in its script).
    pub job_name: Option<String>,
    pub job_run_id: Option<String>,
    /// Set when a ruleset evaluation run (`StartDataQualityRulesetEvaluationRun`) evaluated it.
    pub ruleset_evaluation_run_id: Option<String>,
    pub rule_results: Vec<DqRuleResult>,
    pub analyzer_results: Vec<DqAnalyzerResult>,
    pub observations: Vec<DqObservation>,
}

impl DqResult {
    /// The table evaluated, if the result names one.
    pub fn table(&self) -> Option<&DqTable> {
        self.data_source.as_ref().and_then(DqDataSource::table)
    }
}

/// One rule's outcome (`DataQualityRuleResult`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqRuleResult {
    /// `Rule_1`, `Rule_2`, … by position in the ruleset.
    pub name: String,
    /// The rule in DQDL (`IsComplete "order_id"`).
    pub description: Option<String>,
    /// Why it did not pass (absent for most passing rules).
    pub evaluation_message: Option<String>,
    /// `PASS`, `FAIL` or `ERROR`.
    pub result: Option<String>,
    /// What was measured (`Column.order_id.Completeness` → 0.98).
    pub evaluated_metrics: BTreeMap<String, f64>,
}

/// One analyzer's output (`DataQualityAnalyzerResult`): statistics, no verdict.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqAnalyzerResult {
    pub name: String,
    pub description: Option<String>,
}

/// An anomaly-detection finding (`DataQualityObservation`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DqObservation {
    pub description: Option<String>,
}
