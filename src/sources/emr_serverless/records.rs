//! EMR Serverless records in their wire shape (`ListApplications`, `ListJobRuns`, `GetJobRun`:
//! camelCase JSON, epoch-second timestamps).

use crate::records::Millis;
use serde::Deserialize;

/// An application (`ListApplications` item).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmrApplication {
    pub id: String,
    /// Optional in the API; the bridge names a nameless application by its id.
    pub name: Option<String>,
    pub arn: String,
    pub release_label: String,
    /// `Spark`, `Hive`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// `CREATING`, `CREATED`, `STARTING`, `STARTED`, `STOPPING`, `STOPPED`, `TERMINATED`.
    pub state: String,
}

impl EmrApplication {
    /// The pipeline name: the application's name, else its id.
    pub fn pipeline_name(&self) -> &str {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => &self.id,
        }
    }
}

/// vCPU, memory and storage hours (`totalResourceUtilization`, `billedResourceUtilization`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Utilization {
    #[serde(rename = "vCPUHour")]
    pub vcpu_hour: Option<f64>,
    #[serde(rename = "memoryGBHour")]
    pub memory_gb_hour: Option<f64>,
    #[serde(rename = "storageGBHour")]
    pub storage_gb_hour: Option<f64>,
}

/// A job run: a `ListJobRuns` item (`JobRunSummary`: no start, end or utilization) or a
/// `GetJobRun` answer's `jobRun` (all of it). The summary calls the run id `id`, the full
/// record `jobRunId`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EmrJobRun {
    pub application_id: String,
    #[serde(alias = "id")]
    pub job_run_id: String,
    pub name: Option<String>,
    pub arn: String,
    pub created_by: Option<String>,
    /// Submission time (the run's start in the bridge).
    pub created_at: Option<Millis>,
    pub updated_at: Option<Millis>,
    pub execution_role: Option<String>,
    /// `SUBMITTED`, `PENDING`, `SCHEDULED`, `QUEUED`, `RUNNING`, `SUCCESS`, `FAILED`,
    /// `CANCELLING`, `CANCELLED`.
    pub state: String,
    pub state_details: Option<String>,
    pub release_label: Option<String>,
    /// `BATCH` or `STREAMING`.
    pub mode: Option<String>,
    /// 1 for the first attempt (a retry policy may run more).
    pub attempt: Option<i32>,
    pub attempt_created_at: Option<Millis>,
    pub attempt_updated_at: Option<Millis>,
    /// When the run entered `RUNNING` (GetJobRun only).
    pub started_at: Option<Millis>,
    /// When it ended (GetJobRun only).
    pub ended_at: Option<Millis>,
    /// Time spent `QUEUED` (GetJobRun only).
    pub queued_duration_milliseconds: Option<i64>,
    /// GetJobRun only, once the run ended.
    pub total_execution_duration_seconds: Option<i32>,
    pub execution_timeout_minutes: Option<i64>,
    pub total_resource_utilization: Option<Utilization>,
    pub billed_resource_utilization: Option<Utilization>,
}
