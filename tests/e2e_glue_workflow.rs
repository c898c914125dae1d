//! End to end for Glue workflows: moto (shaped at the edge by
//! `testing/harness_ext/glue_workflow.py`) → the bridge binary → rotel, a real OTLP collector.

mod common;

use common::{write_config, Collector, Moto, Span};
use serde_json::Value;
use std::collections::BTreeSet;

const WORKFLOW: &str = "e2e-orders";
const ARN: &str = "arn:aws:glue:us-east-1:123456789012:workflow/e2e-orders";

/// Seeds one workflow with three runs: one whose transform job failed (Glue says
/// COMPLETED), one that fully succeeded, one still running. Returns what was created.
fn seed(moto: &Moto) -> Value {
    let out = moto.python(
        r#"
g = client('glue')
role = 'arn:aws:iam::123456789012:role/etl'
for job in ('wf-extract', 'wf-transform'):
    g.create_job(Name=job, Role=role, Command={'Name': 'glueetl', 'ScriptLocation': 's3://b/' + job + '.py'},
                 GlueVersion='4.0', WorkerType='G.1X', NumberOfWorkers=2)
g.create_workflow(Name='e2e-orders')
now = int(time.time())
out = {}
for key, ago, outcome in (('failed', 3000, 'failure'), ('ok', 1500, 'success'), ('running', 60, 'running')):
    t = now - ago + 0.25
    run_id = g.start_workflow_run(Name='e2e-orders')['RunId']
    args = {'--WORKFLOW_NAME': 'e2e-orders', '--WORKFLOW_RUN_ID': run_id, '--extra': 'x'}
    def job_run(job, state, start, end, msg=None):
        fields = {'JobRunState': state, 'StartedOn': start, 'CompletedOn': end, 'ExecutionTime': int(end - start),
                  'Arguments': args}
        if msg: fields['ErrorMessage'] = msg
        return inject('/_inject/glue-job-run-create', {'JobName': job, 'fields': fields})['JobRunId']
    extract = job_run('wf-extract', 'SUCCEEDED', t + 1.5, t + 121.5)
    nodes = [{'Type': 'TRIGGER', 'Name': 'e2e-start', 'UniqueId': 'wnode_start'},
             {'Type': 'JOB', 'Name': 'wf-extract', 'UniqueId': 'wnode_extract', 'JobRunIds': [extract]}]
    fields = {'StartedOn': t, 'Graph': {'Nodes': nodes}}
    run = {'RunId': run_id, 'StartedOn': t, 'Extract': extract}
    if outcome == 'running':
        fields['Statistics'] = {'TotalActions': 3, 'SucceededActions': 1, 'RunningActions': 1, 'WaitingActions': 1}
    else:
        failed = outcome == 'failure'
        nodes.append({'Type': 'CRAWLER', 'Name': 'wf-crawler', 'UniqueId': 'wnode_crawler',
                      'CrawlerDetails': {'Crawls': [{'State': 'SUCCEEDED', 'StartedOn': t + 125.0, 'CompletedOn': t + 191.0}]}})
        transform = job_run('wf-transform', 'FAILED' if failed else 'SUCCEEDED', t + 195.0, t + 495.0,
                            'An error occurred while calling o99.pyWriteDynamicFrame. java.lang.OutOfMemoryError: Java heap space' if failed else None)
        nodes.append({'Type': 'JOB', 'Name': 'wf-transform', 'UniqueId': 'wnode_transform', 'JobRunIds': [transform]})
        fields.update({'Status': 'COMPLETED', 'CompletedOn': t + 500.5,
                       'Statistics': {'TotalActions': 3, 'SucceededActions': 2 if failed else 3,
                                      'FailedActions': 1 if failed else 0, 'StoppedActions': 0,
                                      'TimeoutActions': 0, 'ErroredActions': 0, 'RunningActions': 0, 'WaitingActions': 0}})
        run.update({'Transform': transform, 'CompletedOn': t + 500.5})
    inject('/_inject/glue-workflow-run', {'Name': 'e2e-orders', 'RunId': run_id, 'fields': fields})
    out[key] = run
print(json.dumps(out))
"#,
    );
    serde_json::from_str(&out).unwrap()
}

/// `common::bridge`, but the binary may be named by `E2E_BRIDGE_BIN`: several worktrees that
/// share one target directory overwrite each other's `target/debug/pipeline-otel-bridge`
/// while tests run, so a checkout verifies with a copy of its own build. Unset, it is the
/// binary Cargo built for this test.
fn bridge(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let bin = std::env::var("E2E_BRIDGE_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_pipeline-otel-bridge").to_string());
    let mut cmd = std::process::Command::new(bin);
    cmd.env_remove("AWS_PROFILE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PIPELINE_BRIDGE_LOG", "info")
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the bridge");
    eprintln!(
        "--- bridge {args:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap()
}

fn ms(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// The trace ids each span links to, read from the collector's log (`SpanLink #n` blocks
/// follow their span), by span id.
fn links(log: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_link = false;
    let mut last_field_id = None;
    for line in log.lines() {
        let t = line.trim();
        // Metrics follow the spans, and their exemplars carry trace ids too.
        if t.starts_with("Span #") || t.starts_with("Resource") || t.starts_with("Scope") {
            in_link = false;
            last_field_id = None;
        } else if t.starts_with("SpanLink #") {
            in_link = true;
            if let Some(id) = last_field_id.take() {
                out.push((id, Vec::new()));
            }
        } else if let Some(v) = t.strip_prefix("ID").filter(|_| !in_link) {
            last_field_id = Some(v.trim_start_matches([' ', ':']).trim().to_string());
        } else if let Some(v) = t.strip_prefix("-> Trace ID").filter(|_| in_link) {
            if let Some(last) = out.last_mut() {
                last.1
                    .push(v.trim_start_matches([' ', ':']).trim().to_string());
            }
        }
    }
    out
}

fn linked_traces<'a>(all: &'a [(String, Vec<String>)], span: &Span) -> &'a [String] {
    all.iter()
        .find(|(id, _)| *id == span.id)
        .map_or(&[], |(_, t)| t.as_slice())
}

#[test]
fn workflow_runs_arrive_once_with_their_jobs_crawls_and_links() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    let seeded = seed(&moto);
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "[step_functions]\nenabled = false\n");
    let (cfg, state) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
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
    let r = col.received_since(m);
    let log = std::fs::read_to_string(col.log_path()).unwrap()[m..].to_string();
    let span_links = links(&log);

    // Two finished workflow runs and their five finished job runs (the running workflow run's
    // extract job ended), each exactly once; the running workflow run is not exported.
    let roots: Vec<&Span> = r.roots();
    let mut names: Vec<&str> = roots.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "RUN e2e-orders",
            "RUN e2e-orders",
            "RUN wf-extract",
            "RUN wf-extract",
            "RUN wf-extract",
            "RUN wf-transform",
            "RUN wf-transform"
        ]
    );
    assert!(roots
        .iter()
        .all(|s| s.attr("cicd.pipeline.run.id") != Some(s_run(&seeded, "running"))));

    let (failed, ok) = (&seeded["failed"], &seeded["ok"]);
    let wf_failed = r.root_of_run(s(failed, "RunId"));
    assert_eq!(wf_failed.kind, "SPAN_KIND_SERVER");
    assert_eq!(wf_failed.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(wf_failed.status, "STATUS_CODE_ERROR");
    assert_eq!(wf_failed.attr("error.type"), Some("ActionsFailed"));
    assert!(wf_failed
        .status_message
        .contains("1 of 3 actions failed; first: wf-transform"));
    assert_eq!(
        wf_failed.attr("aws.glue.workflow.run.status"),
        Some("COMPLETED")
    );
    assert_eq!(
        wf_failed.attr("aws.glue.workflow.actions.failed"),
        Some("1")
    );
    assert_eq!(wf_failed.attr("aws.glue.workflow.actions.total"), Some("3"));
    assert_eq!(wf_failed.attr("cloud.resource_id"), Some(ARN));
    assert_eq!(
        wf_failed.resource.get("cloud.platform").map(String::as_str),
        Some("aws_glue")
    );
    assert_eq!(
        wf_failed.attr("cicd.pipeline.run.url.full"),
        Some("https://us-east-1.console.aws.amazon.com/glue/home?region=us-east-1#/v2/etl-configuration/workflows/view/e2e-orders")
    );
    let t0 = failed["StartedOn"].as_f64().unwrap();
    assert_eq!((wf_failed.start_ns / 1_000_000) as i64, ms(t0));
    assert_eq!(wf_failed.duration_ms(), 500_500);

    // Its job runs and crawl are child spans with their real times; no trigger span.
    let children = r.children(wf_failed);
    let mut child_names: Vec<&str> = children.iter().map(|c| c.name.as_str()).collect();
    child_names.sort();
    assert_eq!(child_names, ["wf-crawler", "wf-extract", "wf-transform"]);
    let child = |name: &str| *children.iter().find(|c| c.name == name).unwrap();
    let transform = child("wf-transform");
    assert_eq!(
        transform.attr("cicd.pipeline.task.run.id"),
        Some(s(failed, "Transform"))
    );
    assert_eq!(
        transform.attr("cicd.pipeline.task.run.result"),
        Some("failure")
    );
    assert_eq!(
        transform.attr("error.type"),
        Some("java.lang.OutOfMemoryError")
    );
    assert_eq!(transform.status, "STATUS_CODE_ERROR");
    assert_eq!((transform.start_ns / 1_000_000) as i64, ms(t0 + 195.0));
    assert_eq!(transform.duration_ms(), 300_000);
    let crawl = child("wf-crawler");
    assert_eq!(
        crawl.attr("cicd.pipeline.task.run.id").map(str::to_string),
        Some(format!("wf-crawler@{}", ms(t0 + 125.0)))
    );
    assert_eq!(crawl.attr("aws.glue.workflow.node.type"), Some("CRAWLER"));
    assert_eq!(crawl.duration_ms(), 66_000);
    assert_eq!(
        child("wf-extract").attr("cicd.pipeline.task.run.result"),
        Some("success")
    );

    // Links both ways: the workflow's span of a job run → the job run's trace, and the job
    // run's root → the workflow run's trace.
    for (run, wf_root) in [(failed, wf_failed), (ok, r.root_of_run(s(ok, "RunId")))] {
        for (job, key) in [("wf-extract", "Extract"), ("wf-transform", "Transform")] {
            let job_root = r.root_of_run(s(run, key));
            assert_eq!(job_root.name, format!("RUN {job}"));
            let task = r
                .children(wf_root)
                .into_iter()
                .find(|c| c.attr("cicd.pipeline.task.run.id") == Some(s(run, key)))
                .unwrap();
            assert_eq!(
                linked_traces(&span_links, task),
                std::slice::from_ref(&job_root.trace_id)
            );
            assert_eq!(
                linked_traces(&span_links, job_root),
                std::slice::from_ref(&wf_root.trace_id)
            );
            assert_ne!(job_root.trace_id, wf_root.trace_id);
        }
    }
    let job_failed = r.root_of_run(s(failed, "Transform"));
    assert_eq!(job_failed.attr("cicd.pipeline.result"), Some("failure"));

    // The fully successful run.
    let wf_ok = r.root_of_run(s(ok, "RunId"));
    assert_eq!(wf_ok.attr("cicd.pipeline.result"), Some("success"));
    assert_eq!(wf_ok.status, "STATUS_CODE_UNSET");
    assert!(wf_ok.attr("error.type").is_none());
    assert_eq!(r.children(wf_ok).len(), 3);

    // Metrics: the workflow counts its runs, the jobs theirs.
    let wf = [("cicd.pipeline.name", WORKFLOW)];
    assert_eq!(r.sum("cicd.pipeline.run.duration", &wf), 2.0);
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.errors",
            &[
                ("cicd.pipeline.name", WORKFLOW),
                ("error.type", "ActionsFailed")
            ]
        ),
        1.0
    );
    assert_eq!(r.sum("cicd.pipeline.run.errors", &wf), 1.0);
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", WORKFLOW),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.duration",
            &[("cicd.pipeline.name", "wf-transform")]
        ),
        2.0
    );
    let calls = |op: &str| r.sum("pipeline_bridge.aws.api.calls", &[("aws.operation", op)]);
    assert_eq!(calls("ListWorkflows"), 1.0);
    assert_eq!(
        calls("GetWorkflowRuns"),
        1.0,
        "one workflow, one page, one cycle"
    );
    assert_eq!(calls("GetWorkflowRun"), 0.0);

    // A second process with the same state sends nothing again and counts nothing twice.
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state],
        &env,
    );
    assert!(out.status.success());
    let r2 = col.received_since(m);
    assert!(r2.spans.is_empty(), "nothing new to export");
    assert_eq!(r2.sum("cicd.pipeline.run.duration", &wf), 2.0);
    let ids: BTreeSet<_> = r.spans.iter().map(|s| (&s.trace_id, &s.id)).collect();
    assert_eq!(ids.len(), r.spans.len(), "no span twice");
}

fn s_run<'a>(seeded: &'a Value, key: &str) -> &'a str {
    s(&seeded[key], "RunId")
}
