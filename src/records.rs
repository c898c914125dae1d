//! AWS records in their wire shape.
//!
//! The `aws` layer fills these from SDK responses and the test fixtures deserialize them from the
//! JSON the AWS APIs send (PascalCase for Glue, camelCase for Step Functions, timestamps as epoch
//! seconds), so conversion code never sees an SDK type and every fixture is a real API answer.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch: the one time type past the `aws` layer.
///
/// AWS sends epoch seconds as floats and moto's `…39.35` arrives as `…39.349999`, so every
/// timestamp is rounded to whole milliseconds before it is compared or hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Millis(pub i64);

impl Millis {
    /// Rounds epoch seconds (as AWS sends them) to milliseconds.
    pub fn from_epoch_secs(secs: f64) -> Self {
        Millis((secs * 1000.0).round() as i64)
    }

    /// Whole-second plus nanosecond parts, as the SDK's `DateTime` carries them; saturates
    /// for absurd times.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Millis(
            secs.saturating_mul(1000)
                .saturating_add((i64::from(nanos) + 500_000) / 1_000_000),
        )
    }

    /// Converts to a `SystemTime`; times before the epoch clamp to the epoch.
    pub fn to_system_time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.max(0) as u64)
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(d.as_millis() as i64)
    }

    /// Seconds between `self` and a later time (0 when `later` is earlier).
    pub fn secs_until(self, later: Millis) -> f64 {
        later.0.saturating_sub(self.0).max(0) as f64 / 1000.0
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Millis::from_epoch_secs(f64::deserialize(d)?))
    }
}

/// A Glue job definition (`GetJobs`), the fields the bridge uses.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueJob {
    pub name: String,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<i32>,
    pub max_capacity: Option<f64>,
    pub glue_version: Option<String>,
    /// Minutes.
    pub timeout: Option<i32>,
    /// How many times Glue retries a run that fails (`FAILED`; not `TIMEOUT` or `ERROR`).
    pub max_retries: Option<i32>,
}

/// One Glue job run attempt (`GetJobRuns` / `GetJobRun`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GlueJobRun {
    pub id: String,
    pub attempt: i32,
    pub previous_run_id: Option<String>,
    pub trigger_name: Option<String>,
    pub job_name: String,
    pub started_on: Option<Millis>,
    pub last_modified_on: Option<Millis>,
    pub completed_on: Option<Millis>,
    pub job_run_state: String,
    pub error_message: Option<String>,
    /// Seconds the run consumed resources.
    pub execution_time: Option<i32>,
    /// Minutes.
    pub timeout: Option<i32>,
    pub max_capacity: Option<f64>,
    pub worker_type: Option<String>,
    pub number_of_workers: Option<i32>,
    pub glue_version: Option<String>,
    #[serde(rename = "DPUSeconds")]
    pub dpu_seconds: Option<f64>,
    pub execution_class: Option<String>,
}

/// A Step Functions state machine (`ListStateMachines`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SfnStateMachine {
    pub state_machine_arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// A Step Functions execution (`ListExecutions` item or `DescribeExecution`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SfnExecution {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: String,
    pub start_date: Option<Millis>,
    pub stop_date: Option<Millis>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub redrive_count: Option<i32>,
}

/// One `GetExecutionHistory` event, flattened.
///
/// The API puts each type's fields in its own `…EventDetails` object; the bridge needs only the
/// few below, whichever object they come in.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HistoryEvent {
    pub id: i64,
    pub previous_event_id: i64,
    pub timestamp: Millis,
    pub kind: String,
    /// State name (state entered/exited) or Map state name (iteration events).
    pub name: Option<String>,
    /// Map iteration index.
    pub index: Option<i64>,
    pub resource: Option<String>,
    pub resource_type: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl<'de> Deserialize<'de> for HistoryEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire {
            id: i64,
            #[serde(default)]
            previous_event_id: i64,
            timestamp: Millis,
            #[serde(rename = "type")]
            kind: String,
            #[serde(flatten)]
            rest: BTreeMap<String, serde_json::Value>,
        }
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Details {
            name: Option<String>,
            index: Option<i64>,
            resource: Option<String>,
            resource_type: Option<String>,
            error: Option<String>,
            cause: Option<String>,
        }
        let w = Wire::deserialize(d)?;
        let details = w
            .rest
            .into_iter()
            .find(|(k, _)| k.ends_with("EventDetails"))
            .map(|(_, v)| serde_json::from_value::<Details>(v).unwrap_or_default())
            .unwrap_or_default();
        Ok(HistoryEvent {
            id: w.id,
            previous_event_id: w.previous_event_id,
            timestamp: w.timestamp,
            kind: w.kind,
            name: details.name,
            index: details.index,
            resource: details.resource,
            resource_type: details.resource_type,
            error: details.error,
            cause: details.cause,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_times_saturate_instead_of_overflowing() {
        assert_eq!(
            Millis::from_secs_nanos(i64::MAX, 999_999_999),
            Millis(i64::MAX)
        );
        assert_eq!(Millis::from_secs_nanos(i64::MIN, 0), Millis(i64::MIN));
        assert_eq!(Millis::from_secs_nanos(2, 500_000), Millis(2001));
        assert_eq!(
            Millis(i64::MIN).secs_until(Millis(i64::MAX)),
            i64::MAX as f64 / 1000.0
        );
        assert_eq!(Millis(i64::MAX).secs_until(Millis(i64::MIN)), 0.0);
    }

    #[test]
    fn moto_float_timestamps_round_to_millis() {
        assert_eq!(
            Millis::from_epoch_secs(1_700_000_039.349_999),
            Millis(1_700_000_039_350)
        );
        assert_eq!(Millis::from_secs_nanos(1, 999_600_000), Millis(2000));
    }

    #[test]
    fn history_event_details_are_flattened() {
        let e: HistoryEvent = serde_json::from_str(
            r#"{"id":5,"previousEventId":4,"timestamp":1700000000.5,"type":"TaskFailed",
               "taskFailedEventDetails":{"resourceType":"lambda","resource":"invoke","error":"Boom","cause":"x"}}"#,
        )
        .unwrap();
        assert_eq!(e.kind, "TaskFailed");
        assert_eq!(e.error.as_deref(), Some("Boom"));
        assert_eq!(e.resource_type.as_deref(), Some("lambda"));
        assert_eq!(e.timestamp, Millis(1_700_000_000_500));
    }
}
