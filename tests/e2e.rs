//! End to end: moto (as AWS) → the bridge binary → rotel (a real OTLP collector).
//!
//! Needs the test venv (`testing/setup-venv.sh`, run by the README's test command).

mod common;

use common::{bridge, write_config, Collector, Moto, Received};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

/// Run ids of a seeded Glue job, in seed order.
fn glue_runs(moto: &Moto, job: &str) -> Vec<Value> {
    moto.seed["glue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["JobName"] == job)
        .unwrap_or_else(|| panic!("seeded job {job}"))["Runs"]
        .as_array()
        .unwrap()
        .clone()
}

fn run_id(run: &Value) -> &str {
    run["JobRunId"].as_str().unwrap()
}

fn execution_arn(sm: &str, name: &str) -> String {
    format!("arn:aws:states:us-east-1:{ACCOUNT}:execution:{sm}:{name}")
}

fn names(spans: &[&common::Span]) -> Vec<String> {
    let mut v: Vec<String> = spans.iter().map(|s| s.name.clone()).collect();
    v.sort();
    v
}

/// The seeded "test" scenario as the collector must show it after the first export.
fn assert_test_scenario(moto: &Moto, r: &Received) {
    let etl = glue_runs(moto, "test-etl");
    let batch = glue_runs(moto, "test-batch");
    assert_eq!(
        r.roots().len(),
        10,
        "3 + 3 finished Glue runs and 4 executions, each once"
    );

    // Glue: a success with its real timing, resource and attributes.
    let ok = r.root_of_run(run_id(&etl[0]));
    assert_eq!(ok.name, "RUN test-etl");
    assert_eq!(ok.kind, "SPAN_KIND_SERVER");
    assert_eq!(ok.status, "STATUS_CODE_UNSET");
    assert_eq!(ok.attr("cicd.pipeline.result"), Some("success"));
    let expect_ms = ((etl[0]["CompletedOn"].as_f64().unwrap()
        - etl[0]["StartedOn"].as_f64().unwrap())
        * 1000.0)
        .round() as i64;
    assert_eq!(ok.duration_ms(), expect_ms);
    assert_eq!(
        ok.start_ns / 1_000_000,
        (etl[0]["StartedOn"].as_f64().unwrap() * 1000.0).round() as u128
    );
    assert_eq!(
        ok.resource.get("cloud.account.id").map(String::as_str),
        Some(ACCOUNT)
    );
    assert_eq!(
        ok.resource.get("cloud.region").map(String::as_str),
        Some("us-east-1")
    );
    assert_eq!(
        ok.resource.get("cloud.provider").map(String::as_str),
        Some("aws")
    );
    assert_eq!(
        ok.resource.get("cloud.platform").map(String::as_str),
        Some("aws_glue")
    );
    assert_eq!(
        ok.resource.get("cicd.pipeline.name").map(String::as_str),
        Some("test-etl")
    );
    // A stable instance id (host and state directory), UUID-shaped.
    assert_eq!(
        ok.resource.get("service.instance.id").map(String::len),
        Some(36),
        "{:?}",
        ok.resource
    );
    assert_eq!(
        ok.attr("cloud.resource_id"),
        Some("arn:aws:glue:us-east-1:123456789012:job/test-etl")
    );
    assert_eq!(ok.attr("aws.glue.worker_type"), Some("G.1X"));
    assert!(ok.attr("aws.glue.dpu_seconds").is_some());
    assert!(ok.attr("error.type").is_none());

    // Glue failure: error type parsed from the message, status Error with the message alone,
    // no deprecated error.message attribute or exception event (semantic conventions 1.44).
    let failed = r.root_of_run(run_id(&etl[1]));
    assert_eq!(failed.status, "STATUS_CODE_ERROR");
    assert_eq!(failed.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(
        failed.attr("error.type"),
        Some("java.lang.OutOfMemoryError")
    );
    assert!(failed.events.is_empty(), "{:?}", failed.events);
    assert!(failed.attr("error.message").is_none());
    // The retry is its own trace, linked to the failed attempt.
    let retry = r.root_of_run(run_id(&etl[2]));
    assert_eq!(retry.attr("aws.glue.job_run.attempt"), Some("1"));
    assert_eq!(retry.links, 1);
    assert_ne!(retry.trace_id, failed.trace_id);
    // The running run is not exported until it ends.
    assert!(r
        .roots()
        .iter()
        .all(|s| s.attr("cicd.pipeline.run.id") != Some(run_id(&etl[3]))));

    let results: Vec<_> = batch
        .iter()
        .map(|b| {
            r.root_of_run(run_id(b))
                .attr("cicd.pipeline.result")
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(results, ["timeout", "cancellation", "error"]);
    assert_eq!(
        r.root_of_run(run_id(&batch[1])).status,
        "STATUS_CODE_UNSET",
        "a stop is not an error"
    );

    // Step Functions: the full tree of a real execution.
    let nightly = r.root_of_run(&execution_arn("nightly-orders-pipeline", "test-nightly-1"));
    assert_eq!(
        nightly.resource.get("cloud.platform").map(String::as_str),
        Some("aws_step_functions")
    );
    assert_eq!(nightly.attr("cicd.pipeline.result"), Some("success"));
    assert_eq!(
        nightly.status, "STATUS_CODE_UNSET",
        "a caught error does not mark the execution"
    );
    let top = r.children(nightly);
    assert_eq!(
        names(&top),
        [
            "CheckMode",
            "Done",
            "Extract",
            "LoadConfig",
            "NotifyDownstream",
            "RecordNotifyFailure",
            "TransformRegions"
        ]
    );
    let extract = top.iter().find(|s| s.name == "Extract").unwrap();
    assert_eq!(
        extract.attr("aws.step_functions.state.type"),
        Some("Parallel")
    );
    assert_eq!(
        names(&r.children(extract)),
        ["ExtractOrders", "ExtractRefunds", "ValidateOrders"]
    );
    let map = top.iter().find(|s| s.name == "TransformRegions").unwrap();
    let iterations = r.children(map);
    assert_eq!(
        names(&iterations),
        [
            "TransformRegions[0]",
            "TransformRegions[1]",
            "TransformRegions[2]"
        ]
    );
    for it in &iterations {
        assert_eq!(names(&r.children(it)), ["Throttle", "TransformRegion"]);
        let wait = r
            .children(it)
            .into_iter()
            .find(|s| s.name == "Throttle")
            .unwrap();
        assert!(
            wait.duration_ms() >= 900,
            "the Wait state really waited ({} ms)",
            wait.duration_ms()
        );
    }
    let notify = top.iter().find(|s| s.name == "NotifyDownstream").unwrap();
    assert_eq!(
        notify.status, "STATUS_CODE_ERROR",
        "the failing state is marked"
    );
    assert_eq!(
        notify.attr("cicd.pipeline.task.run.result"),
        Some("failure")
    );
    let attempts = r.children(notify);
    assert_eq!(attempts.len(), 2, "one span per retried attempt");
    assert!(attempts
        .iter()
        .all(|a| a.attr("error.type") == Some("Exception")));
    for s in r
        .spans
        .iter()
        .filter(|s| s.trace_id == nightly.trace_id && !s.parent.is_empty())
    {
        assert_eq!(s.kind, "SPAN_KIND_INTERNAL");
        assert!(
            s.start_ns >= nightly.start_ns && s.end_ns <= nightly.end_ns,
            "{} inside the run",
            s.name
        );
        assert!(s.attr("cicd.pipeline.task.run.id").is_some());
    }

    let sync = r.root_of_run(&execution_arn("customer-sync", "test-customer-sync-fail"));
    assert_eq!(sync.status, "STATUS_CODE_ERROR");
    assert_eq!(
        sync.attr("error.type"),
        Some("CustomerSync.ValidationError")
    );
    assert!(sync.status_message.contains("3 rows failed validation"));
    let fail = r
        .children(sync)
        .into_iter()
        .find(|s| s.attr("aws.step_functions.state.type") == Some("Fail"))
        .unwrap();
    assert_eq!(fail.status, "STATUS_CODE_ERROR");

    let aborted = r.root_of_run(&execution_arn(
        "inventory-snapshot",
        "test-inventory-aborted",
    ));
    assert_eq!(aborted.attr("cicd.pipeline.result"), Some("cancellation"));
}

#[test]
fn grpc_export_counts_each_run_exactly_once_across_cycles_and_restarts() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "poll_interval = \"1s\"\n");
    let (cfg, state, state2) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
        dir.path().join("fresh").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let etl = glue_runs(&moto, "test-etl");
    let pipe = |name: &'static str| [("cicd.pipeline.name", name)];

    // Two cycles in one process: everything exported once, the second cycle adds nothing.
    let m = col.mark();
    let out = bridge(
        &["run", "--cycles", "2", "--config", &cfg, "--state", &state],
        &env,
    );
    assert!(out.status.success());
    let r1 = col.received_since(m);
    assert_test_scenario(&moto, &r1);
    assert_eq!(r1.sum("cicd.pipeline.run.duration", &pipe("test-etl")), 3.0);
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.duration",
            &pipe("nightly-orders-pipeline")
        ),
        1.0
    );
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.errors",
            &[
                ("cicd.pipeline.name", "test-etl"),
                ("error.type", "java.lang.OutOfMemoryError")
            ]
        ),
        1.0
    );
    assert_eq!(
        r1.sum("cicd.pipeline.run.errors", &pipe("customer-sync")),
        1.0
    );
    assert_eq!(
        r1.sum("cicd.pipeline.run.errors", &pipe("inventory-snapshot")),
        0.0,
        "cancellation is no error"
    );
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", "test-etl"),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        1.0
    );
    assert!(r1.sum("pipeline_bridge.glue.dpu_usage", &pipe("test-etl")) > 0.0);
    assert!(
        r1.sum(
            "pipeline_bridge.task.duration",
            &[
                ("cicd.pipeline.name", "nightly-orders-pipeline"),
                ("cicd.pipeline.task.name", "NotifyDownstream")
            ]
        ) == 1.0
    );
    let last_ok = r1.points(
        "pipeline_bridge.pipeline.last_success.timestamp",
        &pipe("test-etl"),
    );
    assert_eq!(last_ok.len(), 1);
    assert!((last_ok[0].value - etl[2]["CompletedOn"].as_f64().unwrap()).abs() < 0.01);
    assert_eq!(
        r1.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetJobRuns"), ("outcome", "success")]
        ),
        4.0,
        "two jobs, two cycles"
    );
    assert_eq!(
        r1.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetExecutionHistory")]
        ),
        4.0,
        "history fetched once per finished execution"
    );
    assert!(r1.points("pipeline_bridge.poll.cycle.duration", &[]).len() == 1);
    for p in r1
        .points
        .iter()
        .filter(|p| p.metric.starts_with("cicd.pipeline"))
    {
        assert!(
            !p.attrs.contains_key("cicd.pipeline.run.id"),
            "no run ids on metrics"
        );
    }

    // The trace-id command computes what was sent.
    let failed_root = r1.root_of_run(run_id(&etl[1]));
    let out = bridge(
        &[
            "trace-id",
            "--kind",
            "glue-job",
            "--account",
            ACCOUNT,
            "--region",
            "us-east-1",
            "--pipeline",
            "test-etl",
            "--run-id",
            run_id(&etl[1]),
        ],
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains(&format!("trace_id {}", failed_root.trace_id)));

    // A restart with the same state re-sends and re-counts nothing, and its counters continue
    // from the totals committed with the checkpoints (no reset for increase() to bridge).
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    assert!(out.status.success());
    let r2 = col.received_since(m);
    assert!(r2.spans.is_empty(), "nothing new to export");
    for (metric, name) in [
        ("cicd.pipeline.run.duration", "test-etl"),
        ("pipeline_bridge.pipeline.runs", "test-etl"),
        ("cicd.pipeline.run.errors", "customer-sync"),
        ("pipeline_bridge.glue.dpu_usage", "test-etl"),
    ] {
        assert_eq!(
            r2.sum(metric, &pipe(name)),
            r1.sum(metric, &pipe(name)),
            "{metric} of {name} continues across the restart"
        );
    }
    assert_eq!(
        r2.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", "test-etl"),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        1.0
    );

    // The run in flight ends: exported once, with its own counts.
    let running = run_id(&etl[3]).to_string();
    let started = etl[3]["StartedOn"].as_f64().unwrap();
    moto.post(
        "/_inject/glue-job-run",
        serde_json::json!({"JobName": "test-etl", "RunId": running, "fields": {"JobRunState": "SUCCEEDED", "CompletedOn": started + 60.5, "ExecutionTime": 60}}),
    );
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    assert!(out.status.success());
    let r3 = col.received_since(m);
    assert_eq!(r3.roots().len(), 1);
    let late = r3.root_of_run(&running);
    assert_eq!(late.duration_ms(), 60_500);
    assert_eq!(
        r3.sum("cicd.pipeline.run.duration", &pipe("test-etl")),
        4.0,
        "3 runs counted by earlier processes, 1 now"
    );
    assert_eq!(
        r3.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", "test-etl"),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        0.0
    );

    // A fresh state sends the same runs again with identical ids.
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state2],
        &env,
    );
    assert!(out.status.success());
    let r4 = col.received_since(m);
    let ids = |r: &Received| {
        let mut v: Vec<(String, String)> = r
            .spans
            .iter()
            .map(|s| (s.trace_id.clone(), s.id.clone()))
            .collect();
        v.sort();
        v
    };
    let mut before = ids(&r1);
    before.extend(ids(&r3));
    before.sort();
    assert_eq!(ids(&r4), before);
}

#[test]
fn http_protobuf_with_gzip_headers_and_resource_env() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.http.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=hunter2-secret"),
        ("OTEL_SERVICE_NAME", "pipelines-prod"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test,service.namespace=data",
        ),
    ];
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", state.to_str().unwrap()], &env);
    assert!(out.status.success());
    let r = col.received_since(m);
    assert_test_scenario(&moto, &r);
    let root = r.roots()[0];
    assert_eq!(
        root.resource.get("service.name").map(String::as_str),
        Some("pipelines-prod")
    );
    assert_eq!(
        root.resource.get("service.namespace").map(String::as_str),
        Some("data")
    );
    assert_eq!(
        root.resource
            .get("deployment.environment.name")
            .map(String::as_str),
        Some("test")
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.duration",
            &[("cicd.pipeline.name", "test-batch")]
        ),
        3.0
    );
    let logs =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!logs.contains("hunter2"), "secrets never reach logs");
}

#[test]
fn failed_export_moves_no_checkpoint() {
    let moto = Moto::start("test");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
    ];
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert_eq!(
        out.status.code(),
        Some(1),
        "--once exits 1 when the collector did not acknowledge"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&dead),
        "the error names the endpoint"
    );

    let col = Collector::start();
    let m = col.mark();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert!(out.status.success());
    let r = col.received_since(m);
    assert_test_scenario(&moto, &r);
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.duration",
            &[("cicd.pipeline.name", "test-etl")]
        ),
        3.0
    );
}

#[test]
fn a_throttled_pipeline_does_not_stop_the_others() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    moto.post(
        "/_inject/fault",
        serde_json::json!({"target": "AWSGlue.GetJobRuns", "match": "test-batch", "code": "ThrottlingException", "message": "Rate exceeded", "count": -1}),
    );
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exports succeeded; the throttled pipeline waits, and the exit status says AWS failed"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("test-batch"),
        "the log names the pipeline"
    );
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 7);
    assert!(r
        .roots()
        .iter()
        .all(|s| s.attr("cicd.pipeline.name") != Some("test-batch")));
    assert!(
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetJobRuns"), ("outcome", "throttled")]
        ) >= 1.0
    );
    assert_eq!(
        r.sum(
            "cicd.system.errors",
            &[
                ("cicd.system.component", "glue"),
                ("error.type", "throttled")
            ]
        ),
        1.0
    );

    moto.post("/_inject/fault-clear", serde_json::json!({}));
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert!(out.status.success());
    let r = col.received_since(m);
    assert_eq!(
        names(&r.roots()),
        ["RUN test-batch", "RUN test-batch", "RUN test-batch"]
    );
}

#[test]
fn a_run_whose_history_failed_is_not_left_behind_by_the_watermark() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "rescan_window = \"1s\"\n");
    let (cfg, state) = (cfg.to_str().unwrap().to_string(), dir.path().join("state"));
    let state = state.to_str().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let failing = execution_arn("customer-sync", "test-customer-sync-fail");
    moto.post(
        "/_inject/fault",
        serde_json::json!({"target": "AWSStepFunctions.GetExecutionHistory", "match": "test-customer-sync-fail", "code": "ServiceUnavailable", "status": 503, "count": -1}),
    );
    // A newer execution of the same state machine moves its watermark past the failing one.
    moto.python(
        "time.sleep(2.5)\n\
         s = client('stepfunctions')\n\
         arn = s.start_execution(stateMachineArn='arn:aws:states:us-east-1:123456789012:stateMachine:customer-sync', name='late-ok', input=json.dumps({'failedRows': 0}))['executionArn']\n\
         while s.describe_execution(executionArn=arn)['status'] == 'RUNNING': time.sleep(0.1)\n",
    );
    let m = col.mark();
    let out = bridge(&["run", "--once", "--config", &cfg, "--state", state], &env);
    assert_eq!(out.status.code(), Some(3), "a history read failed");
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 10);
    r.root_of_run(&execution_arn("customer-sync", "late-ok"));
    assert!(r
        .roots()
        .iter()
        .all(|s| s.attr("cicd.pipeline.run.id") != Some(failing.as_str())));

    moto.post("/_inject/fault-clear", serde_json::json!({}));
    let m = col.mark();
    let out = bridge(&["run", "--once", "--config", &cfg, "--state", state], &env);
    assert!(out.status.success());
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 1);
    assert_eq!(
        r.root_of_run(&failing).attr("error.type"),
        Some("CustomerSync.ValidationError")
    );
}

#[test]
fn glue_paging_reads_every_page() {
    let moto = Moto::start("test");
    let col = Collector::start();
    moto.python(
        "client('glue').create_job(Name='many-runs', Role='arn:aws:iam::123456789012:role/glue', \
           Command={'Name': 'glueetl', 'ScriptLocation': 's3://scripts/many.py'}, \
           ExecutionProperty={'MaxConcurrentRuns': 1000}, WorkerType='G.1X', NumberOfWorkers=2)\n\
         now = time.time()\n\
         for i in range(450):\n\
         \x20   inject('/_inject/glue-job-run-create', {'JobName': 'many-runs', 'fields': {'JobRunState': 'SUCCEEDED', \
                'StartedOn': now - 3600 + i + 0.123, 'CompletedOn': now - 3600 + i + 30.456}})\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[glue]\ninclude = [\"many-*\"]\n[step_functions]\nenabled = false\n",
    );
    let state = dir.path().join("state");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let out = bridge(
        &[
            "run",
            "--once",
            "--config",
            cfg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success());
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 450, "every page read");
    assert!(
        r.roots()
            .iter()
            .all(|s| s.attr("cicd.pipeline.name") == Some("many-runs")),
        "filters applied"
    );
    assert_eq!(
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetJobRuns")]
        ),
        3.0,
        "200 + 200 + 50"
    );
    assert_eq!(
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "ListStateMachines")]
        ),
        0.0
    );
}

#[test]
fn the_daemon_stops_cleanly_on_sigterm() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "poll_interval = \"1s\"\n");
    let state = dir.path().join("state");
    let m = col.mark();
    let mut child = common::bridge_cmd(&moto.endpoint)
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &col.grpc)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 10);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed().as_secs() < 15,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    // Its checkpoints were saved: a restart has nothing to send.
    let m = col.mark();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let out = bridge(&["run", "--once", "--state", state.to_str().unwrap()], &env);
    assert!(out.status.success());
    assert!(col.received_since(m).spans.is_empty());
}

#[test]
fn listen_serves_prometheus_metrics_and_health_and_sla_is_flagged() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "poll_interval = \"1s\"\n\
         [[pipelines]]\nmatch = \"test-etl\"\nsla = \"4m\"\nmax_success_interval = \"6h\"\nteam = \"orders\"\nproject = \"lakehouse\"\n\
         [[pipelines]]\nmatch = \"*\"\nkind = \"glue-job\"\nsla = \"1h\"\n",
    );
    let state = dir.path().join("state");
    let port = common::free_port();
    let m = col.mark();
    let child = common::bridge_cmd(&moto.endpoint)
        .args([
            "run",
            "--config",
            cfg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &col.grpc)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _guard = common::Server {
        child,
        name: "bridge",
    };
    let t = std::time::Instant::now();
    loop {
        if let Some((200, body)) = common::http_get(port, "/readyz") {
            assert_eq!(body, "ready\n");
            break;
        }
        assert!(t.elapsed().as_secs() < 30, "/readyz never became ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(common::http_get(port, "/healthz").map(|r| r.0), Some(200));
    let (status, metrics) = common::http_get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    let etl = r#"cicd_pipeline_name="test-etl",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job""#;
    for line in [
        format!("pipeline_bridge_pipeline_sla_seconds{{{etl}}} 240"),
        format!("pipeline_bridge_pipeline_max_success_interval_seconds{{{etl}}} 21600"),
        r#"pipeline_bridge_pipeline_info{cicd_pipeline_name="test-etl",cloud_account_id="123456789012",cloud_region="us-east-1",failure_severity="",pipeline_bridge_pipeline_kind="glue-job",project="lakehouse",team="orders"} 1"#.to_string(),
        r#"pipeline_bridge_pipeline_runs_total{cicd_pipeline_name="test-etl",cicd_pipeline_result="success",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job"} 2"#.to_string(),
        r#"pipeline_bridge_pipeline_runs_total{cicd_pipeline_name="test-etl",cicd_pipeline_result="timeout",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job"} 0"#.to_string(),
        r#"cicd_pipeline_run_errors_total{cicd_pipeline_name="test-etl",cloud_account_id="123456789012",cloud_region="us-east-1",error_type="java.lang.OutOfMemoryError",pipeline_bridge_pipeline_kind="glue-job"} 1"#.to_string(),
        r#"cicd_pipeline_run_active{cicd_pipeline_name="test-etl",cicd_pipeline_run_state="executing",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job"} 1"#.to_string(),
        "pipeline_bridge_runs_pending 0".to_string(),
        format!("pipeline_bridge_pipeline_sla_breaches_total{{{etl}}} 1"),
        r#"pipeline_bridge_pipeline_sla_breaches_total{cicd_pipeline_name="test-batch",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job"} 0"#.to_string(),
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing `{line}` in /metrics:\n{metrics}"
        );
    }
    for name in [
        "cicd_pipeline_run_duration_seconds_bucket{",
        "cicd_pipeline_run_duration_seconds_count{",
        "pipeline_bridge_task_duration_seconds_bucket{",
        "pipeline_bridge_glue_dpu_usage_total{",
        "pipeline_bridge_pipeline_last_success_timestamp_seconds{",
        "pipeline_bridge_aws_api_calls_total{",
        "pipeline_bridge_poll_cycle_duration_seconds_bucket{",
        "pipeline_bridge_poll_last_success_timestamp_seconds ",
        "pipeline_bridge_checkpoint_last_commit_timestamp_seconds ",
        "pipeline_bridge_export_lag_seconds_bucket{",
        "target_info{",
        "# TYPE cicd_pipeline_run_errors_total counter",
        "# TYPE cicd_pipeline_run_duration_seconds histogram",
        "# TYPE cicd_pipeline_run_active gauge",
    ] {
        assert!(metrics.contains(name), "missing {name} in /metrics");
    }
    assert!(
        !metrics.contains("cicd_pipeline_run_id"),
        "no run ids on metrics"
    );
    assert!(
        !metrics.lines().any(|l| l.starts_with(
            "pipeline_bridge_pipeline_sla_seconds{cicd_pipeline_name=\"customer-sync\""
        )),
        "no SLA where none is configured"
    );

    // The run longer than its SLA is flagged on its trace.
    let r = col.received_since(m);
    let etl_runs = glue_runs(&moto, "test-etl");
    let slow = r.root_of_run(run_id(&etl_runs[0]));
    assert_eq!(slow.attr("pipeline_bridge.sla"), Some("240"));
    assert_eq!(slow.attr("pipeline_bridge.sla.breached"), Some("true"));
    let batch = glue_runs(&moto, "test-batch");
    let quick = r.root_of_run(run_id(&batch[2]));
    assert_eq!(quick.attr("pipeline_bridge.sla"), Some("3600"));
    assert_eq!(quick.attr("pipeline_bridge.sla.breached"), Some("false"));
    let sfn_root = r.root_of_run(&execution_arn("customer-sync", "test-customer-sync-fail"));
    assert_eq!(sfn_root.attr("pipeline_bridge.sla"), None);
}

#[test]
fn tls_over_grpc_and_http_with_a_private_ca() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let st = std::process::Command::new("bash")
        .arg(common::repo().join("testing/make-test-certs.sh"))
        .arg(&certs)
        .status()
        .unwrap();
    assert!(st.success());
    let venv = common::venv();
    let proxy = |upstream: u16, name: &str| {
        let pf = dir.path().join(format!("{name}.port"));
        let child = std::process::Command::new(venv.join("bin/python"))
            .arg(common::repo().join("testing/tls_proxy.py"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--port-file",
                pf.to_str().unwrap(),
            ])
            .args(["--upstream", &format!("127.0.0.1:{upstream}")])
            .args(["--cert", certs.join("server.pem").to_str().unwrap()])
            .args(["--key", certs.join("server-key.pem").to_str().unwrap()])
            .spawn()
            .unwrap();
        let t = std::time::Instant::now();
        while !pf.exists() {
            assert!(t.elapsed().as_secs() < 20, "tls proxy did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&pf).unwrap().trim().to_string();
        (
            common::Server {
                child,
                name: "tls-proxy",
            },
            format!("https://localhost:{port}"),
        )
    };
    let (_g, grpc) = proxy(col.grpc_port, "grpc");
    let (_h, http) = proxy(col.http_port, "http");
    let ca = certs.join("ca.pem");
    for (i, (endpoint, protocol)) in [(grpc, "grpc"), (http, "http/protobuf")].iter().enumerate() {
        let state = dir.path().join(format!("state{i}"));
        let env = [
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca.to_str().unwrap()),
        ];
        let m = col.mark();
        let out = bridge(&["run", "--once", "--state", state.to_str().unwrap()], &env);
        assert!(out.status.success(), "{protocol} over TLS");
        assert_eq!(
            col.received_since(m).roots().len(),
            10,
            "{protocol} over TLS"
        );
    }
    // Without the CA the collector is not trusted and nothing is acknowledged.
    let state = dir.path().join("state-untrusted");
    let (_g2, grpc2) = proxy(col.grpc_port, "grpc2");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc2.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
    ];
    let out = bridge(&["run", "--once", "--state", state.to_str().unwrap()], &env);
    assert!(
        !out.status.success(),
        "an untrusted certificate fails the export"
    );
}

#[test]
fn check_runs_and_config_errors() {
    let moto = Moto::start("test");
    let env = [("AWS_ENDPOINT_URL", moto.endpoint.as_str())];
    let out = bridge(&["check"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok    glue") && stdout.contains("ok    step_functions"),
        "{stdout}"
    );
    assert!(stdout.contains(ACCOUNT));
    assert!(
        stdout.contains("ok    otlp traces       grpc → http://localhost:4317"),
        "{stdout}"
    );
    let out = bridge(
        &["check"],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stdout.contains("FAIL  otlp traces")
            && stdout.contains("OTEL_EXPORTER_OTLP_PROTOCOL=`udp`"),
        "{stdout}"
    );

    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let out = bridge(
        &["check"],
        &[
            ("AWS_ENDPOINT_URL", dead.as_str()),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    // The account line fails (its identity cannot be read); its sources are not probed.
    assert!(
        stdout.contains("FAIL  account")
            && stdout.contains("GetCallerIdentity")
            && stdout.contains("ConnectionError")
            && !stdout.contains("ok    glue"),
        "{stdout}"
    );

    let out = bridge(&["runs", "--since", "24h"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("RUN nightly-orders-pipeline") && stdout.contains("TransformRegions[2]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("in flight"),
        "the running Glue run is listed: {stdout}"
    );
    assert!(stdout.contains("CustomerSync.ValidationError: 3 rows failed validation"));
    assert!(stdout.contains("11 run(s)"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[glue]\nenabled = true\nincldue = [\"x\"]\n");
    let out = bridge(&["check", "--config", cfg.to_str().unwrap()], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("bridge.toml") && stderr.contains("line 3") && stderr.contains("incldue"),
        "{stderr}"
    );
}

/// `/metrics` lines of series `name` (exactly that name) whose labels include `label`.
fn series_lines<'a>(metrics: &'a str, name: &str, label: &str) -> Vec<&'a str> {
    metrics
        .lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .filter(|l| l.contains(label))
        .collect()
}

fn line_value(line: &str) -> f64 {
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

/// The last final failure per pipeline: a Glue attempt that Glue retries (the seeded jobs have
/// `MaxRetries` 1; test-etl's attempt 0 failed, attempt 1 succeeded) is counted and traced but
/// is no last failure, while test-batch's latest failure is, with its error type; the value
/// survives a restart (checkpoint). Also: a pipeline no longer listed loses its gauges; the
/// SLA breach count leaves out cancellations; the duration histogram has no `error_type` and
/// its points carry the latest run's trace as exemplar; the poll interval, start time and
/// failure severity are exported.
#[test]
fn last_failure_skips_glue_retries_and_survives_a_restart_and_unwatched_pipelines_go() {
    let moto = Moto::start("test");
    moto.python(
        "client('glue').create_job(Name='retired-job', Role='arn:aws:iam::123456789012:role/glue', \
           Command={'Name': 'glueetl', 'ScriptLocation': 's3://scripts/retired.py'}, \
           ExecutionProperty={'MaxConcurrentRuns': 10}, WorkerType='G.1X', NumberOfWorkers=2)\n\
         now = time.time()\n\
         inject('/_inject/glue-job-run-create', {'JobName': 'retired-job', 'fields': {'JobRunState': 'SUCCEEDED', \
                'StartedOn': now - 900.25, 'CompletedOn': now - 600.5}})\n",
    );
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "poll_interval = \"1s\"\ndiscovery_interval = \"1s\"\n\
         [[pipelines]]\nmatch = \"test-batch\"\nsla = \"30s\"\nfailure_severity = \"critical\"\n",
    );
    let (cfg, state) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let port = common::free_port();
    let m = col.mark();
    let child = common::bridge_cmd(&moto.endpoint)
        .args(["run", "--config", &cfg, "--state", &state])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &col.grpc)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let guard = common::Server {
        child,
        name: "bridge",
    };
    let t = std::time::Instant::now();
    while common::http_get(port, "/readyz").map(|r| r.0) != Some(200) {
        assert!(t.elapsed().as_secs() < 30, "/readyz never became ready");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let metrics = common::http_get(port, "/metrics").unwrap().1;
    let r = col.received_since(m);
    let (etl, batch) = (glue_runs(&moto, "test-etl"), glue_runs(&moto, "test-batch"));
    let last_failure = "pipeline_bridge_pipeline_last_failure_timestamp_seconds";
    let name = |n: &str| format!("cicd_pipeline_name=\"{n}\"");

    // The retried attempt: a failure on its trace and in the counts, flagged, no last failure.
    let retried = r.root_of_run(run_id(&etl[1]));
    assert_eq!(retried.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(retried.attr("pipeline_bridge.run.will_retry"), Some("true"));
    assert_eq!(
        r.root_of_run(run_id(&etl[2]))
            .attr("pipeline_bridge.run.will_retry"),
        None
    );
    assert!(
        series_lines(&metrics, last_failure, &name("test-etl")).is_empty(),
        "{metrics}"
    );
    let etl_failures = series_lines(
        &metrics,
        "pipeline_bridge_pipeline_runs_total",
        &name("test-etl"),
    );
    assert!(
        etl_failures
            .iter()
            .any(|l| l.contains("cicd_pipeline_result=\"failure\"") && l.ends_with(" 1")),
        "{metrics}"
    );
    // test-batch: its latest failure (the ERROR run) with its error type; Glue retries no
    // ERROR or TIMEOUT.
    let latest = r.root_of_run(run_id(&batch[2]));
    assert_eq!(latest.attr("pipeline_bridge.run.will_retry"), None);
    let et = latest.attr("error.type").unwrap().to_string();
    let lf = series_lines(&metrics, last_failure, &name("test-batch"));
    assert_eq!(lf.len(), 1, "{metrics}");
    assert!(lf[0].contains(&format!("error_type=\"{et}\"")), "{}", lf[0]);
    let batch_end = batch[2]["CompletedOn"].as_f64().unwrap();
    assert!((line_value(lf[0]) - batch_end).abs() < 0.01, "{}", lf[0]);
    assert_eq!(
        series_lines(&metrics, last_failure, &name("customer-sync")).len(),
        1,
        "a failed execution too"
    );
    // The same over OTLP.
    let pipe = |n: &'static str| [("cicd.pipeline.name", n)];
    assert!(r
        .points(
            "pipeline_bridge.pipeline.last_failure.timestamp",
            &pipe("test-etl")
        )
        .is_empty());
    let otlp_lf = r.points(
        "pipeline_bridge.pipeline.last_failure.timestamp",
        &pipe("test-batch"),
    );
    assert_eq!(otlp_lf.len(), 1);
    assert_eq!(otlp_lf[0].attrs.get("error.type"), Some(&et));
    assert!((otlp_lf[0].value - batch_end).abs() < 0.01);

    // SLA 30 s on test-batch: the 300 s time-out breaches it, the 45 s stop does not count.
    assert_eq!(
        series_lines(
            &metrics,
            "pipeline_bridge_pipeline_sla_breaches_total",
            &name("test-batch")
        )
        .iter()
        .map(|l| line_value(l))
        .collect::<Vec<_>>(),
        [1.0],
        "{metrics}"
    );
    // Failure severity on the info series, empty where none is configured.
    let info = |n: &str| series_lines(&metrics, "pipeline_bridge_pipeline_info", &name(n));
    assert!(info("test-batch")[0].contains("failure_severity=\"critical\""));
    assert!(info("test-etl")[0].contains("failure_severity=\"\""));
    // Single gauges of the bridge itself.
    assert!(metrics
        .lines()
        .any(|l| l == "pipeline_bridge_poll_interval_seconds 1"));
    let start = metrics
        .lines()
        .find(|l| l.starts_with("pipeline_bridge_start_time_seconds "))
        .map(line_value)
        .expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(start <= now && start > now - 120.0, "{start} vs {now}");
    // The duration histogram: no error type; each point's exemplar is its latest run's trace.
    assert!(metrics
        .lines()
        .filter(|l| l.starts_with("cicd_pipeline_run_duration_seconds"))
        .all(|l| !l.contains("error_type")));
    let points = r.points(
        "cicd.pipeline.run.duration",
        &[
            ("cicd.pipeline.name", "test-batch"),
            ("cicd.pipeline.result", "error"),
        ],
    );
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].exemplars.len(), 1, "{:?}", points[0]);
    let ex = &points[0].exemplars[0];
    assert_eq!(ex.get("Trace ID"), Some(&latest.trace_id));
    assert_eq!(ex.get("Span ID"), Some(&latest.id));
    let etl_ok = r.points(
        "cicd.pipeline.run.duration",
        &[
            ("cicd.pipeline.name", "test-etl"),
            ("cicd.pipeline.result", "success"),
        ],
    );
    assert_eq!(
        etl_ok[0].exemplars[0].get("Trace ID"),
        Some(&r.root_of_run(run_id(&etl[2])).trace_id),
        "the success that ended last"
    );

    // A job that goes away loses its gauges in a following cycle; its counters stay.
    assert_eq!(info("retired-job").len(), 1, "{metrics}");
    moto.python("client('glue').delete_job(JobName='retired-job')\n");
    let t = std::time::Instant::now();
    let metrics = loop {
        let metrics = common::http_get(port, "/metrics").unwrap().1;
        if series_lines(
            &metrics,
            "pipeline_bridge_pipeline_info",
            &name("retired-job"),
        )
        .is_empty()
        {
            break metrics;
        }
        assert!(
            t.elapsed().as_secs() < 20,
            "retired-job still reported: {metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    for gauge in [
        "pipeline_bridge_pipeline_last_success_timestamp_seconds",
        "cicd_pipeline_run_active",
    ] {
        assert!(
            series_lines(&metrics, gauge, &name("retired-job")).is_empty(),
            "{gauge}: {metrics}"
        );
    }
    assert_eq!(
        series_lines(
            &metrics,
            "pipeline_bridge_pipeline_runs_total",
            &name("retired-job")
        )
        .len(),
        5
    );
    assert_eq!(
        series_lines(&metrics, last_failure, &name("test-batch")).len(),
        1
    );
    drop(guard);

    // A restart: nothing new to export, the last failure comes back from the checkpoint.
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    assert!(out.status.success());
    let r2 = col.received_since(m);
    assert!(r2.spans.is_empty(), "nothing new to export");
    let lf2 = r2.points(
        "pipeline_bridge.pipeline.last_failure.timestamp",
        &pipe("test-batch"),
    );
    assert_eq!(lf2.len(), 1);
    assert_eq!(lf2[0].attrs.get("error.type"), Some(&et));
    assert!((lf2[0].value - batch_end).abs() < 0.01);
    assert!(r2
        .points(
            "pipeline_bridge.pipeline.last_failure.timestamp",
            &pipe("test-etl")
        )
        .is_empty());
    // Restored totals carry no exemplar.
    assert!(r2
        .points("cicd.pipeline.run.duration", &pipe("test-batch"))
        .iter()
        .all(|p| p.exemplars.is_empty()));
}

/// A state machine whose Task starts a Glue job run (`glue:startJobRun`, as moto's executor
/// runs it for real): the execution's trace shows the job run as a child of the Task, with the
/// run's own id and result, linked to the job run's own trace, which the Glue job source
/// exports (and counts) once.
#[test]
fn a_task_that_started_a_glue_job_run_shows_it_in_the_execution_trace() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    let out = moto.python(
        "glue = client('glue')\n\
         glue.create_job(Name='load-orders', Role='arn:aws:iam::123456789012:role/glue', \
           Command={'Name': 'glueetl', 'ScriptLocation': 's3://scripts/load.py'}, \
           ExecutionProperty={'MaxConcurrentRuns': 10}, WorkerType='G.1X', NumberOfWorkers=2)\n\
         sfn = client('stepfunctions')\n\
         definition = {'StartAt': 'StartLoad', 'States': {'StartLoad': {'Type': 'Task', \
           'Resource': 'arn:aws:states:::glue:startJobRun', \
           'Parameters': {'JobName': 'load-orders'}, 'End': True}}}\n\
         sm = sfn.create_state_machine(name='orders-kickoff', definition=json.dumps(definition), \
           roleArn='arn:aws:iam::123456789012:role/sfn')['stateMachineArn']\n\
         ex = sfn.start_execution(stateMachineArn=sm, name='kickoff-1')['executionArn']\n\
         for _ in range(100):\n\
         \x20   d = sfn.describe_execution(executionArn=ex)\n\
         \x20   if d['status'] != 'RUNNING': break\n\
         \x20   time.sleep(0.1)\n\
         runs = glue.get_job_runs(JobName='load-orders')['JobRuns']\n\
         print(json.dumps({'status': d['status'], 'runs': [r['Id'] for r in runs]}))\n",
    );
    let seeded: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(seeded["status"], "SUCCEEDED", "{seeded}");
    let job_run = seeded["runs"][0]
        .as_str()
        .expect("moto started a job run")
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let state = dir.path().join("state");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let args = [
        "run",
        "--once",
        "--config",
        cfg.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ];
    let out = bridge(&args, &env);
    assert!(out.status.success());
    let r = col.received_since(m);
    let exec = r.root_of_run(&execution_arn("orders-kickoff", "kickoff-1"));
    let task = r
        .children(exec)
        .into_iter()
        .find(|s| s.name == "StartLoad")
        .expect("the Task span");
    let glue = r.children(task);
    assert_eq!(glue.len(), 1, "the Glue job run inside the Task");
    let glue = glue[0];
    assert_eq!(glue.name, "load-orders");
    assert_eq!(
        glue.attr("aws.step_functions.state.type"),
        Some("GlueJobRun")
    );
    assert_eq!(
        glue.attr("cicd.pipeline.task.run.id"),
        Some(job_run.as_str())
    );
    assert_eq!(glue.attr("cicd.pipeline.task.run.result"), Some("success"));
    assert_eq!(glue.attr("aws.glue.job_run.state"), Some("SUCCEEDED"));
    assert_eq!(glue.links, 1, "linked to the job run's own trace");
    assert_eq!(task.links, 0, "the link moved to the child");
    // The job run's own trace, once, and counted once, by the Glue job source.
    let own: Vec<_> = r
        .roots()
        .into_iter()
        .filter(|s| s.attr("cicd.pipeline.run.id") == Some(job_run.as_str()))
        .collect();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].name, "RUN load-orders");
    assert_eq!(
        r.sum(
            "pipeline_bridge.pipeline.runs",
            &[("cicd.pipeline.name", "load-orders")]
        ),
        1.0
    );
    // Read again with data, and the started run read by id.
    assert_eq!(
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetExecutionHistory")]
        ),
        2.0
    );
    assert!(
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", "GetJobRun")]
        ) >= 1.0
    );
}
