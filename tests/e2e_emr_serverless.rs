//! End to end for EMR Serverless: moto (as AWS, job runs shaped at the harness edge by
//! `testing/harness_ext/emr_serverless.py`) → the bridge binary → rotel (a real OTLP
//! collector).

mod common;

use common::{bridge, write_config, Collector, Moto};
use serde_json::Value;

const APP_NAME: &str = "nightly-sessionize";

/// Creates the applications and three job runs (a success that queued 44.5 s, a failure, one
/// still running), shaped through the harness route. Returns the seed as JSON.
fn seed(moto: &Moto) -> Value {
    let out = moto.python(
        r#"
es = client('emr-serverless')
app = es.create_application(name='nightly-sessionize', releaseLabel='emr-7.1.0', type='SPARK')
es.start_application(applicationId=app['applicationId'])
# An application without runs: listed, scanned, nothing to export.
es.create_application(name='idle-app', releaseLabel='emr-7.1.0', type='SPARK')
role = 'arn:aws:iam::123456789012:role/emr-serverless-job-role'
def start(name):
    return es.start_job_run(applicationId=app['applicationId'], executionRoleArn=role, name=name,
        jobDriver={'sparkSubmit': {'entryPoint': 's3://example-code/sessionize.py'}})['jobRunId']
now = float(int(time.time()))
runs = {}
ok = start('sessionize-ok')
runs['ok'] = {'id': ok, 'fields': {'state': 'SUCCESS', 'createdAt': now - 600.25, 'startedAt': now - 555.75,
    'endedAt': now - 60.5, 'updatedAt': now - 60.5, 'mode': 'BATCH', 'attempt': 1,
    'queuedDurationMilliseconds': 30000, 'totalExecutionDurationSeconds': 495,
    'totalResourceUtilization': {'vCPUHour': 2.5, 'memoryGBHour': 10.0, 'storageGBHour': 50.0},
    'billedResourceUtilization': {'vCPUHour': 2.75, 'memoryGBHour': 11.0, 'storageGBHour': 0.0}}}
bad = start('sessionize-bad')
runs['bad'] = {'id': bad, 'fields': {'state': 'FAILED', 'createdAt': now - 300.0, 'startedAt': now - 290.0,
    'endedAt': now - 200.0, 'updatedAt': now - 200.0, 'mode': 'BATCH', 'attempt': 1,
    'stateDetails': 'Job failed, please check complete logs in configured logging destination. ExitCode: 1. Last few exceptions: org.apache.spark.sql.AnalysisException: Path does not exist: s3://example-raw/events',
    'totalResourceUtilization': {'vCPUHour': 0.25, 'memoryGBHour': 1.0, 'storageGBHour': 5.0},
    'billedResourceUtilization': {'vCPUHour': 0.5, 'memoryGBHour': 2.0, 'storageGBHour': 0.0}}}
live = start('sessionize-live')
runs['live'] = {'id': live, 'fields': {'state': 'RUNNING', 'createdAt': now - 100.0, 'startedAt': now - 90.0,
    'updatedAt': now - 90.0}}
for r in runs.values():
    inject('/_inject/emr_serverless-job-run', {'ApplicationId': app['applicationId'], 'JobRunId': r['id'], 'fields': r['fields']})
print(json.dumps({'app': app, 'runs': runs}))
"#,
    );
    serde_json::from_str(out.trim()).expect("seed summary")
}

fn ms(v: &Value) -> u128 {
    (v.as_f64().unwrap() * 1000.0).round() as u128
}

#[test]
fn job_runs_become_traces_with_queue_spans_utilization_and_errors() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    let seeded = seed(&moto);
    let (ok, bad, live) = (
        &seeded["runs"]["ok"],
        &seeded["runs"]["bad"],
        &seeded["runs"]["live"],
    );
    let id = |r: &Value| r["id"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "poll_interval = \"1s\"\n[glue]\nenabled = false\n[step_functions]\nenabled = false\n",
    );
    let state = dir.path().join("state");
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    // The shared target dir holds one bridge binary for every worktree: make sure it is one
    // with this source before reading anything into an empty collector.
    let probe = bridge(&["check", "--config", cfg.to_str().unwrap()], &env);
    assert!(
        String::from_utf8_lossy(&probe.stdout).contains("emr_serverless"),
        "the bridge binary has no emr_serverless source (built from another tree?)"
    );
    let m = col.mark();
    let out = bridge(
        &[
            "run",
            "--cycles",
            "2",
            "--config",
            cfg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
        &env,
    );
    assert!(out.status.success());
    let r = col.received_since(m);

    // Each finished run exactly once, over two cycles; the running one not at all.
    let roots = r.roots();
    assert_eq!(roots.len(), 2, "{:#?}", roots);
    for run in [ok, bad] {
        assert_eq!(
            roots
                .iter()
                .filter(|s| s.attr("cicd.pipeline.run.id") == Some(&id(run)))
                .count(),
            1
        );
    }
    assert!(roots
        .iter()
        .all(|s| s.attr("cicd.pipeline.run.id") != Some(&id(live))));

    // The success: real times, its queue span, its utilization.
    let f = &ok["fields"];
    let root = r.root_of_run(&id(ok));
    assert_eq!(root.name, format!("RUN {APP_NAME}"));
    assert_eq!(root.kind, "SPAN_KIND_SERVER");
    assert_eq!(root.status, "STATUS_CODE_UNSET");
    assert_eq!(root.attr("cicd.pipeline.result"), Some("success"));
    assert_eq!(root.start_ns / 1_000_000, ms(&f["createdAt"]));
    assert_eq!(root.end_ns / 1_000_000, ms(&f["endedAt"]));
    assert_eq!(
        root.resource.get("cloud.platform").map(String::as_str),
        Some("aws_emr_serverless")
    );
    assert_eq!(
        root.attr("cloud.resource_id"),
        seeded["app"]["arn"].as_str()
    );
    let app_id = seeded["app"]["applicationId"].as_str().unwrap();
    assert_eq!(
        root.attr("cicd.pipeline.run.url.full"),
        Some(
            format!(
                "https://us-east-1.console.aws.amazon.com/emr/home?region=us-east-1#/serverless-applications/{app_id}"
            )
            .as_str()
        )
    );
    for (k, v) in [
        ("aws.emr_serverless.application.id", app_id),
        ("aws.emr_serverless.job_run.name", "sessionize-ok"),
        ("aws.emr_serverless.job_run.state", "SUCCESS"),
        ("aws.emr_serverless.job_run.mode", "BATCH"),
        ("aws.emr_serverless.job_run.attempt", "1"),
        ("aws.emr_serverless.release_label", "emr-7.1.0"),
        (
            "aws.emr_serverless.execution_role",
            "arn:aws:iam::123456789012:role/emr-serverless-job-role",
        ),
        ("aws.emr_serverless.job_run.queued_duration_ms", "30000"),
        ("aws.emr_serverless.job_run.execution_duration", "495"),
        ("aws.emr_serverless.utilization.vcpu_hours", "2.5"),
        ("aws.emr_serverless.utilization.memory_gb_hours", "10"),
        ("aws.emr_serverless.utilization.storage_gb_hours", "50"),
        ("aws.emr_serverless.billed_utilization.vcpu_hours", "2.75"),
        (
            "aws.emr_serverless.billed_utilization.memory_gb_hours",
            "11",
        ),
        (
            "aws.emr_serverless.billed_utilization.storage_gb_hours",
            "0",
        ),
    ] {
        assert_eq!(root.attr(k), Some(v), "{k}");
    }
    assert!(root.attr("error.type").is_none());
    let children = r.children(root);
    assert_eq!(children.len(), 1);
    let queue = children[0];
    assert_eq!(queue.name, "queued");
    assert_eq!(queue.attr("cicd.pipeline.run.state"), Some("pending"));
    assert_eq!(queue.start_ns, root.start_ns);
    assert_eq!(queue.duration_ms(), 44_500, "createdAt → startedAt");

    // The failure: its error, its message alone as the status.
    let failed = r.root_of_run(&id(bad));
    assert_eq!(failed.status, "STATUS_CODE_ERROR");
    assert_eq!(failed.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(
        failed.attr("error.type"),
        Some("org.apache.spark.sql.AnalysisException")
    );
    assert_eq!(
        failed.status_message,
        bad["fields"]["stateDetails"].as_str().unwrap()
    );
    assert_eq!(failed.duration_ms(), 100_000);
    assert_eq!(r.children(failed).len(), 1, "10 s in the queue");

    // Metrics: utilization summed per application, exact; the generic run metrics.
    let pipe = [("cicd.pipeline.name", APP_NAME)];
    for (metric, want) in [
        ("pipeline_bridge.emr_serverless.vcpu_hours", 2.75),
        ("pipeline_bridge.emr_serverless.memory_gb_hours", 11.0),
        ("pipeline_bridge.emr_serverless.storage_gb_hours", 55.0),
        ("pipeline_bridge.emr_serverless.billed_vcpu_hours", 3.25),
        (
            "pipeline_bridge.emr_serverless.billed_memory_gb_hours",
            13.0,
        ),
    ] {
        assert_eq!(r.sum(metric, &pipe), want, "{metric}");
    }
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.errors",
            &[
                ("cicd.pipeline.name", APP_NAME),
                ("error.type", "org.apache.spark.sql.AnalysisException")
            ]
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.duration",
            &[
                ("cicd.pipeline.name", APP_NAME),
                ("cicd.pipeline.run.state", "pending")
            ]
        ),
        2.0,
        "both runs queued: each has a pending duration"
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", APP_NAME),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        1.0
    );
    // Calls: two applications listed in each of two cycles; GetJobRun once per finished run.
    let calls = |op: &str| {
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", op), ("outcome", "success")],
        )
    };
    assert_eq!(calls("ListJobRuns"), 4.0);
    assert_eq!(calls("GetJobRun"), 2.0);
    assert_eq!(calls("ListApplications"), 1.0, "discovery is cached");
    assert_eq!(calls("GetJobRuns"), 0.0, "Glue is disabled");
}
