//! Step Functions records in their wire shape (camelCase JSON).

use crate::records::Millis;
use crate::sources::glue_job::records::GlueJobRun;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

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
    /// What a service-integration task started, as far as this event tells (its parameters,
    /// output or failure cause; read only when the history was fetched with its data).
    #[serde(skip)]
    pub started: Option<Started>,
    /// The Map Run a Distributed Map started (`MapRunStarted`).
    pub map_run_arn: Option<String>,
}

/// A run another service's integration started from a Task.
#[derive(Debug, Clone, PartialEq)]
pub enum Started {
    /// `glue:startJobRun(.sync)`: the job run as far as known (job name from the parameters,
    /// run id from the submission, the whole run from a `.sync` task's output or failure).
    Glue(Box<GlueJobRun>),
    /// `states:startExecution(.sync…)`: the child execution's ARN.
    Execution(String),
}

impl Started {
    /// Adds what `later` says to what is known.
    pub fn merge(&mut self, later: Started) {
        match (self, later) {
            (Started::Glue(a), Started::Glue(b)) => {
                let keep_name = std::mem::take(&mut a.job_name);
                let keep_id = std::mem::take(&mut a.id);
                if b.job_run_state.is_empty() {
                    // Only a name or an id: keep the rest.
                    a.job_name = if b.job_name.is_empty() {
                        keep_name
                    } else {
                        b.job_name
                    };
                    a.id = if b.id.is_empty() { keep_id } else { b.id };
                } else {
                    **a = *b;
                    if a.job_name.is_empty() {
                        a.job_name = keep_name;
                    }
                    if a.id.is_empty() {
                        a.id = keep_id;
                    }
                }
            }
            // An execution ARN, or (bad data) another kind: the latest word wins.
            (a, b) => *a = b,
        }
    }
}

/// What a `glue:startJobRun` or `states:startExecution` task event says about the run it
/// started. `data` is the event's parameters, output or cause (JSON text).
fn started_by(resource_type: &str, resource: &str, kind: &str, data: &str) -> Option<Started> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    let obj = v.as_object()?;
    let str_of = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_string);
    match (resource_type, resource.split('.').next().unwrap_or("")) {
        ("glue", "startJobRun") => {
            let mut run = GlueJobRun {
                job_name: str_of("JobName").unwrap_or_default(),
                id: str_of("Id")
                    .or_else(|| str_of("JobRunId"))
                    .unwrap_or_default(),
                ..GlueJobRun::default()
            };
            // The parameters name the job only; a `.sync` task's output (or failure cause) is
            // the whole JobRun, with times as epoch milliseconds.
            if kind != "TaskScheduled" {
                if let Some(state) = str_of("JobRunState") {
                    let ms = |k: &str| {
                        obj.get(k)
                            .and_then(|x| x.as_f64())
                            .filter(|x| x.is_finite())
                            .map(|x| Millis(x.round() as i64))
                    };
                    let int = |k: &str| {
                        obj.get(k)
                            .and_then(|x| x.as_i64())
                            .and_then(|x| i32::try_from(x).ok())
                    };
                    let num = |k: &str| {
                        obj.get(k)
                            .and_then(|x| x.as_f64())
                            .filter(|x| x.is_finite())
                    };
                    run.job_run_state = state;
                    run.attempt = int("Attempt").unwrap_or(0);
                    run.previous_run_id = str_of("PreviousRunId");
                    run.started_on = ms("StartedOn");
                    run.completed_on = ms("CompletedOn");
                    run.last_modified_on = ms("LastModifiedOn");
                    run.error_message = str_of("ErrorMessage");
                    run.execution_time = int("ExecutionTime");
                    run.timeout = int("Timeout");
                    run.max_capacity = num("MaxCapacity");
                    run.worker_type = str_of("WorkerType");
                    run.number_of_workers = int("NumberOfWorkers");
                    run.glue_version = str_of("GlueVersion");
                    run.dpu_seconds = num("DPUSeconds");
                    run.execution_class = str_of("ExecutionClass");
                }
            }
            (!run.job_name.is_empty() || !run.id.is_empty()).then(|| Started::Glue(Box::new(run)))
        }
        ("states", "startExecution") => str_of("ExecutionArn").map(Started::Execution),
        _ => None,
    }
}

/// The fields of one event's `…EventDetails` object that the bridge reads, whichever event
/// type it belongs to: what the SDK's typed details and the API's JSON both reduce to before
/// [`HistoryEvent::new`] (the one mapping both paths share).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EventDetails {
    pub name: Option<String>,
    pub index: Option<i64>,
    pub resource: Option<String>,
    pub resource_type: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// A task's parameters (`TaskScheduled`).
    pub parameters: Option<String>,
    /// A task's output (`TaskSubmitted`, `TaskSucceeded`).
    pub output: Option<String>,
    /// A Distributed Map's Map Run (`MapRunStarted`).
    pub map_run_arn: Option<String>,
}

impl HistoryEvent {
    /// An event from its header and its details. Legacy Lambda and activity tasks name no
    /// resource type (their events are `LambdaFunction…`/`Activity…`): `lambda` and
    /// `activity` are filled in, as for service integrations.
    pub fn new(
        id: i64,
        previous_event_id: i64,
        timestamp: Millis,
        kind: String,
        d: EventDetails,
    ) -> Self {
        let implied = match kind.as_str() {
            "LambdaFunctionScheduled" => Some("lambda"),
            "ActivityScheduled" => Some("activity"),
            _ => None,
        };
        let resource_type = d.resource_type.or(implied.map(str::to_string));
        let started = match (&resource_type, &d.resource) {
            (Some(rt), Some(r)) => [&d.parameters, &d.output, &d.cause]
                .into_iter()
                .flatten()
                .find_map(|data| started_by(rt, r, &kind, data)),
            _ => None,
        };
        HistoryEvent {
            id,
            previous_event_id,
            timestamp,
            resource_type,
            started,
            map_run_arn: d.map_run_arn,
            kind,
            name: d.name,
            index: d.index,
            resource: d.resource,
            error: d.error,
            cause: d.cause,
        }
    }
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
        let w = Wire::deserialize(d)?;
        // Unusable details (a field of another type) are left out, not an error: the event
        // still places the others.
        let details = w
            .rest
            .into_iter()
            .find(|(k, _)| k.ends_with("EventDetails"))
            .map(|(_, v)| serde_json::from_value::<EventDetails>(v).unwrap_or_default())
            .unwrap_or_default();
        Ok(HistoryEvent::new(
            w.id,
            w.previous_event_id,
            w.timestamp,
            w.kind,
            details,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
