//! EMR on EC2 records in their wire shape (`ListClusters`, `ListSteps`, `DescribeStep`:
//! PascalCase JSON, timestamps as epoch seconds).

use crate::records::Millis;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A cluster (`ListClusters` → `Clusters[]`, a `ClusterSummary`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EmrCluster {
    /// `j-…`.
    pub id: String,
    /// Not unique: transient clusters of one job share it.
    pub name: String,
    pub status: ClusterStatus,
    pub cluster_arn: Option<String>,
    pub normalized_instance_hours: Option<i32>,
}

impl EmrCluster {
    /// The pipeline name: the cluster's name, else its id.
    pub fn pipeline_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }

    /// Whether the cluster ended (`TERMINATED`, `TERMINATED_WITH_ERRORS`): no step can be added
    /// to it any more.
    pub fn is_terminated(&self) -> bool {
        matches!(
            self.status.state.as_str(),
            "TERMINATED" | "TERMINATED_WITH_ERRORS"
        )
    }
}

/// `ClusterStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClusterStatus {
    /// `STARTING`, `BOOTSTRAPPING`, `RUNNING`, `WAITING`, `TERMINATING`, `TERMINATED`,
    /// `TERMINATED_WITH_ERRORS`.
    pub state: String,
    pub timeline: ClusterTimeline,
}

/// `ClusterTimeline`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClusterTimeline {
    pub creation_date_time: Option<Millis>,
    pub ready_date_time: Option<Millis>,
    pub end_date_time: Option<Millis>,
}

/// A step: a `ListSteps` item (`StepSummary`) or a `DescribeStep` answer's `Step`. Both carry
/// the whole status (state, timeline, failure details); `DescribeStep` adds the execution role.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EmrStep {
    /// `s-…`.
    pub id: String,
    pub name: Option<String>,
    pub config: Option<HadoopStepConfig>,
    /// `TERMINATE_JOB_FLOW`, `TERMINATE_CLUSTER`, `CANCEL_AND_WAIT`, `CONTINUE`.
    pub action_on_failure: Option<String>,
    pub status: StepStatus,
    pub execution_role_arn: Option<String>,
    pub log_uri: Option<String>,
}

/// `HadoopStepConfig`: what the step runs. `Args` may hold secrets: the bridge reads only
/// the first one, and only when it looks like a command name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HadoopStepConfig {
    pub jar: Option<String>,
    pub main_class: Option<String>,
    pub args: Vec<String>,
    pub properties: BTreeMap<String, String>,
}

/// `StepStatus`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StepStatus {
    /// `PENDING`, `CANCEL_PENDING`, `RUNNING`, `COMPLETED`, `CANCELLED`, `FAILED`,
    /// `INTERRUPTED`.
    pub state: String,
    pub state_change_reason: Option<StateChangeReason>,
    pub failure_details: Option<FailureDetails>,
    pub timeline: StepTimeline,
}

/// `StepStateChangeReason`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StateChangeReason {
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `FailureDetails` of a failed step (EMR's own reading of the step's logs).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct FailureDetails {
    pub reason: Option<String>,
    pub message: Option<String>,
    /// The log file (S3 path) in which EMR found the failure.
    pub log_file: Option<String>,
}

/// `StepTimeline`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct StepTimeline {
    /// Submission (the run's start in the bridge).
    pub creation_date_time: Option<Millis>,
    /// When the step began running (the end of its queue span).
    pub start_date_time: Option<Millis>,
    pub end_date_time: Option<Millis>,
}
