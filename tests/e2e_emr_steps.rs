//! End to end for EMR on EC2 steps: moto (as AWS, steps shaped at the harness edge by
//! `testing/harness_ext/emr_steps.py`) → the bridge binary → rotel (a real OTLP collector).

mod common;

use common::{bridge, write_config, Collector, Moto};
use serde_json::Value;

const NAME: &str = "nightly-sessionize";

/// Two transient clusters of one name (the first ended, with a completed step; the second
/// running, with a failed step and a running one) and an idle cluster without steps. Returns
/// the seed as JSON.
fn seed(moto: &Moto) -> Value {
    let out = moto.python(
        r#"
emr = client('emr')
def cluster(name):
    return emr.run_job_flow(Name=name, ReleaseLabel='emr-7.1.0',
        Instances={'MasterInstanceType': 'm5.xlarge', 'SlaveInstanceType': 'm5.xlarge',
                   'InstanceCount': 3, 'KeepJobFlowAliveWhenNoSteps': True},
        JobFlowRole='EMR_EC2_DefaultRole', ServiceRole='EMR_DefaultRole')['JobFlowId']
def steps(cluster_id, names, action):
    return emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[
        {'Name': n, 'ActionOnFailure': action, 'HadoopJarStep': {'Jar': 'command-runner.jar',
         'Args': ['spark-submit', '--deploy-mode', 'cluster', '--conf',
                  'spark.hadoop.fs.s3a.secret.key=NOT-A-REAL-SECRET', f's3://example-code/{n}.py']}}
        for n in names])['StepIds']
now = float(int(time.time()))
old = cluster('nightly-sessionize')
[ok] = steps(old, ['sessionize'], 'TERMINATE_CLUSTER')
new = cluster('nightly-sessionize')
bad, live = steps(new, ['aggregate', 'publish'], 'CANCEL_AND_WAIT')
idle = cluster('idle-cluster')
shape = {
    ok: (old, {'State': 'COMPLETED', 'CreationDateTime': now - 900.0, 'StartDateTime': now - 850.5,
               'EndDateTime': now - 400.25}),
    bad: (new, {'State': 'FAILED', 'CreationDateTime': now - 380.0, 'StartDateTime': now - 300.0,
                'EndDateTime': now - 200.0, 'FailureDetails': {'Reason': 'Unknown Error.',
                'Message': 'Exception in thread "main" org.apache.spark.SparkException: Application application_1_0002 finished with failed status',
                'LogFile': f's3://example-logs/elasticmapreduce/{new}/steps/{bad}/stderr.gz'}}),
    live: (new, {'State': 'RUNNING', 'CreationDateTime': now - 150.0, 'StartDateTime': now - 100.0}),
}
for step, (c, fields) in shape.items():
    inject('/_inject/emr-step', {'ClusterId': c, 'StepId': step, 'fields': fields})
emr.terminate_job_flows(JobFlowIds=[old])
print(json.dumps({'old': old, 'new': new, 'idle': idle, 'ok': ok, 'bad': bad, 'live': live,
                  'shape': {k: v[1] for k, v in shape.items()}}))
"#,
    );
    serde_json::from_str(out.trim()).expect("seed summary")
}

fn ms(v: &Value) -> u128 {
    (v.as_f64().unwrap() * 1000.0).round() as u128
}

#[test]
fn steps_become_traces_with_their_cluster_queue_and_failure() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    let s = seed(&moto);
    let id = |k: &str| s[k].as_str().unwrap().to_string();
    let (ok, bad, live) = (id("ok"), id("bad"), id("live"));

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "poll_interval = \"1s\"\n[glue]\nenabled = false\n[step_functions]\nenabled = false\n\
         [glue_crawlers]\nenabled = false\n[glue_workflows]\nenabled = false\n\
         [emr_serverless]\nenabled = false\n",
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

    // Each finished step exactly once over two cycles; the running one not at all.
    let roots = r.roots();
    assert_eq!(roots.len(), 2, "{roots:#?}");
    for run in [&ok, &bad] {
        let n = (roots.iter())
            .filter(|sp| sp.attr("cicd.pipeline.run.id") == Some(run))
            .count();
        assert_eq!(n, 1, "{run}");
    }
    assert!(roots
        .iter()
        .all(|sp| sp.attr("cicd.pipeline.run.id") != Some(&live)));

    // The completed step, in the ended cluster: real times, its queue span, its cluster.
    let f = &s["shape"][&ok];
    let root = r.root_of_run(&ok);
    assert_eq!(root.name, format!("RUN {NAME}"));
    assert_eq!(root.kind, "SPAN_KIND_SERVER");
    assert_eq!(root.status, "STATUS_CODE_UNSET");
    assert_eq!(root.attr("cicd.pipeline.result"), Some("success"));
    assert_eq!(root.start_ns / 1_000_000, ms(&f["CreationDateTime"]));
    assert_eq!(root.end_ns / 1_000_000, ms(&f["EndDateTime"]));
    assert_eq!(
        root.resource.get("cloud.platform").map(String::as_str),
        Some("aws_emr")
    );
    let old = id("old");
    assert_eq!(
        root.attr("cloud.resource_id"),
        Some(format!("arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/{old}").as_str())
    );
    assert_eq!(
        root.attr("cicd.pipeline.run.url.full"),
        Some(
            format!(
                "https://us-east-1.console.aws.amazon.com/emr/home?region=us-east-1#/clusterDetails/{old}"
            )
            .as_str()
        )
    );
    for (k, v) in [
        ("aws.emr.cluster.id", old.as_str()),
        ("aws.emr.cluster.name", NAME),
        ("aws.emr.step.name", "sessionize"),
        ("aws.emr.step.state", "COMPLETED"),
        ("aws.emr.step.action_on_failure", "TERMINATE_CLUSTER"),
        ("aws.emr.step.jar", "command-runner.jar"),
        ("aws.emr.step.command", "spark-submit"),
        ("aws.emr.step.args_count", "6"),
    ] {
        assert_eq!(root.attr(k), Some(v), "{k}");
    }
    assert!(root.attr("error.type").is_none());
    assert!(
        !root.attrs.values().any(|v| v.contains("NOT-A-REAL-SECRET")),
        "arguments past the first are never exported"
    );
    let children = r.children(root);
    assert_eq!(children.len(), 1);
    let queue = children[0];
    assert_eq!(queue.name, "queued");
    assert_eq!(queue.attr("cicd.pipeline.run.state"), Some("pending"));
    assert_eq!(queue.start_ns, root.start_ns);
    assert_eq!(
        queue.duration_ms(),
        49_500,
        "CreationDateTime → StartDateTime"
    );

    // The failed step, in the running cluster: its class, its message alone as the status.
    let failed = r.root_of_run(&bad);
    let new = id("new");
    assert_eq!(failed.status, "STATUS_CODE_ERROR");
    assert_eq!(failed.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(
        failed.attr("error.type"),
        Some("org.apache.spark.SparkException")
    );
    assert_eq!(
        failed.status_message,
        s["shape"][&bad]["FailureDetails"]["Message"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        failed.attr("aws.emr.step.failure.reason"),
        Some("Unknown Error.")
    );
    assert_eq!(
        failed.attr("aws.emr.step.failure.log_file"),
        Some(format!("s3://example-logs/elasticmapreduce/{new}/steps/{bad}/stderr.gz").as_str())
    );
    assert_eq!(failed.attr("aws.emr.cluster.id"), Some(new.as_str()));
    assert_eq!(failed.attr("aws.emr.cluster.name"), Some(NAME));
    assert_eq!(
        failed.attr("aws.emr.step.action_on_failure"),
        Some("CANCEL_AND_WAIT")
    );
    assert_eq!(failed.duration_ms(), 180_000);
    let q = r.children(failed);
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].duration_ms(),
        80_000,
        "80 s behind the cluster's other steps"
    );

    // Metrics: the run counter exact, per result; errors by type; the running step active.
    let pipe = |k: &'static str, v: &'static str| [("cicd.pipeline.name", NAME), (k, v)];
    assert_eq!(
        r.sum(
            "pipeline_bridge.pipeline.runs",
            &[("cicd.pipeline.name", NAME)]
        ),
        2.0
    );
    assert_eq!(
        r.sum(
            "pipeline_bridge.pipeline.runs",
            &pipe("cicd.pipeline.result", "success")
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "pipeline_bridge.pipeline.runs",
            &pipe("cicd.pipeline.result", "failure")
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.errors",
            &pipe("error.type", "org.apache.spark.SparkException")
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.duration",
            &pipe("cicd.pipeline.run.state", "pending")
        ),
        2.0,
        "both steps queued: each has a pending duration"
    );
    assert_eq!(
        r.sum(
            "cicd.pipeline.run.active",
            &pipe("cicd.pipeline.run.state", "executing")
        ),
        1.0
    );
    assert_eq!(
        r.sum(
            "pipeline_bridge.pipeline.runs",
            &[("cicd.pipeline.name", "idle-cluster")]
        ),
        0.0
    );

    // Calls: one discovery (two ListClusters); ListSteps for all three clusters in the first
    // cycle, then only the two active ones (the ended cluster is settled once its step was
    // exported); no DescribeStep (every awaited step is listed).
    let calls = |op: &str| {
        r.sum(
            "pipeline_bridge.aws.api.calls",
            &[("aws.operation", op), ("outcome", "success")],
        )
    };
    assert_eq!(calls("ListClusters"), 2.0, "discovery is cached");
    assert_eq!(calls("ListSteps"), 5.0);
    assert_eq!(calls("DescribeStep"), 0.0);
    assert_eq!(
        r.sum("pipeline_bridge.aws.api.calls", &[("outcome", "error")]),
        0.0
    );
}
