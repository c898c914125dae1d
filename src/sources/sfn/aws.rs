//! AWS Step Functions: state machines, executions and execution histories.

use super::records::{EventDetails, HistoryEvent, SfnExecution, SfnStateMachine};
use crate::aws::{millis, next_token, AwsError, PageCutoff};
use crate::records::Millis;
use aws_sdk_sfn::types::HistoryEvent as SdkEvent;
use aws_sdk_sfn::Client;

const SERVICE: &str = "stepfunctions";

/// Every state machine (`ListStateMachines`, 1000 per page).
pub async fn list_state_machines(
    client: &Client,
    region: &str,
) -> Result<Vec<SfnStateMachine>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_state_machines()
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListStateMachines", region, e))?;
        out.extend(page.state_machines().iter().map(|m| SfnStateMachine {
            state_machine_arn: m.state_machine_arn().to_string(),
            name: m.name().to_string(),
            kind: m.r#type().as_str().to_string(),
        }));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Executions started at or after `cutoff` (plus older ones sharing their pages).
pub async fn list_executions(
    client: &Client,
    region: &str,
    state_machine_arn: &str,
    cutoff: Millis,
) -> Result<Vec<SfnExecution>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    let mut stop = PageCutoff::new();
    loop {
        let page = client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListExecutions", region, e))?;
        let execs: Vec<SfnExecution> = page
            .executions()
            .iter()
            .map(|e| SfnExecution {
                execution_arn: e.execution_arn().to_string(),
                state_machine_arn: e.state_machine_arn().to_string(),
                name: e.name().to_string(),
                status: e.status().as_str().to_string(),
                start_date: Some(millis(e.start_date())),
                stop_date: e.stop_date().map(millis),
                error: None,
                cause: None,
                redrive_count: e.redrive_count(),
            })
            .collect();
        stop.observe(execs.iter().filter_map(|e| e.start_date), cutoff);
        out.extend(execs);
        token = next_token(page.next_token());
        if token.is_none() || stop.can_stop() {
            return Ok(out);
        }
    }
}

/// One execution with its error and cause; `None` when it no longer exists.
pub async fn describe_execution(
    client: &Client,
    region: &str,
    execution_arn: &str,
) -> Result<Option<SfnExecution>, AwsError> {
    match client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
    {
        Ok(d) => Ok(Some(SfnExecution {
            execution_arn: d.execution_arn().to_string(),
            state_machine_arn: d.state_machine_arn().to_string(),
            name: d.name().unwrap_or_default().to_string(),
            status: d.status().as_str().to_string(),
            start_date: Some(millis(d.start_date())),
            stop_date: d.stop_date().map(millis),
            error: d.error().map(str::to_string),
            cause: d.cause().map(str::to_string),
            redrive_count: d.redrive_count(),
        })),
        Err(e) => {
            let e = AwsError::from_sdk(SERVICE, "DescribeExecution", region, e);
            if e.is_not_found() {
                Ok(None)
            } else {
                Err(e)
            }
        }
    }
}

/// The whole history of an execution (1000 events per page); `with_data`: with the events'
/// input, output and parameters (read to find the runs a task started), else without.
pub async fn get_execution_history(
    client: &Client,
    region: &str,
    execution_arn: &str,
    with_data: bool,
) -> Result<Vec<HistoryEvent>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .include_execution_data(with_data)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "GetExecutionHistory", region, e))?;
        out.extend(page.events().iter().map(event));
        token = next_token(page.next_token());
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The child workflow executions of a Distributed Map's Map Run (`ListExecutions` with
/// `mapRunArn`, 1000 per page), at most `max`; also says whether more were left out.
pub async fn list_map_run_executions(
    client: &Client,
    region: &str,
    map_run_arn: &str,
    max: usize,
) -> Result<(Vec<SfnExecution>, bool), AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_executions()
            .map_run_arn(map_run_arn)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(SERVICE, "ListExecutions", region, e))?;
        out.extend(page.executions().iter().map(|e| SfnExecution {
            execution_arn: e.execution_arn().to_string(),
            state_machine_arn: e.state_machine_arn().to_string(),
            name: e.name().to_string(),
            status: e.status().as_str().to_string(),
            start_date: Some(millis(e.start_date())),
            stop_date: e.stop_date().map(millis),
            error: None,
            cause: None,
            redrive_count: e.redrive_count(),
        }));
        token = next_token(page.next_token());
        if out.len() >= max {
            let more = out.len() > max || token.is_some();
            out.truncate(max);
            return Ok((out, more));
        }
        if token.is_none() {
            return Ok((out, false));
        }
    }
}

/// Cheapest call that proves read access (`ListStateMachines`, one result).
pub async fn probe(client: &Client, region: &str) -> Result<(), AwsError> {
    client
        .list_state_machines()
        .max_results(1)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListStateMachines", region, e))
}

/// The SDK's event as a record: its typed details reduced to [`EventDetails`], then the one
/// mapping the JSON fixtures go through too ([`HistoryEvent::new`]).
pub fn event(e: &SdkEvent) -> HistoryEvent {
    HistoryEvent::new(
        e.id(),
        e.previous_event_id(),
        millis(e.timestamp()),
        e.r#type().as_str().to_string(),
        details(e),
    )
}

fn details(e: &SdkEvent) -> EventDetails {
    let s = |v: &str| Some(v.to_string());
    let o = |v: Option<&str>| v.map(str::to_string);
    let named = |name| EventDetails {
        name,
        ..EventDetails::default()
    };
    let task = |resource_type: &str, resource: &str| EventDetails {
        resource_type: s(resource_type),
        resource: s(resource),
        ..EventDetails::default()
    };
    let failed = |error: Option<&str>, cause: Option<&str>| EventDetails {
        error: o(error),
        cause: o(cause),
        ..EventDetails::default()
    };
    let with_error = |d: EventDetails, error: Option<&str>, cause: Option<&str>| EventDetails {
        error: o(error),
        cause: o(cause),
        ..d
    };
    if let Some(d) = e.state_entered_event_details() {
        named(s(d.name()))
    } else if let Some(d) = e.state_exited_event_details() {
        named(s(d.name()))
    } else if let Some(d) = e
        .map_iteration_started_event_details()
        .or(e.map_iteration_succeeded_event_details())
        .or(e.map_iteration_failed_event_details())
        .or(e.map_iteration_aborted_event_details())
    {
        EventDetails {
            index: Some(i64::from(d.index())),
            ..named(o(d.name()))
        }
    } else if let Some(d) = e.task_scheduled_event_details() {
        EventDetails {
            parameters: s(d.parameters()),
            ..task(d.resource_type(), d.resource())
        }
    } else if let Some(d) = e.task_started_event_details() {
        task(d.resource_type(), d.resource())
    } else if let Some(d) = e.task_submitted_event_details() {
        EventDetails {
            output: o(d.output()),
            ..task(d.resource_type(), d.resource())
        }
    } else if let Some(d) = e.task_succeeded_event_details() {
        EventDetails {
            output: o(d.output()),
            ..task(d.resource_type(), d.resource())
        }
    } else if let Some(d) = e.task_failed_event_details() {
        with_error(task(d.resource_type(), d.resource()), d.error(), d.cause())
    } else if let Some(d) = e.task_timed_out_event_details() {
        with_error(task(d.resource_type(), d.resource()), d.error(), d.cause())
    } else if let Some(d) = e.task_start_failed_event_details() {
        with_error(task(d.resource_type(), d.resource()), d.error(), d.cause())
    } else if let Some(d) = e.task_submit_failed_event_details() {
        with_error(task(d.resource_type(), d.resource()), d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_scheduled_event_details() {
        EventDetails {
            resource: s(d.resource()),
            ..EventDetails::default()
        }
    } else if let Some(d) = e.activity_scheduled_event_details() {
        EventDetails {
            resource: s(d.resource()),
            ..EventDetails::default()
        }
    } else if let Some(d) = e.lambda_function_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_timed_out_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_schedule_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_start_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.activity_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.activity_timed_out_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.activity_schedule_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.execution_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.execution_timed_out_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.execution_aborted_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.map_run_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.evaluation_failed_event_details() {
        failed(d.error(), d.cause())
    } else if let Some(d) = e.map_run_started_event_details() {
        EventDetails {
            map_run_arn: o(d.map_run_arn()),
            ..EventDetails::default()
        }
    } else {
        EventDetails::default()
    }
}

/// A state machine's tags.
pub async fn tags(
    client: &Client,
    region: &str,
    arn: &str,
) -> Result<std::collections::BTreeMap<String, String>, AwsError> {
    let out = client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(SERVICE, "ListTagsForResource", region, e))?;
    Ok(out
        .tags
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect())
}

#[cfg(test)]
mod tests {
    //! The SDK path and the JSON path (the fixtures') give the same record for the same event.
    use super::*;
    use aws_sdk_sfn::types::{
        ActivityScheduledEventDetails, EvaluationFailedEventDetails, ExecutionFailedEventDetails,
        HistoryEventType as T, LambdaFunctionFailedEventDetails,
        LambdaFunctionScheduledEventDetails, MapIterationEventDetails, MapRunFailedEventDetails,
        MapRunStartedEventDetails, StateEnteredEventDetails, TaskFailedEventDetails,
        TaskScheduledEventDetails, TaskSucceededEventDetails, TaskTimedOutEventDetails,
    };
    use aws_smithy_types::DateTime;

    fn sdk(id: i64, kind: T) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
        SdkEvent::builder()
            .id(id)
            .previous_event_id(id - 1)
            .timestamp(DateTime::from_millis(1_700_000_000_000 + id * 1500))
            .r#type(kind)
    }

    fn json(id: i64, kind: &str, details: &str) -> HistoryEvent {
        let ts = (1_700_000_000_000 + id * 1500) as f64 / 1000.0;
        let text = format!(
            r#"{{"id":{id},"previousEventId":{},"timestamp":{ts},"type":"{kind}"{details}}}"#,
            id - 1
        );
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn sdk_and_json_events_map_alike() {
        let cases: Vec<(SdkEvent, HistoryEvent)> = vec![
            (
                sdk(2, T::TaskStateEntered)
                    .state_entered_event_details(
                        StateEnteredEventDetails::builder()
                            .name("Load")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    2,
                    "TaskStateEntered",
                    r#","stateEnteredEventDetails":{"name":"Load","input":"{}"}"#,
                ),
            ),
            (
                sdk(3, T::MapIterationStarted)
                    .map_iteration_started_event_details(
                        MapIterationEventDetails::builder()
                            .name("Items")
                            .index(4)
                            .build(),
                    )
                    .build()
                    .unwrap(),
                json(
                    3,
                    "MapIterationStarted",
                    r#","mapIterationStartedEventDetails":{"name":"Items","index":4}"#,
                ),
            ),
            (
                sdk(4, T::TaskScheduled)
                    .task_scheduled_event_details(
                        TaskScheduledEventDetails::builder()
                            .resource_type("glue")
                            .resource("startJobRun.sync")
                            .region("us-east-1")
                            .parameters("{}")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    4,
                    "TaskScheduled",
                    r#","taskScheduledEventDetails":{"resourceType":"glue","resource":"startJobRun.sync","region":"us-east-1","parameters":"{}"}"#,
                ),
            ),
            (
                sdk(5, T::TaskSucceeded)
                    .task_succeeded_event_details(
                        TaskSucceededEventDetails::builder()
                            .resource_type("glue")
                            .resource("startJobRun.sync")
                            .output("{}")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    5,
                    "TaskSucceeded",
                    r#","taskSucceededEventDetails":{"resourceType":"glue","resource":"startJobRun.sync","output":"{}"}"#,
                ),
            ),
            (
                sdk(6, T::TaskFailed)
                    .task_failed_event_details(
                        TaskFailedEventDetails::builder()
                            .resource_type("lambda")
                            .resource("invoke")
                            .error("Boom")
                            .cause("x")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    6,
                    "TaskFailed",
                    r#","taskFailedEventDetails":{"resourceType":"lambda","resource":"invoke","error":"Boom","cause":"x"}"#,
                ),
            ),
            (
                sdk(7, T::TaskTimedOut)
                    .task_timed_out_event_details(
                        TaskTimedOutEventDetails::builder()
                            .resource_type("glue")
                            .resource("startJobRun.sync")
                            .error("States.Timeout")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    7,
                    "TaskTimedOut",
                    r#","taskTimedOutEventDetails":{"resourceType":"glue","resource":"startJobRun.sync","error":"States.Timeout"}"#,
                ),
            ),
            (
                sdk(8, T::LambdaFunctionScheduled)
                    .lambda_function_scheduled_event_details(
                        LambdaFunctionScheduledEventDetails::builder()
                            .resource("arn:aws:lambda:us-east-1:123456789012:function:f")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    8,
                    "LambdaFunctionScheduled",
                    r#","lambdaFunctionScheduledEventDetails":{"resource":"arn:aws:lambda:us-east-1:123456789012:function:f","input":"{}"}"#,
                ),
            ),
            (
                sdk(9, T::LambdaFunctionFailed)
                    .lambda_function_failed_event_details(
                        LambdaFunctionFailedEventDetails::builder()
                            .error("ValueError")
                            .cause("{}")
                            .build(),
                    )
                    .build()
                    .unwrap(),
                json(
                    9,
                    "LambdaFunctionFailed",
                    r#","lambdaFunctionFailedEventDetails":{"error":"ValueError","cause":"{}"}"#,
                ),
            ),
            (
                sdk(10, T::ActivityScheduled)
                    .activity_scheduled_event_details(
                        ActivityScheduledEventDetails::builder()
                            .resource("arn:aws:states:us-east-1:123456789012:activity:review")
                            .heartbeat_in_seconds(60)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    10,
                    "ActivityScheduled",
                    r#","activityScheduledEventDetails":{"resource":"arn:aws:states:us-east-1:123456789012:activity:review","heartbeatInSeconds":60}"#,
                ),
            ),
            (
                sdk(11, T::MapRunFailed)
                    .map_run_failed_event_details(
                        MapRunFailedEventDetails::builder()
                            .error("States.ExceedToleratedFailureThreshold")
                            .cause("c")
                            .build(),
                    )
                    .build()
                    .unwrap(),
                json(
                    11,
                    "MapRunFailed",
                    r#","mapRunFailedEventDetails":{"error":"States.ExceedToleratedFailureThreshold","cause":"c"}"#,
                ),
            ),
            (
                sdk(12, T::EvaluationFailed)
                    .evaluation_failed_event_details(
                        EvaluationFailedEventDetails::builder()
                            .error("States.QueryEvaluationError")
                            .cause("bad")
                            .state("Load")
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
                json(
                    12,
                    "EvaluationFailed",
                    r#","evaluationFailedEventDetails":{"error":"States.QueryEvaluationError","cause":"bad","state":"Load"}"#,
                ),
            ),
            (
                sdk(13, T::ExecutionFailed)
                    .execution_failed_event_details(
                        ExecutionFailedEventDetails::builder()
                            .error("States.TaskFailed")
                            .cause("x")
                            .build(),
                    )
                    .build()
                    .unwrap(),
                json(
                    13,
                    "ExecutionFailed",
                    r#","executionFailedEventDetails":{"error":"States.TaskFailed","cause":"x"}"#,
                ),
            ),
            (
                sdk(15, T::MapRunStarted)
                    .map_run_started_event_details(
                        MapRunStartedEventDetails::builder()
                            .map_run_arn("arn:aws:states:us-east-1:123456789012:mapRun:m/Map:1")
                            .build(),
                    )
                    .build()
                    .unwrap(),
                json(
                    15,
                    "MapRunStarted",
                    r#","mapRunStartedEventDetails":{"mapRunArn":"arn:aws:states:us-east-1:123456789012:mapRun:m/Map:1"}"#,
                ),
            ),
            (
                sdk(14, T::ExecutionSucceeded).build().unwrap(),
                json(
                    14,
                    "ExecutionSucceeded",
                    r#","executionSucceededEventDetails":{"output":"{}"}"#,
                ),
            ),
        ];
        for (sdk_event, from_json) in &cases {
            assert_eq!(&event(sdk_event), from_json, "{:?}", sdk_event.r#type());
        }
        // What the one mapping fills in: the resource type of legacy Lambda and activity tasks.
        assert_eq!(cases[6].1.resource_type.as_deref(), Some("lambda"));
        assert_eq!(cases[8].1.resource_type.as_deref(), Some("activity"));
    }
}
