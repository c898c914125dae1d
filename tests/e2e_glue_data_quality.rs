//! End to end for Glue Data Quality: moto (as AWS; the Data Quality APIs, which moto lacks,
//! served by `testing/harness_ext/glue_data_quality.py`) → the bridge binary → rotel (a real
//! OTLP collector). The Glue job source runs in the same process: an evaluation made inside a
//! job run lands in that job run's trace.

mod common;

use common::{bridge, write_config, Collector, Moto, Received, Span};
use serde_json::Value;

/// Epoch seconds the harness gave a result, as the nanoseconds a span carries.
fn ns(secs: f64) -> u128 {
    (secs * 1000.0).round() as u128 * 1_000_000
}

/// Spans (roots or not) of a run, by `cicd.pipeline.run.id`, that are run roots (no task id).
fn runs<'a>(r: &'a Received, run_id: &str) -> Vec<&'a Span> {
    r.spans
        .iter()
        .filter(|s| {
            s.attr("cicd.pipeline.run.id") == Some(run_id)
                && s.attr("cicd.pipeline.task.run.id").is_none()
        })
        .collect()
}

fn one<'a>(r: &'a Received, run_id: &str) -> &'a Span {
    let found = runs(r, run_id);
    assert_eq!(found.len(), 1, "{run_id}: {found:#?}");
    found[0]
}

/// Cumulative API calls of `op` in each metrics export that counts it, in order.
fn calls_after_each_cycle(r: &Received, op: &str) -> Vec<f64> {
    let mut by_batch = std::collections::BTreeMap::new();
    for p in &r.points {
        if p.metric == "pipeline_bridge.aws.api.calls"
            && p.attrs.get("aws.operation").map(String::as_str) == Some(op)
        {
            *by_batch.entry(p.batch).or_insert(0.0) += p.value;
        }
    }
    by_batch.into_values().collect()
}

/// A rule span: name, result, status message, `error.type`, description.
type RuleRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

const SETUP: &str = r#"
g = client('glue')
g.create_job(Name='orders-etl', Role='arn:aws:iam::123456789012:role/glue',
             Command={'Name': 'glueetl', 'ScriptLocation': 's3://b/orders_etl.py'},
             ExecutionProperty={'MaxConcurrentRuns': 10}, GlueVersion='4.0', WorkerType='G.1X', NumberOfWorkers=2)
g.create_data_quality_ruleset(Name='orders-dq', Ruleset='Rules = [ IsComplete "order_id", RowCount > 1000, ColumnValues "total" >= 0 ]',
                              TargetTable={'DatabaseName': 'sales', 'TableName': 'orders'})
g.create_data_quality_ruleset(Name='payments-dq', Ruleset='Rules = [ RowCount > 10, IsComplete "payment_id", ColumnValues "amount_usd" > 0, IsUnique "payment_id" ]',
                              TargetTable={'DatabaseName': 'finance', 'TableName': 'payments'})
now = float(int(time.time()))
job_start = now - 1200.5
job_run = inject('/_inject/glue-job-run-create', {'JobName': 'orders-etl', 'fields': {
    'JobRunState': 'SUCCEEDED', 'StartedOn': job_start, 'CompletedOn': job_start + 300.0, 'ExecutionTime': 295}})['JobRunId']
def rule(n, result, desc, msg=None, **metrics):
    r = {'Name': 'Rule_%d' % n, 'Description': desc, 'Result': result, 'EvaluatedMetrics': metrics}
    if msg: r['EvaluationMessage'] = msg
    return r
def result(rid, ruleset, db, table, start, secs, score, rules, **extra):
    body = {'ResultId': rid, 'RulesetName': ruleset, 'Score': score, 'StartedOn': start, 'CompletedOn': start + secs,
            'DataSource': {'GlueTable': {'DatabaseName': db, 'TableName': table}}, 'RuleResults': rules}
    body.update(extra)
    inject('/_inject/glue-data-quality-result', {'Result': body})
result('dqresult-pass', 'orders-dq', 'sales', 'orders', now - 1800.25, 63.25, 1.0,
       [rule(1, 'PASS', 'IsComplete "order_id"'), rule(2, 'PASS', 'RowCount > 1000'), rule(3, 'PASS', 'ColumnValues "total" >= 0')],
       EvaluationContext='orders-dq', RulesetEvaluationRunId='dqrun-pass')
result('dqresult-fail', 'payments-dq', 'finance', 'payments', now - 900.5, 74.125, 0.25,
       [rule(1, 'PASS', 'RowCount > 10'),
        rule(2, 'FAIL', 'IsComplete "payment_id"', 'Value: 0.9731 does not meet the constraint requirement!'),
        rule(3, 'ERROR', 'ColumnValues "amount_usd" > 0', 'Column amount_usd does not exist in the data source'),
        rule(4, 'FAIL', 'IsUnique "payment_id"', 'Value: 0.8 does not meet the constraint requirement!')],
       EvaluationContext='payments-dq', RulesetEvaluationRunId='dqrun-fail')
result('dqresult-in-job', 'orders-dq', 'sales', 'orders', job_start + 200.0, 40.5, 0.6667,
       [rule(1, 'PASS', 'IsComplete "order_id"'), rule(2, 'PASS', 'RowCount > 1000'),
        rule(3, 'FAIL', 'ColumnValues "total" >= 0', 'Value: -12.5 does not meet the constraint requirement!')],
       EvaluationContext='EvaluateDataQuality_node1', JobName='orders-etl', JobRunId=job_run)
result('dqresult-old', 'orders-dq', 'sales', 'orders', now - 3 * 86400, 60.0, 0.0, [rule(1, 'FAIL', 'RowCount > 1000', 'Value: 0')])
print(json.dumps({'now': now, 'job_run': job_run}))
"#;

#[test]
fn evaluations_become_traces_rules_become_spans_and_job_evaluations_join_the_job_run() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    let setup: Value = serde_json::from_str(moto.python(SETUP).trim()).unwrap();
    let now = setup["now"].as_f64().unwrap();
    let job_run = setup["job_run"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "poll_interval = \"1s\"\n\
         [step_functions]\nenabled = false\n[glue_crawlers]\nenabled = false\n\
         [glue_workflows]\nenabled = false\n[emr_serverless]\nenabled = false\n",
    );
    let (cfg, state) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--config", &cfg, "--state", &state];
        args.extend_from_slice(extra);
        let out = bridge(&args, &env);
        assert!(out.status.success());
    };
    let orders = [
        ("cicd.pipeline.name", "orders-dq"),
        ("aws.glue.data_quality.table", "sales.orders"),
    ];
    let payments = [
        ("cicd.pipeline.name", "payments-dq"),
        ("aws.glue.data_quality.table", "finance.payments"),
    ];

    // First process, one cycle: the job run, the passing and the failing evaluation (their
    // own traces), and the evaluation inside the job run (in its trace). Not the old one.
    let m0 = col.mark();
    run(&["--once"]);
    let r1 = col.received_since(m0);
    assert_eq!(
        r1.roots().len(),
        3,
        "the job run and two evaluations: {:#?}",
        r1.roots()
    );

    let pass = r1.root_of_run("dqresult-pass");
    assert_eq!(pass.name, "RUN orders-dq");
    assert_eq!(pass.kind, "SPAN_KIND_SERVER");
    assert_eq!(pass.start_ns, ns(now - 1800.25));
    assert_eq!(pass.end_ns, ns(now - 1800.25 + 63.25));
    assert_eq!(pass.status, "STATUS_CODE_UNSET");
    assert_eq!(pass.attr("error.type"), None);
    for (k, v) in [
        ("cicd.pipeline.result", "success"),
        (
            "cloud.resource_id",
            "arn:aws:glue:us-east-1:123456789012:dataQualityRuleset/orders-dq",
        ),
        (
            "cicd.pipeline.run.url.full",
            "https://us-east-1.console.aws.amazon.com/glue/home?region=us-east-1\
             #/v2/data-catalog/tables/evaluation-run-details/orders?database=sales\
             &catalogId=123456789012&runid=dqrun-pass",
        ),
        ("aws.glue.data_quality.score", "1"),
        ("aws.glue.data_quality.rules_passed", "3"),
        ("aws.glue.data_quality.rules_failed", "0"),
        ("aws.glue.data_quality.rules_errored", "0"),
        ("aws.glue.data_quality.database_name", "sales"),
        ("aws.glue.data_quality.table_name", "orders"),
        ("aws.glue.data_quality.evaluation_context", "orders-dq"),
        (
            "aws.glue.data_quality.ruleset_evaluation_run_id",
            "dqrun-pass",
        ),
    ] {
        assert_eq!(pass.attr(k), Some(v), "{k}");
    }
    assert_eq!(
        pass.resource.get("cloud.platform").map(String::as_str),
        Some("aws_glue")
    );
    let mut rules: Vec<(&str, &str)> = r1
        .children(pass)
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.attr("cicd.pipeline.task.run.result").unwrap(),
            )
        })
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            ("Rule_1", "success"),
            ("Rule_2", "success"),
            ("Rule_3", "success")
        ]
    );

    let fail = r1.root_of_run("dqresult-fail");
    assert_eq!(fail.name, "RUN payments-dq");
    assert_eq!(fail.status, "STATUS_CODE_ERROR");
    assert_eq!(fail.status_message, "2 of 4 rules failed: Rule_2, Rule_4");
    assert_eq!(fail.attr("error.type"), Some("RulesFailed"));
    assert_eq!(fail.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(fail.duration_ms(), 74_125);
    assert_eq!(fail.attr("aws.glue.data_quality.rules_failed"), Some("2"));
    assert_eq!(fail.attr("aws.glue.data_quality.rules_errored"), Some("1"));
    let mut children = r1.children(fail);
    children.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<RuleRow> = children
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.attr("cicd.pipeline.task.run.result").unwrap(),
                s.status_message.as_str(),
                s.attr("error.type"),
                s.attr("aws.glue.data_quality.rule.description"),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("Rule_1", "success", "", None, Some("RowCount > 10")),
            (
                "Rule_2",
                "failure",
                "Value: 0.9731 does not meet the constraint requirement!",
                Some("RuleFailed"),
                Some("IsComplete \"payment_id\""),
            ),
            (
                "Rule_3",
                "error",
                "Column amount_usd does not exist in the data source",
                Some("RuleError"),
                Some("ColumnValues \"amount_usd\" > 0"),
            ),
            (
                "Rule_4",
                "failure",
                "Value: 0.8 does not meet the constraint requirement!",
                Some("RuleFailed"),
                Some("IsUnique \"payment_id\""),
            ),
        ]
    );
    for c in &children {
        assert_eq!(c.trace_id, fail.trace_id);
        assert_eq!((c.start_ns, c.end_ns), (fail.start_ns, fail.end_ns));
    }

    // The evaluation inside the job run: in the job run's trace, below its root.
    let job = r1.root_of_run(&job_run);
    assert_eq!(job.name, "RUN orders-etl");
    let in_job = one(&r1, "dqresult-in-job");
    assert_eq!(in_job.name, "RUN orders-dq");
    assert_eq!(in_job.trace_id, job.trace_id);
    assert_eq!(in_job.parent, job.id);
    assert_eq!(in_job.kind, "SPAN_KIND_INTERNAL");
    assert_eq!(in_job.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(
        in_job.attr("aws.glue.data_quality.job_run_id"),
        Some(job_run.as_str())
    );
    assert_eq!(
        in_job.attr("cicd.pipeline.run.url.full"),
        Some(
            "https://us-east-1.console.aws.amazon.com/gluestudio/home?region=us-east-1\
             #/editor/job/orders-etl/dataquality"
        )
    );
    let rules = r1.children(in_job);
    assert_eq!(rules.len(), 3);
    assert!(rules.iter().all(|s| s.trace_id == job.trace_id));
    assert!(runs(&r1, "dqresult-old").is_empty());

    // Metrics: the latest score (the evaluation in the job run ended last for orders-dq), the
    // failed rules summed, per ruleset and table.
    let score = |r: &Received, want: &[(&str, &str)]| {
        let p = r.points("pipeline_bridge.glue.data_quality.score", want);
        assert_eq!(p.len(), 1, "{want:?}: {p:#?}");
        p[0].value
    };
    assert_eq!(score(&r1, &orders), 0.6667);
    assert_eq!(score(&r1, &payments), 0.25);
    assert_eq!(
        r1.sum("pipeline_bridge.glue.data_quality.rules_failed", &orders),
        1.0
    );
    assert_eq!(
        r1.sum("pipeline_bridge.glue.data_quality.rules_failed", &payments),
        2.0
    );
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.errors",
            &[
                ("cicd.pipeline.name", "payments-dq"),
                ("error.type", "RulesFailed")
            ]
        ),
        1.0
    );
    // Calls of the cycle: one listing of rulesets, one of results for both rulesets, one
    // batch of details.
    let calls =
        |r: &Received, op: &str| r.sum("pipeline_bridge.aws.api.calls", &[("aws.operation", op)]);
    assert_eq!(calls(&r1, "ListDataQualityRulesets"), 1.0);
    assert_eq!(calls(&r1, "ListDataQualityResults"), 1.0);
    assert_eq!(calls(&r1, "BatchGetDataQualityResult"), 1.0);
    assert_eq!(calls(&r1, "GetDataQualityResult"), 0.0);

    // A new evaluation; a second process runs two cycles. The first exports it (and only it);
    // the second lists again but reads no details (they are kept), and exports nothing.
    moto.python(&format!(
        "inject('/_inject/glue-data-quality-result', {{'Result': {{'ResultId': 'dqresult-later', \
         'RulesetName': 'payments-dq', 'Score': 1.0, 'StartedOn': {s}, 'CompletedOn': {s} + 30.0, \
         'DataSource': {{'GlueTable': {{'DatabaseName': 'finance', 'TableName': 'payments'}}}}, \
         'RuleResults': [{{'Name': 'Rule_1', 'Result': 'PASS'}}]}}}})",
        s = now - 60.0
    ));
    let m1 = col.mark();
    run(&["--cycles", "2"]);
    let r2 = col.received_since(m1);
    assert_eq!(r2.roots().len(), 1, "{:#?}", r2.roots());
    assert_eq!(r2.root_of_run("dqresult-later").name, "RUN payments-dq");
    // Cumulative counts after each cycle's metrics export (a process also exports once before
    // its first cycle, without API calls yet). The first cycle may list a second time, for a
    // ruleset whose window reaches further back than the first scan's: a fresh process knows
    // no earlier cycle. The second lists once and reads no details.
    let after_cycles = |op: &str| calls_after_each_cycle(&r2, op);
    let (list, details) = (
        after_cycles("ListDataQualityResults"),
        after_cycles("BatchGetDataQualityResult"),
    );
    assert_eq!(list.len(), 2, "two cycles: {list:?}");
    assert_eq!(
        list[1] - list[0],
        1.0,
        "one listing per cycle for all rulesets"
    );
    assert_eq!(
        details,
        [1.0, 1.0],
        "details are read once per process, for the results of the window"
    );
    assert_eq!(score(&r2, &payments), 1.0);
    assert_eq!(
        r2.sum("pipeline_bridge.glue.data_quality.rules_failed", &payments),
        2.0,
        "the total carries over"
    );

    // Across both processes, each evaluation exactly once.
    let all = col.received_since(m0);
    for id in [
        "dqresult-pass",
        "dqresult-fail",
        "dqresult-in-job",
        "dqresult-later",
    ] {
        assert_eq!(runs(&all, id).len(), 1, "{id}");
    }
    assert!(runs(&all, "dqresult-old").is_empty());
}
