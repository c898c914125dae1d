//! EMR steps → [`PipelineRun`].
//!
//! A step is one trace: its start is the submission (`CreationDateTime`), its time to
//! `StartDateTime` (waiting behind the cluster's other steps, or for the cluster to be ready)
//! is the queue span, its end is `EndDateTime`. Its cluster is in attributes and in
//! `cloud.resource_id`; of what it runs only the jar and a first argument that is a plain
//! command name are kept (arguments may hold secrets).

use super::records::{EmrCluster, EmrStep};
use super::{
    ATTR_ACTION_ON_FAILURE, ATTR_ARGS_COUNT, ATTR_CLUSTER_ID, ATTR_CLUSTER_NAME, ATTR_COMMAND,
    ATTR_FAILURE_LOG_FILE, ATTR_FAILURE_REASON, ATTR_JAR, ATTR_MAIN_CLASS, ATTR_STEP_NAME,
    ATTR_STEP_STATE,
};
use crate::convert::{console_host, error_type_from_message, urlencode};
use crate::model::{
    partition, truncate_message, Attr, PipelineRun, RunError, RunPhase, RunResult, RunStatus,
    MAX_MESSAGE_BYTES,
};

/// Longest jar path, main class or command kept as an attribute.
const MAX_CONFIG_CHARS: usize = 256;

/// Maps a step `State` to where the run stands.
///
/// An unknown state is in flight, so the step is re-read until it reaches a state the bridge
/// knows instead of being exported with a guessed result.
pub fn status(state: &str) -> RunStatus {
    match state {
        "COMPLETED" => RunStatus::Ended(RunResult::Success),
        "FAILED" => RunStatus::Ended(RunResult::Failure),
        "CANCELLED" => RunStatus::Ended(RunResult::Cancellation),
        // The cluster went away under the step (terminated, lost its primary node): the
        // platform failed, not the workload.
        "INTERRUPTED" => RunStatus::Ended(RunResult::Error),
        "PENDING" => RunStatus::InFlight(RunPhase::Pending),
        "CANCEL_PENDING" => RunStatus::InFlight(RunPhase::Finalizing),
        _ => RunStatus::InFlight(RunPhase::Executing),
    }
}

/// The cluster's ARN: the one `ListClusters` gave, else derived from its id.
pub fn cluster_arn(account: &str, region: &str, cluster: &EmrCluster) -> String {
    match cluster.cluster_arn.as_deref().filter(|a| !a.is_empty()) {
        Some(a) => a.to_string(),
        None => format!(
            "arn:{}:elasticmapreduce:{region}:{account}:cluster/{}",
            partition(region),
            cluster.id
        ),
    }
}

/// Console page of a step's cluster (its steps are a tab of it).
pub fn url(region: &str, cluster_id: &str) -> String {
    format!(
        "https://{}/emr/home?region={region}#/clusterDetails/{}",
        console_host(region),
        urlencode(cluster_id)
    )
}

/// A first argument kept as `aws.emr.step.command`: a plain command name (`spark-submit`,
/// `hadoop-streaming`, `s3-dist-cp`), never an option, an assignment or free text.
fn command(arg: &str) -> Option<&str> {
    let ok = !arg.is_empty()
        && arg.len() <= 64
        && !arg.starts_with('-')
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
    ok.then_some(arg)
}

fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

fn cut(v: &str) -> String {
    if v.chars().count() <= MAX_CONFIG_CHARS {
        v.to_string()
    } else {
        v.chars().take(MAX_CONFIG_CHARS).collect::<String>() + "…"
    }
}

/// Converts one step of `cluster`, for the pipeline `name`. Returns `None` for a step without
/// any timestamp, which cannot be placed in time.
pub fn to_run(
    account: &str,
    region: &str,
    name: &str,
    cluster: &EmrCluster,
    step: &EmrStep,
) -> Option<PipelineRun> {
    let t = step.status.timeline;
    let start = t
        .creation_date_time
        .or(t.start_date_time)
        .or(t.end_date_time)?;
    let state = step.status.state.as_str();
    let status = status(state);
    let end = match status {
        RunStatus::InFlight(_) => None,
        // No end (odd data): its start of execution, else its submission; an end before the
        // start is clamped (zero-length span).
        RunStatus::Ended(_) => Some(
            t.end_date_time
                .or(t.start_date_time)
                .unwrap_or(start)
                .max(start),
        ),
    };
    let queued_until = t.start_date_time.filter(|s| *s > start);

    let failure = step.status.failure_details.as_ref();
    let fail_message = failure.and_then(|f| non_empty(f.message.as_deref()));
    let fail_reason = failure.and_then(|f| non_empty(f.reason.as_deref()));
    let change_reason = step
        .status
        .state_change_reason
        .as_ref()
        .and_then(|r| non_empty(r.message.as_deref()));
    let error = match status {
        RunStatus::Ended(r) if r.is_error() => {
            let error_type = fail_message
                .and_then(error_type_from_message)
                .or_else(|| fail_reason.and_then(error_type_from_message))
                .or_else(|| change_reason.and_then(error_type_from_message))
                .unwrap_or_else(|| {
                    if state.is_empty() {
                        "_OTHER".to_string()
                    } else {
                        state.to_string()
                    }
                });
            let message = fail_message
                .or(fail_reason)
                .or(change_reason)
                .unwrap_or_default();
            Some(RunError {
                error_type,
                message: truncate_message(message, MAX_MESSAGE_BYTES),
            })
        }
        _ => None,
    };

    let mut attributes = vec![
        Attr::str(ATTR_CLUSTER_ID, cluster.id.clone()),
        Attr::str(ATTR_CLUSTER_NAME, cluster.pipeline_name()),
        Attr::str(ATTR_STEP_STATE, state),
    ];
    let mut opt = |key, v: Option<&str>| {
        if let Some(v) = non_empty(v) {
            attributes.push(Attr::str(key, cut(v)));
        }
    };
    opt(ATTR_STEP_NAME, step.name.as_deref());
    opt(ATTR_ACTION_ON_FAILURE, step.action_on_failure.as_deref());
    if let Some(c) = &step.config {
        opt(ATTR_JAR, c.jar.as_deref());
        opt(ATTR_MAIN_CLASS, c.main_class.as_deref());
        opt(ATTR_COMMAND, c.args.first().and_then(|a| command(a)));
    }
    if matches!(status, RunStatus::Ended(r) if r.is_error()) {
        opt(ATTR_FAILURE_REASON, fail_reason);
        opt(
            ATTR_FAILURE_LOG_FILE,
            failure.and_then(|f| f.log_file.as_deref()),
        );
    }
    if let Some(c) = &step.config {
        attributes.push(Attr::int(
            ATTR_ARGS_COUNT,
            i64::try_from(c.args.len()).unwrap_or(i64::MAX),
        ));
    }

    Some(PipelineRun {
        parent: None,
        // `cloud.resource_id` is the step's own cluster, not the pipeline's latest one.
        pipeline: super::pipeline(
            account,
            region,
            name,
            &cluster_arn(account, region, cluster),
        ),
        run_id: step.id.clone(),
        // A step runs once: no attempts.
        attempt: 0,
        previous_run_id: None,
        aws_state: state.to_string(),
        status,
        start,
        end,
        error,
        will_retry: false,
        dpu_seconds: None,
        url: Some(url(region, &cluster.id)),
        sla_secs: None,
        queued_until,
        links: Vec::new(),
        measures: Vec::new(),
        attributes,
        tasks: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_command_names_are_kept() {
        for ok in [
            "spark-submit",
            "hadoop-streaming",
            "s3-dist-cp",
            "/usr/bin/bash",
        ] {
            assert_eq!(command(ok), Some(ok));
        }
        for no in [
            "",
            "--conf",
            "PASSWORD=hunter2",
            "bash -c 'curl x'",
            "s3://bucket/key?token=abc",
            "user:secret",
            &"a".repeat(65),
            "naïve",
        ] {
            assert_eq!(command(no), None, "{no}");
        }
    }

    #[test]
    fn derived_arns_use_the_region_partition() {
        let c = EmrCluster {
            id: "j-1".into(),
            ..Default::default()
        };
        assert_eq!(
            cluster_arn("1", "cn-north-1", &c),
            "arn:aws-cn:elasticmapreduce:cn-north-1:1:cluster/j-1"
        );
        let c = EmrCluster {
            cluster_arn: Some("arn:aws:elasticmapreduce:us-east-1:1:cluster/j-1".into()),
            ..c
        };
        assert_eq!(
            cluster_arn("1", "us-east-1", &c),
            "arn:aws:elasticmapreduce:us-east-1:1:cluster/j-1"
        );
    }
}
