//! Step Functions records in their wire shape (camelCase JSON).

use crate::records::Millis;
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
        HistoryEvent {
            id,
            previous_event_id,
            timestamp,
            resource_type: d.resource_type.or(implied.map(str::to_string)),
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
