//! End to end for pipeline deadlines (`[[deadlines]]`, docs/deadlines.md): moto (as AWS, Glue
//! job runs shaped with chosen end times) → the bridge binary → rotel (a real OTLP collector).
//!
//! The deadlines are set relative to the wall clock, in UTC with a daily schedule, so the test
//! does not depend on the date or the time of day: "by" 10 minutes ago (one pipeline met it,
//! one missed it) and "by" in 2 hours (one pipeline already met it, one is pending).

mod common;

use common::{bridge, write_config, Collector, Moto, Received};

fn state(r: &Received, pipeline: &str, deadline: &str, period: &str, state: &str) -> f64 {
    let p = r.points(
        "pipeline_bridge.deadline.state",
        &[
            ("cicd.pipeline.name", pipeline),
            ("pipeline_bridge.deadline", deadline),
            ("period", period),
            ("state", state),
        ],
    );
    assert_eq!(p.len(), 1, "{pipeline} {deadline} {period} {state}: {p:?}");
    p[0].value
}

fn value(r: &Received, metric: &str, want: &[(&str, &str)]) -> Option<f64> {
    let p = r.points(metric, want);
    assert!(p.len() <= 1, "{metric} {want:?}: {p:?}");
    p.first().map(|p| p.value)
}

#[test]
fn deadlines_met_missed_and_pending() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    // Whole seconds: the end times come back exactly. `past`/`future`: the deadlines' instants
    // (whole minutes), as "HH:MM" in UTC.
    let out = moto.python(
        "g = client('glue')\n\
         for name in ['orders-daily', 'orders-missing', 'orders-late', 'reports-daily', 'exports-daily']:\n\
         \x20   g.create_job(Name=name, Role='arn:aws:iam::123456789012:role/glue', \
                Command={'Name': 'glueetl', 'ScriptLocation': 's3://scripts/x.py'})\n\
         now = float(int(time.time()))\n\
         past = (int(now) - 600) // 60 * 60\n\
         future = (int(now) + 7200) // 60 * 60\n\
         def run(name, state, start, end): inject('/_inject/glue-job-run-create', {'JobName': name, \
             'fields': {'JobRunState': state, 'StartedOn': start, 'CompletedOn': end}})\n\
         run('orders-daily', 'SUCCEEDED', now - 2400, now - 1800)\n\
         run('orders-missing', 'FAILED', now - 1500, now - 1200)\n\
         run('reports-daily', 'SUCCEEDED', now - 4000, now - 3600)\n\
         run('orders-late', 'SUCCEEDED', now - 400, now - 300)\n\
         hm = lambda t: time.strftime('%H:%M', time.gmtime(t))\n\
         print(now, past, future, hm(past), hm(future))\n",
    );
    let f: Vec<&str> = out.split_whitespace().collect();
    let num = |i: usize| f[i].parse::<f64>().unwrap();
    let (now, past, future, by_past, by_future) = (num(0), num(1), num(2), f[3], f[4]);

    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        &format!(
            "[step_functions]\nenabled = false\n\
             [[deadlines]]\nmatch = \"orders-*\"\nby = \"{by_past}\"\n\
             [[deadlines]]\nmatch = \"reports-*\"\nname = \"morning report\"\nby = \"{by_future}\"\ntime_zone = \"UTC\"\ndays = [\"daily\"]\nwindow = \"6h\"\n\
             [[deadlines]]\nmatch = \"exports-*\"\nkind = \"glue-job\"\naccount = \"123456789012\"\nby = \"{by_future}\"\n\
             [[deadlines]]\nmatch = \"exports-*\"\nname = \"other account\"\naccount = \"999999999999\"\nby = \"{by_future}\"\n"
        ),
    );
    let (cfg, state_dir) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state_dir],
        &env,
    );
    assert!(out.status.success());
    let r = col.received_since(m);

    let orders = format!("by {by_past} UTC daily");
    let exports = format!("by {by_future} UTC daily");
    let report = "morning report";

    // Met: a success 30 min before a deadline 10 min ago.
    assert_eq!(state(&r, "orders-daily", &orders, "previous", "met"), 1.0);
    assert_eq!(
        state(&r, "orders-daily", &orders, "previous", "missed"),
        0.0
    );
    assert_eq!(state(&r, "orders-daily", &orders, "next", "pending"), 1.0);
    assert_eq!(state(&r, "orders-daily", &orders, "next", "met"), 0.0);
    let daily = [
        ("cicd.pipeline.name", "orders-daily"),
        ("pipeline_bridge.deadline", orders.as_str()),
    ];
    let mut previous = daily.to_vec();
    previous.push(("period", "previous"));
    assert_eq!(
        value(&r, "pipeline_bridge.deadline.met.timestamp", &previous),
        Some(now - 1800.0)
    );
    assert_eq!(
        value(&r, "pipeline_bridge.deadline.next.timestamp", &daily),
        Some(past + 86400.0)
    );
    assert_eq!(
        value(&r, "pipeline_bridge.deadline.missed", &daily),
        Some(0.0)
    );

    // Missed: only a failed run before the deadline; counted once.
    assert_eq!(
        state(&r, "orders-missing", &orders, "previous", "missed"),
        1.0
    );
    assert_eq!(state(&r, "orders-missing", &orders, "previous", "met"), 0.0);
    let missing = [
        ("cicd.pipeline.name", "orders-missing"),
        ("pipeline_bridge.deadline", orders.as_str()),
    ];
    assert_eq!(
        value(&r, "pipeline_bridge.deadline.missed", &missing),
        Some(1.0)
    );
    assert_eq!(
        value(&r, "pipeline_bridge.deadline.met.timestamp", &missing),
        None
    );

    // Late: the success came 5 min after the deadline. The deadline stays missed (counted),
    // in the state `late`; with the default 24 h window the success meets the next one.
    assert_eq!(state(&r, "orders-late", &orders, "previous", "late"), 1.0);
    assert_eq!(state(&r, "orders-late", &orders, "previous", "missed"), 0.0);
    assert_eq!(state(&r, "orders-late", &orders, "next", "met"), 1.0);
    assert_eq!(
        value(
            &r,
            "pipeline_bridge.deadline.missed",
            &[("cicd.pipeline.name", "orders-late")]
        ),
        Some(1.0)
    );
    assert_eq!(
        state(&r, "orders-missing", &orders, "previous", "late"),
        0.0
    );

    // Next deadline already met (a success 1 h ago, within its 6 h window); the one before,
    // 22 h ago, had no success in its window: missed, and late since that success.
    assert_eq!(state(&r, "reports-daily", report, "next", "met"), 1.0);
    assert_eq!(state(&r, "reports-daily", report, "next", "pending"), 0.0);
    assert_eq!(state(&r, "reports-daily", report, "previous", "late"), 1.0);
    assert_eq!(
        value(
            &r,
            "pipeline_bridge.deadline.next.timestamp",
            &[("cicd.pipeline.name", "reports-daily")]
        ),
        Some(future)
    );

    // Pending: no run at all, deadline in 2 h. The entry for another account does not apply.
    assert_eq!(state(&r, "exports-daily", &exports, "next", "pending"), 1.0);
    assert!(r
        .points(
            "pipeline_bridge.deadline.state",
            &[("pipeline_bridge.deadline", "other account")]
        )
        .is_empty());
    // Only the matching pipelines have deadline series: 3 + 1 + 1 pipelines x 5 states.
    assert_eq!(r.points("pipeline_bridge.deadline.state", &[]).len(), 25);
    let labels = &r.points(
        "pipeline_bridge.deadline.next.timestamp",
        &[("cicd.pipeline.name", "exports-daily")],
    )[0]
    .attrs;
    for k in [
        "pipeline_bridge.pipeline.kind",
        "cloud.account.id",
        "cloud.region",
    ] {
        assert!(labels.contains_key(k), "{k}: {labels:?}");
    }

    // A second process: the successes come back from the checkpoint (the last success), so the
    // met deadline stays met though nothing new is exported.
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", &cfg, "--state", &state_dir],
        &env,
    );
    assert!(out.status.success());
    let r2 = col.received_since(m);
    assert!(r2.roots().is_empty(), "nothing new to export");
    assert_eq!(state(&r2, "orders-daily", &orders, "previous", "met"), 1.0);
    assert_eq!(state(&r2, "reports-daily", report, "next", "met"), 1.0);
    assert_eq!(
        state(&r2, "orders-missing", &orders, "previous", "missed"),
        1.0
    );
}
