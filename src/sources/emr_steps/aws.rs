//! EMR on EC2: clusters and their steps.

use super::records::{
    ClusterStatus, ClusterTimeline, EmrCluster, EmrStep, FailureDetails, HadoopStepConfig,
    StateChangeReason, StepStatus, StepTimeline,
};
use crate::aws::{millis, next_token, AwsError, PageCutoff};
use crate::records::Millis;
use aws_sdk_emr::types::{ClusterState, ClusterSummary, Step, StepSummary};
use aws_sdk_emr::Client;
use aws_smithy_types::DateTime;

const SERVICE: &str = "emr";

/// States of a cluster that may still run steps.
pub const ACTIVE: [&str; 5] = [
    "STARTING",
    "BOOTSTRAPPING",
    "RUNNING",
    "WAITING",
    "TERMINATING",
];
/// States of a cluster that ended.
pub const ENDED: [&str; 2] = ["TERMINATED", "TERMINATED_WITH_ERRORS"];

/// Clusters in `states`, created after `created_after` when given (`ListClusters`, 50 per
/// page, every page: the API lists in no useful order).
pub async fn list_clusters(
    client: &Client,
    region: &str,
    states: &[&str],
    created_after: Option<Millis>,
) -> Result<Vec<EmrCluster>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = client
            .list_clusters()
            .set_cluster_states(Some(
                states.iter().map(|s| ClusterState::from(*s)).collect(),
            ))
            .set_marker(marker.clone());
        if let Some(t) = created_after {
            req = req.created_after(DateTime::from_millis(t.0));
        }
        let page = req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListClusters", region, e))?;
        out.extend(page.clusters().iter().map(cluster));
        let next = next_token(page.marker());
        // A marker handed back unchanged would page forever.
        if next.is_none() || next == marker {
            return Ok(out);
        }
        marker = next;
    }
}

/// Whether an EMR error says the cluster or step is unknown (EMR answers
/// `InvalidRequestException` "Cluster id 'j-…' is not valid." rather than a NotFound code).
fn unknown(e: &AwsError) -> bool {
    if e.is_not_found() {
        return true;
    }
    let m = e.message.to_ascii_lowercase();
    e.code == "InvalidRequestException"
        && (m.contains("not valid") || m.contains("does not exist") || m.contains("not found"))
}

/// Steps of a cluster created at or after `since`, plus whatever older ones share their
/// pages (`ListSteps`, newest first on AWS: paging stops at `since`; 50 per page). A cluster
/// EMR no longer knows has no steps.
pub async fn list_steps(
    client: &Client,
    region: &str,
    cluster_id: &str,
    since: Millis,
) -> Result<Vec<EmrStep>, AwsError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    let mut stop = PageCutoff::new();
    loop {
        let page = match client
            .list_steps()
            .cluster_id(cluster_id)
            .set_marker(marker.clone())
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let e = AwsError::from_sdk(SERVICE, "ListSteps", region, e);
                return if unknown(&e) && marker.is_none() {
                    Ok(out)
                } else {
                    Err(e)
                };
            }
        };
        let steps: Vec<EmrStep> = page.steps().iter().map(step_summary).collect();
        stop.observe(
            steps
                .iter()
                .filter_map(|s| s.status.timeline.creation_date_time),
            since,
        );
        out.extend(steps);
        let next = next_token(page.marker());
        if next.is_none() || next == marker || stop.can_stop() {
            return Ok(out);
        }
        marker = next;
    }
}

/// One step by id (`DescribeStep`); `None` when the cluster or the step is unknown.
pub async fn describe_step(
    client: &Client,
    region: &str,
    cluster_id: &str,
    step_id: &str,
) -> Result<Option<EmrStep>, AwsError> {
    match client
        .describe_step()
        .cluster_id(cluster_id)
        .step_id(step_id)
        .send()
        .await
    {
        Ok(r) => Ok(r.step().map(step).filter(|s| s.id == step_id)),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "DescribeStep", region, e);
            if unknown(&e) {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// Cheapest call that proves read access: `ListClusters` of clusters created from now on
/// (an empty page).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_clusters()
        .created_after(DateTime::from_millis(Millis::now().0))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListClusters", region, e))
}

fn time(t: Option<&DateTime>) -> Option<Millis> {
    t.map(millis)
}

fn cluster(c: &ClusterSummary) -> EmrCluster {
    let status = c.status();
    let timeline = status.and_then(|s| s.timeline());
    EmrCluster {
        id: c.id().unwrap_or_default().to_string(),
        name: c.name().unwrap_or_default().to_string(),
        status: ClusterStatus {
            state: status
                .and_then(|s| s.state())
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            timeline: ClusterTimeline {
                creation_date_time: time(timeline.and_then(|t| t.creation_date_time())),
                ready_date_time: time(timeline.and_then(|t| t.ready_date_time())),
                end_date_time: time(timeline.and_then(|t| t.end_date_time())),
            },
        },
        cluster_arn: c.cluster_arn().map(str::to_string),
        normalized_instance_hours: c.normalized_instance_hours(),
    }
}

fn status(s: Option<&aws_sdk_emr::types::StepStatus>) -> StepStatus {
    let Some(s) = s else {
        return StepStatus::default();
    };
    let t = s.timeline();
    StepStatus {
        state: s
            .state()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default(),
        state_change_reason: s.state_change_reason().map(|r| StateChangeReason {
            code: r.code().map(|c| c.as_str().to_string()),
            message: r.message().map(str::to_string),
        }),
        failure_details: s.failure_details().map(|f| FailureDetails {
            reason: f.reason().map(str::to_string),
            message: f.message().map(str::to_string),
            log_file: f.log_file().map(str::to_string),
        }),
        timeline: StepTimeline {
            creation_date_time: time(t.and_then(|t| t.creation_date_time())),
            start_date_time: time(t.and_then(|t| t.start_date_time())),
            end_date_time: time(t.and_then(|t| t.end_date_time())),
        },
    }
}

/// What the step runs, without its `Properties` (free text, not read) and with its arguments
/// kept only for the conversion to count them and read the first.
fn config(c: Option<&aws_sdk_emr::types::HadoopStepConfig>) -> Option<HadoopStepConfig> {
    c.map(|c| HadoopStepConfig {
        jar: c.jar().map(str::to_string),
        main_class: c.main_class().map(str::to_string),
        args: c.args().to_vec(),
        properties: Default::default(),
    })
}

fn step_summary(s: &StepSummary) -> EmrStep {
    EmrStep {
        id: s.id().unwrap_or_default().to_string(),
        name: s.name().map(str::to_string),
        config: config(s.config()),
        action_on_failure: s.action_on_failure().map(|a| a.as_str().to_string()),
        status: status(s.status()),
        execution_role_arn: None,
        log_uri: s.log_uri().map(str::to_string),
    }
}

fn step(s: &Step) -> EmrStep {
    EmrStep {
        id: s.id().unwrap_or_default().to_string(),
        name: s.name().map(str::to_string),
        config: config(s.config()),
        action_on_failure: s.action_on_failure().map(|a| a.as_str().to_string()),
        status: status(s.status()),
        execution_role_arn: s.execution_role_arn().map(str::to_string),
        log_uri: s.log_uri().map(str::to_string),
    }
}
