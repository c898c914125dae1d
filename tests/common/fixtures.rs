//! The conversion fixtures' shapes (`tests/fixtures/{sfn,glue}/*.json`): AWS answers as the
//! APIs send them.

use pipeline_otel_bridge::sources::glue_job::records::GlueJobRun;
use pipeline_otel_bridge::sources::sfn::records::{HistoryEvent, SfnExecution};
use serde::Deserialize;

/// A Step Functions execution (`DescribeExecution`) and its `GetExecutionHistory` events.
#[derive(Deserialize)]
pub struct SfnFixture {
    pub execution: SfnExecution,
    pub events: Vec<HistoryEvent>,
}

/// A `GetJobRuns` answer.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlueFixture {
    pub job_runs: Vec<GlueJobRun>,
}

/// The text of every fixture under `tests/fixtures/{dir}`, in name order.
pub fn texts(dir: &str) -> Vec<String> {
    let dir = super::repo().join("tests/fixtures").join(dir);
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}
