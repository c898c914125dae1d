//! End to end for Glue crawlers: moto (as AWS, crawls shaped by
//! `testing/harness_ext/glue_crawler.py`) → the bridge binary → rotel (a real OTLP collector).

mod common;

use common::{bridge, write_config, Collector, Moto, Received};

/// Epoch seconds the harness gave a crawl, as the nanoseconds a span carries.
fn ns(secs: f64) -> u128 {
    (secs * 1000.0).round() as u128 * 1_000_000
}

fn roots_of<'a>(r: &'a Received, run_id: &str) -> Vec<&'a common::Span> {
    r.roots()
        .into_iter()
        .filter(|s| s.attr("cicd.pipeline.run.id") == Some(run_id))
        .collect()
}

#[test]
fn crawls_become_traces_and_metrics_once_each_across_restarts() {
    let moto = Moto::start_empty();
    let col = Collector::start();
    // Two crawlers; a completed crawl with statistics and a failed one, a crawl still running
    // and one older than the lookback (24 h). Times are whole milliseconds.
    let now: f64 = moto
        .python(
            "g = client('glue')\n\
             for name, db in [('orders-raw', 'lake_raw'), ('partner-feeds', 'partner_feeds')]:\n\
             \x20   g.create_crawler(Name=name, Role='arn:aws:iam::123456789012:role/crawler', DatabaseName=db, \
                    Targets={'S3Targets': [{'Path': 's3://lake/' + name + '/'}]})\n\
             now = float(int(time.time()))\n\
             summary = json.dumps({'TABLE': {'ADD': json.dumps({'Details': {'names': ['a', 'b']}, 'Count': 2}), \
                                             'UPDATE': json.dumps({'Details': {'names': ['c']}, 'Count': 1})}, \
                                   'PARTITION': {'ADD': json.dumps({'Details': {}, 'Count': 48}), \
                                                 'DELETE': json.dumps({'Details': {}, 'Count': 3})}})\n\
             def crawl(name, cid, **fields): inject('/_inject/glue-crawler-crawl-create', {'CrawlerName': name, 'CrawlId': cid, 'fields': fields})\n\
             crawl('orders-raw', 'crawl-ok', State='COMPLETED', StartTime=now - 1800.25, EndTime=now - 1800.25 + 131.5, \
                   DPUHour=0.5, Summary=summary)\n\
             crawl('orders-raw', 'crawl-running', State='RUNNING', StartTime=now - 600.5, EndTime=None, DPUHour=0.0)\n\
             crawl('orders-raw', 'crawl-old', State='COMPLETED', StartTime=now - 3 * 86400, EndTime=now - 3 * 86400 + 60, DPUHour=8.0)\n\
             crawl('partner-feeds', 'crawl-failed', State='FAILED', StartTime=now - 900.5, EndTime=now - 900.5 + 61.75, \
                   DPUHour=0.125, ErrorMessage='Service Principal: glue.amazonaws.com is not authorized to perform: glue:CreateTable \
             (Service: AWSGlue; Status Code: 400; Error Code: AccessDeniedException)')\n\
             print(now)\n",
        )
        .trim()
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[glue]\nenabled = false\n[step_functions]\nenabled = false\n",
    );
    let (cfg, state) = (
        cfg.to_str().unwrap().to_string(),
        dir.path().join("state").to_str().unwrap().to_string(),
    );
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let run_once = || {
        let out = bridge(
            &["run", "--once", "--config", &cfg, "--state", &state],
            &env,
        );
        assert!(out.status.success());
    };
    let orders = [("cicd.pipeline.name", "orders-raw")];
    let partner = [("cicd.pipeline.name", "partner-feeds")];

    // First process: the completed and the failed crawl; the running one is awaited.
    let m0 = col.mark();
    run_once();
    let r1 = col.received_since(m0);
    assert_eq!(
        r1.roots().len(),
        2,
        "{:#?} (none at all: is target/debug/pipeline-otel-bridge this branch's build?)",
        r1.roots()
    );

    let ok = r1.root_of_run("crawl-ok");
    assert_eq!(ok.name, "RUN orders-raw");
    assert_eq!(ok.kind, "SPAN_KIND_SERVER");
    assert_eq!(ok.start_ns, ns(now - 1800.25));
    assert_eq!(ok.end_ns, ns(now - 1800.25 + 131.5));
    assert_eq!(ok.status, "STATUS_CODE_UNSET");
    assert_eq!(ok.attr("error.type"), None);
    for (k, v) in [
        ("cicd.pipeline.result", "success"),
        ("cicd.pipeline.name", "orders-raw"),
        ("cloud.resource_id", "arn:aws:glue:us-east-1:123456789012:crawler/orders-raw"),
        (
            "cicd.pipeline.run.url.full",
            "https://us-east-1.console.aws.amazon.com/glue/home?region=us-east-1#/v2/data-catalog/crawlers/view/orders-raw",
        ),
        ("aws.glue.crawl.state", "COMPLETED"),
        ("aws.glue.crawl.dpu_hours", "0.5"),
        ("aws.glue.crawl.tables_added", "2"),
        ("aws.glue.crawl.tables_updated", "1"),
        ("aws.glue.crawl.tables_deleted", "0"),
        ("aws.glue.crawl.partitions_added", "48"),
        ("aws.glue.crawl.partitions_updated", "0"),
        ("aws.glue.crawl.partitions_deleted", "3"),
        ("aws.glue.crawl.log_group", "/aws-glue/crawlers"),
        ("aws.glue.crawl.log_stream", "orders-raw"),
        ("aws.glue.crawl.message_prefix", "crawl-ok"),
        ("aws.glue.crawler.database_name", "lake_raw"),
    ] {
        assert_eq!(ok.attr(k), Some(v), "{k}");
    }
    assert_eq!(
        ok.resource.get("cloud.platform").map(String::as_str),
        Some("aws_glue")
    );
    let start_ms = ((now - 1800.25) * 1000.0).round() as i64;
    assert_eq!(
        ok.attr("aws.glue.crawl.log_url"),
        Some(
            format!(
                "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
                 #logsV2:log-groups/log-group/$252Faws-glue$252Fcrawlers/log-events/orders-raw\
                 $3FfilterPattern$3D$2522crawl-ok$2522$26start$3D{start_ms}$26end$3D{}",
                start_ms + 131_500 + 60_000
            )
            .as_str()
        )
    );
    assert!(r1.children(ok).is_empty(), "a crawl has no steps");

    let failed = r1.root_of_run("crawl-failed");
    assert_eq!(failed.name, "RUN partner-feeds");
    assert_eq!(failed.status, "STATUS_CODE_ERROR");
    assert!(
        failed
            .status_message
            .starts_with("Service Principal: glue.amazonaws.com is not authorized"),
        "{}",
        failed.status_message
    );
    assert_eq!(failed.attr("error.type"), Some("AccessDeniedException"));
    assert_eq!(failed.attr("cicd.pipeline.result"), Some("failure"));
    assert_eq!(failed.duration_ms(), 61_750);
    assert_eq!(failed.attr("aws.glue.crawl.dpu_hours"), Some("0.125"));
    assert_eq!(
        failed.attr("aws.glue.crawl.tables_added"),
        Some("0"),
        "no Summary: nothing changed"
    );

    // Metrics: DPU-hours and catalog changes per crawler, the generic run metrics.
    assert_eq!(
        r1.sum("pipeline_bridge.glue.crawler.dpu_usage", &orders),
        0.5
    );
    assert_eq!(
        r1.sum("pipeline_bridge.glue.crawler.dpu_usage", &partner),
        0.125
    );
    let changes = |r: &Received, name: &str, object: &str, change: &str| {
        r.sum(
            "pipeline_bridge.glue.crawler.catalog_changes",
            &[
                ("cicd.pipeline.name", name),
                ("aws.glue.catalog.object", object),
                ("aws.glue.catalog.change", change),
            ],
        )
    };
    assert_eq!(changes(&r1, "orders-raw", "table", "added"), 2.0);
    assert_eq!(changes(&r1, "orders-raw", "partition", "added"), 48.0);
    assert_eq!(changes(&r1, "orders-raw", "partition", "deleted"), 3.0);
    assert_eq!(
        r1.points("pipeline_bridge.glue.crawler.catalog_changes", &partner)
            .len(),
        6,
        "every object and change has its series from the first crawl on"
    );
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.errors",
            &[
                ("cicd.pipeline.name", "partner-feeds"),
                ("error.type", "AccessDeniedException")
            ]
        ),
        1.0
    );
    assert_eq!(
        r1.sum(
            "cicd.pipeline.run.active",
            &[
                ("cicd.pipeline.name", "orders-raw"),
                ("cicd.pipeline.run.state", "executing")
            ]
        ),
        1.0
    );
    // Calls of one cycle: one discovery, one ListCrawls per crawler (one page each).
    let calls =
        |r: &Received, op: &str| r.sum("pipeline_bridge.aws.api.calls", &[("aws.operation", op)]);
    assert_eq!(calls(&r1, "GetCrawlers"), 1.0);
    assert_eq!(calls(&r1, "ListCrawls"), 2.0);
    assert_eq!(calls(&r1, "GetJobs"), 0.0, "the other sources are off");

    // The running crawl ends, and the listing no longer returns it (emulated by moving its
    // StartTime before the listing floor): a second process reads it by id (ListCrawls on
    // CRAWL_ID), exports it alone, and the totals carry over.
    let moved_start = now - 2.0 * 86400.0;
    moto.post(
        "/_inject/glue-crawler-crawl",
        serde_json::json!({"CrawlerName": "orders-raw", "CrawlId": "crawl-running",
            "fields": {"State": "STOPPED", "StartTime": moved_start,
                       "EndTime": moved_start + 30.0, "DPUHour": 0.25}}),
    );
    let m1 = col.mark();
    run_once();
    let r2 = col.received_since(m1);
    assert_eq!(r2.roots().len(), 1, "{:#?}", r2.roots());
    let stopped = r2.root_of_run("crawl-running");
    assert_eq!(stopped.attr("cicd.pipeline.result"), Some("cancellation"));
    assert_eq!(stopped.status, "STATUS_CODE_UNSET");
    assert_eq!(stopped.start_ns, ns(moved_start));
    assert_eq!(stopped.duration_ms(), 30_000);
    assert_eq!(
        calls(&r2, "ListCrawls"),
        3.0,
        "two listings and one read by id"
    );
    assert_eq!(
        r2.sum("pipeline_bridge.glue.crawler.dpu_usage", &orders),
        0.75
    );
    assert_eq!(
        r2.sum("pipeline_bridge.glue.crawler.dpu_usage", &partner),
        0.125
    );
    assert_eq!(changes(&r2, "orders-raw", "partition", "added"), 48.0);

    // Across both processes, each crawl exactly once; the old one never.
    let all = col.received_since(m0);
    for id in ["crawl-ok", "crawl-failed", "crawl-running"] {
        assert_eq!(roots_of(&all, id).len(), 1, "{id}");
    }
    assert!(roots_of(&all, "crawl-old").is_empty());
}
