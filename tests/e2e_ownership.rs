//! Owners from resource tags, end to end: moto (Glue jobs and a state machine with tags) → the
//! bridge binary → rotel. Tags name the team and project (`[ownership]`), `[[pipelines]]`
//! patterns fill in or win (`prefer`), a default team catches the rest, tag filters exclude,
//! and the tags are read once per discovery, not per cycle.

mod common;

use common::{bridge, write_config, Collector, Moto, Received};

fn config(prefer: &str) -> String {
    let off: String = [
        "glue_workflows",
        "glue_crawlers",
        "emr_serverless",
        "glue_data_quality",
        "emr",
    ]
    .iter()
    .map(|s| format!("[{s}]\nenabled = false\n"))
    .collect();
    format!(
        "poll_interval = \"1s\"\n{off}\
         [glue]\nexclude_tags = [\"env=dev\"]\n\
         [ownership]\nteam_tags = [\"team\", \"owner\"]\nproject_tags = [\"project\"]\n\
         prefer = \"{prefer}\"\ndefault_team = \"platform\"\n\
         [[pipelines]]\nmatch = \"billing-*\"\nteam = \"finance\"\n\
         [[pipelines]]\nmatch = \"conflict\"\nteam = \"finance\"\nproject = \"ledger\"\n"
    )
}

/// `team`/`project` of each watched pipeline, from `pipeline_bridge.pipeline.info`.
fn owners(r: &Received) -> Vec<(String, String, String)> {
    let mut v: Vec<(String, String, String)> = r
        .points("pipeline_bridge.pipeline.info", &[])
        .iter()
        .map(|p| {
            let a = |k: &str| p.attrs.get(k).cloned().unwrap_or_default();
            (a("cicd.pipeline.name"), a("team"), a("project"))
        })
        .collect();
    v.sort();
    v
}

fn calls_with(r: &Received, svc: &str, op: &str, outcome: &str) -> f64 {
    r.sum(
        "pipeline_bridge.aws.api.calls",
        &[
            ("aws.service", svc),
            ("aws.operation", op),
            ("outcome", outcome),
        ],
    )
}

fn calls(r: &Received, svc: &str, op: &str) -> f64 {
    r.sum(
        "pipeline_bridge.aws.api.calls",
        &[("aws.service", svc), ("aws.operation", op)],
    )
}

#[test]
fn tags_name_owners_patterns_fill_in_and_tag_filters_exclude() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    moto.python(
        "g = client('glue')\n\
         now = float(int(time.time()))\n\
         def job(name, tags, run_id):\n\
         \x20   g.create_job(Name=name, Role='r', Command={'Name': 'glueetl', 'ScriptLocation': 's3://b/s.py'}, Tags=tags)\n\
         \x20   inject('/_inject/glue-job-run-create', {'JobName': name, 'RunId': run_id, \
                 'fields': {'JobRunState': 'SUCCEEDED', 'StartedOn': now - 600, 'CompletedOn': now - 500, 'ExecutionTime': 95}})\n\
         job('orders-etl', {'team': 'orders', 'project': 'lakehouse'}, 'jr_orders')\n\
         job('billing-etl', {}, 'jr_billing')\n\
         job('conflict', {'owner': 'orders'}, 'jr_conflict')\n\
         job('mystery', {'team': ' '}, 'jr_mystery')\n\
         job('scratch-x', {'env': 'dev', 'team': 'orders'}, 'jr_scratch')\n\
         client('stepfunctions').create_state_machine(name='nightly', roleArn='arn:aws:iam::123456789012:role/sf', \
             definition=json.dumps({'StartAt': 'P', 'States': {'P': {'Type': 'Pass', 'End': True}}}), \
             tags=[{'key': 'team', 'value': 'analytics'}, {'key': 'project', 'value': 'reports'}])\n",
    );
    // The first read of one job's tags is refused: while its tags are unknown and tags filter
    // its source, it is not watched; the read is retried the next cycle, not at the next
    // discovery.
    moto.post(
        "/_inject/fault",
        serde_json::json!({"target": "AWSGlue.GetTags", "match": "mystery", "code": "AccessDeniedException", "count": 1}),
    );
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let run = |prefer: &str, cycles: &str| {
        let cfg = write_config(dir.path(), &config(prefer));
        let state = dir.path().join(format!("state-{prefer}"));
        let m = col.mark();
        let out = bridge(
            &[
                "run",
                "--cycles",
                cycles,
                "--config",
                cfg.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
            ],
            &env,
        );
        assert!(out.status.success());
        col.received_since(m)
    };

    // Tags win: a tag names the team (`team`, else `owner`), a pattern fills in for a job
    // without one, a blank tag counts as none, the default catches the rest; the dev job is
    // not watched at all.
    let r = run("tags", "2");
    let s = |x: &str| x.to_string();
    assert_eq!(
        owners(&r),
        vec![
            (s("billing-etl"), s("finance"), s("")),
            (s("conflict"), s("orders"), s("ledger")),
            (s("mystery"), s("platform"), s("")),
            (s("nightly"), s("analytics"), s("reports")),
            (s("orders-etl"), s("orders"), s("lakehouse")),
        ]
    );
    let orders = r.root_of_run("jr_orders");
    assert_eq!(
        orders
            .resource
            .get("pipeline_bridge.team")
            .map(String::as_str),
        Some("orders")
    );
    assert_eq!(
        orders
            .resource
            .get("pipeline_bridge.project")
            .map(String::as_str),
        Some("lakehouse")
    );
    assert_eq!(orders.attr("pipeline_bridge.team"), Some("orders"));
    assert!(
        r.roots()
            .iter()
            .all(|s| s.attr("cicd.pipeline.run.id") != Some("jr_scratch")),
        "the job tagged env=dev is excluded"
    );
    // Tags are read once per discovery (two cycles, one discovery): once per Glue job whose
    // name passes the filters (five), the refused one again the next cycle, once for the state
    // machine.
    assert_eq!(calls_with(&r, "glue", "GetTags", "success"), 5.0);
    assert_eq!(calls_with(&r, "glue", "GetTags", "error"), 1.0);
    assert_eq!(calls(&r, "sfn", "ListTagsForResource"), 1.0);

    // The patterns win: `conflict` is finance's, in the ledger project.
    let r = run("config", "1");
    let conflict = owners(&r)
        .into_iter()
        .find(|(n, _, _)| n == "conflict")
        .unwrap();
    assert_eq!(conflict, (s("conflict"), s("finance"), s("ledger")));
}
