//! The operations stack against real servers.
//!
//! Static: the check scripts of `prometheus/`, `grafana/`, `collector-config/` and `compose/`
//! pass, and each catches a broken copy. Live: the bridge (against moto, with failing
//! pipelines) → OTLP/HTTP → vmagent → Prometheus remote write, with the shipped rules →
//! Alertmanager → a webhook receiver; every dashboard query returns data; and a second
//! Prometheus scraping `run --listen` `/metrics` sees the same series.
//!
//! Needs the backends of `testing/install-backends.sh` (run by `scripts/test.sh`).

mod common;

use common::{free_port, repo, write_config, Collector, Moto, Server};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_script(path: &str) -> (bool, String) {
    let out = Command::new("bash")
        .arg(repo().join(path))
        .current_dir(repo())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn static_checks_pass_and_catch_broken_copies() {
    for script in [
        "prometheus/check.sh",
        "prometheus/check-broken.sh",
        "grafana/check.sh",
        "grafana/check-broken.sh",
        "collector-config/check.sh",
        "collector-config/check-broken.sh",
        "compose/check.sh",
        "compose/check-broken.sh",
    ] {
        let (ok, text) = run_script(script);
        assert!(ok, "{script} failed:\n{text}");
        // The compose check includes the bridge's read-only root filesystem with its state on
        // a volume (compose/check-bridge.py), and each way of breaking that is caught.
        match script {
            "compose/check.sh" => assert!(
                text.contains(
                    "ok   bridge: read-only root filesystem; \
                     state /var/lib/pipeline-otel-bridge on volume bridge-state;"
                ),
                "{script}: no read-only check of the bridge:\n{text}"
            ),
            "compose/check-broken.sh" => {
                for case in [
                    "bridge-writable-root",
                    "bridge-state-off-volume",
                    "bridge-writable-mount",
                ] {
                    assert!(
                        text.contains(&format!("caught: {case} -> FAIL bridge: ")),
                        "{script}: {case} not caught:\n{text}"
                    );
                }
            }
            _ => {}
        }
    }
}

/// Paths of the backends (`KEY=PATH` lines printed by `testing/install-backends.sh`).
fn backends() -> BTreeMap<String, PathBuf> {
    let out = Command::new("bash")
        .arg(repo().join("testing/install-backends.sh"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "testing/install-backends.sh failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), PathBuf::from(v.trim())))
        .collect()
}

fn spawn(name: &'static str, cmd: &mut Command, log: &Path) -> Server {
    let child = cmd
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    Server { child, name }
}

fn wait_until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// An instant query; the `data.result` array.
fn query(port: u16, expr: &str) -> Option<Vec<Value>> {
    let url = format!("/api/v1/query?query={}", common::urlencode(expr));
    let (status, body) = common::http_get(port, &url)?;
    let v: Value = serde_json::from_str(&body).ok()?;
    if status != 200 || v["status"] != "success" {
        panic!("query failed ({status}): {expr}\n{body}");
    }
    match &v["data"]["result"] {
        Value::Array(a) => Some(a.clone()),
        // scalar / string results
        other => Some(vec![other.clone()]),
    }
}

/// Every Prometheus expression of a dashboard (panel targets; not variable queries).
fn dashboard_exprs(v: &Value, out: &mut Vec<(String, String)>, title: &str) {
    match v {
        Value::Object(m) => {
            let title = m.get("title").and_then(Value::as_str).unwrap_or(title);
            if let (Some(Value::String(e)), false) = (m.get("expr"), m.contains_key("definition")) {
                out.push((title.to_string(), e.clone()));
            }
            for (k, c) in m {
                if k != "templating" {
                    dashboard_exprs(c, out, title);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|c| dashboard_exprs(c, out, title)),
        _ => {}
    }
}

/// Grafana's variables replaced: intervals by `1m`/`10m`, `$pipeline` by `pipeline`, every other
/// template variable by `.*`.
fn substitute(expr: &str, pipeline: &str) -> String {
    let mut s = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range_s", "600")
        .replace("$__range", "10m")
        .replace("${__range}", "10m");
    s = s
        .replace("${pipeline:regex}", pipeline)
        .replace("${pipeline}", pipeline)
        .replace("$pipeline", pipeline);
    let re = regex::Regex::new(r"\$\{?[A-Za-z_][A-Za-z0-9_]*(:[a-z]+)?\}?").unwrap();
    re.replace_all(&s, ".*").into_owned()
}

/// The keep-list of the bridge's direct scrape in compose/prometheus.yml: the `regex:` of the
/// job `pipeline-otel-bridge`.
fn compose_keep_regex() -> String {
    let text = std::fs::read_to_string(repo().join("compose/prometheus.yml")).unwrap();
    let job = text
        .split("- job_name: ")
        .find(|j| j.starts_with("pipeline-otel-bridge"))
        .expect("compose/prometheus.yml scrapes job pipeline-otel-bridge");
    let line = job
        .lines()
        .find(|l| l.trim_start().starts_with("regex:"))
        .expect("a keep regex");
    let re = line.trim_start().trim_start_matches("regex:").trim();
    assert!(job.contains("action: keep"), "{job}");
    re.trim_matches('"').to_string()
}

/// Every alert the webhook received so far.
fn webhook_alerts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn live_metrics_rules_alerts_and_dashboards() {
    let b = backends();
    let moto = Moto::start("test");
    let traces = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (prom_port, scrape_port, am_port, vm_port, listen_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );

    // Webhook receiver ← Alertmanager.
    let venv = common::venv();
    let wh_port_file = d.join("wh.port");
    let wh_out = d.join("alerts.jsonl");
    let _wh = spawn(
        "webhook",
        Command::new(venv.join("bin/python"))
            .arg(repo().join("testing/webhook_receiver.py"))
            .args([
                "--port-file",
                wh_port_file.to_str().unwrap(),
                "--out",
                wh_out.to_str().unwrap(),
            ]),
        &d.join("wh.log"),
    );
    let wh_port = wait_until("webhook receiver", 20, || {
        std::fs::read_to_string(&wh_port_file)
            .ok()
            .filter(|s| !s.trim().is_empty())
    });
    std::fs::write(
        d.join("am.yml"),
        format!(
            "route: {{receiver: hook, group_by: [alertname, cicd_pipeline_name], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}\n\
             receivers: [{{name: hook, webhook_configs: [{{url: 'http://127.0.0.1:{}/', send_resolved: false}}]}}]\n",
            wh_port.trim()
        ),
    )
    .unwrap();
    let _am = spawn(
        "alertmanager",
        Command::new(&b["ALERTMANAGER"]).args([
            &format!("--config.file={}", d.join("am.yml").display()),
            &format!("--storage.path={}", d.join("am").display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
        ]),
        &d.join("am.log"),
    );

    // Prometheus with the shipped rules, fed by remote write, and scraping the bridge's own
    // /metrics directly with the keep-list of compose/prometheus.yml (job pipeline-otel-bridge,
    // as the rules expect). Every `for:` is shortened to 2 s, and the daily group's interval to
    // 1 s, so that alerts and recorded series arrive within seconds; their timing is what
    // prometheus/tests/ prove with promtool.
    let rules = d.join("rules");
    std::fs::create_dir(&rules).unwrap();
    let for_re = regex::Regex::new(r"(?m)^(\s+for: )\S+$").unwrap();
    for f in ["pipelines.yml", "bridge.yml"] {
        let text = std::fs::read_to_string(repo().join("prometheus/rules").join(f)).unwrap();
        let text = for_re.replace_all(&text, "${1}2s");
        // The daily group's own `interval: 2m` too: every group is evaluated every second.
        let text = text.replace("    interval: 2m\n", "    interval: 1s\n");
        std::fs::write(rules.join(f), text).unwrap();
    }
    std::fs::write(
        d.join("prom.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{grafana_url: 'http://grafana.test'}}}}\n\
             rule_files: ['{}/*.yml']\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n\
             scrape_configs: [{{job_name: pipeline-otel-bridge, static_configs: [{{targets: ['127.0.0.1:{listen_port}']}}], \
               metric_relabel_configs: [{{source_labels: [__name__], regex: '{}', action: keep}}]}}]\n",
            rules.display(),
            compose_keep_regex(),
        ),
    )
    .unwrap();
    let _prom = spawn(
        "prometheus",
        Command::new(&b["PROMETHEUS"]).args([
            &format!("--config.file={}", d.join("prom.yml").display()),
            &format!("--storage.tsdb.path={}", d.join("prom").display()),
            &format!("--web.listen-address=127.0.0.1:{prom_port}"),
            "--web.enable-remote-write-receiver",
            "--rules.alert.resend-delay=1s",
        ]),
        &d.join("prom.log"),
    );
    // A second Prometheus scrapes the bridge's own /metrics.
    std::fs::write(
        d.join("scrape.yml"),
        format!("global: {{scrape_interval: 1s}}\nscrape_configs: [{{job_name: bridge, static_configs: [{{targets: ['127.0.0.1:{listen_port}']}}]}}]\n"),
    )
    .unwrap();
    let _scrape = spawn(
        "prometheus-scrape",
        Command::new(&b["PROMETHEUS"]).args([
            &format!("--config.file={}", d.join("scrape.yml").display()),
            &format!("--storage.tsdb.path={}", d.join("scrape").display()),
            &format!("--web.listen-address=127.0.0.1:{scrape_port}"),
        ]),
        &d.join("scrape.log"),
    );
    let vm = spawn(
        "vmagent",
        Command::new(&b["VMAGENT"]).args([
            &format!("-httpListenAddr=127.0.0.1:{vm_port}"),
            &format!("-remoteWrite.url=http://127.0.0.1:{prom_port}/api/v1/write"),
            &format!("-remoteWrite.tmpDataPath={}", d.join("vmagent").display()),
            "-remoteWrite.forcePromProto",
            "-remoteWrite.queues=1",
            "-remoteWrite.flushInterval=1s",
            "-opentelemetry.usePrometheusNaming",
        ]),
        &d.join("vmagent.log"),
    );
    wait_until("Prometheus to know its Alertmanager", 30, || {
        let (_, body) = common::http_get(prom_port, "/api/v1/alertmanagers")?;
        body.contains(&format!("127.0.0.1:{am_port}")).then_some(())
    });
    wait_until("vmagent", 20, || {
        common::http_get(vm_port, "/health").filter(|r| r.0 == 200)
    });

    // One throttled call and one denied call, so those series exist from the start.
    let inject_faults = || {
        moto.post(
            "/_inject/fault",
            serde_json::json!({"target": "AWSStepFunctions.ListExecutions", "match": "inventory", "code": "ThrottlingException", "count": 1}),
        );
        moto.post(
            "/_inject/fault",
            serde_json::json!({"target": "AWSGlue.GetJobRuns", "match": "test-batch", "code": "AccessDeniedException", "message": "not authorized to perform glue:GetJobRuns", "count": 1}),
        );
    };
    inject_faults();
    // test-batch's owner comes from its tag (tags win over the catch-all pattern's team; the
    // pattern still gives its project): the alert carries it, for Alertmanager's team routes.
    moto.python(
        "client('glue').tag_resource(ResourceArn='arn:aws:glue:us-east-1:123456789012:job/test-batch', \
         TagsToAdd={'team': 'batch-ops'})\n",
    );
    let cfg = write_config(
        d,
        "poll_interval = \"1s\"\n\
         [ownership]\nteam_tags = [\"team\"]\n\
         [[pipelines]]\nmatch = \"test-etl\"\nsla = \"4m\"\nmax_success_interval = \"30m\"\nteam = \"orders\"\nproject = \"lakehouse\"\n\
         [[pipelines]]\nmatch = \"customer-sync\"\nsla = \"1h\"\nmax_success_interval = \"1s\"\nteam = \"crm\"\n\
         [[pipelines]]\nmatch = \"*\"\nsla = \"2h\"\nmax_success_interval = \"2h\"\nteam = \"data\"\nproject = \"platform\"\n\
         [[deadlines]]\nmatch = \"test-*\"\nby = \"06:00\"\ntime_zone = \"Europe/Berlin\"\n\
         [[arrivals]]\nname = \"landing\"\nurl = \"s3://landing/drop/\"\nby = \"06:00\"\nteam = \"orders\"\n",
    );
    // The arrival's bucket, with an object (a prefix without date: every day's).
    moto.python(
        "s3 = client('s3')\ns3.create_bucket(Bucket='landing')\n\
         s3.put_object(Bucket='landing', Key='drop/file.csv', Body=b'x')\n",
    );
    let state = d.join("state");
    let mut cmd = common::bridge_cmd(&moto.endpoint);
    cmd.args([
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ])
    .args(["--listen", &format!("127.0.0.1:{listen_port}")])
    .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &traces.grpc)
    .env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    .env("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    .env(
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        format!("http://127.0.0.1:{vm_port}/opentelemetry/v1/metrics"),
    );
    let bridge = spawn("bridge", &mut cmd, &d.join("bridge.log"));

    // The failure alert reaches the webhook with its labels and annotations: test-batch's latest
    // run ended in ERROR (Glue retries only FAILED attempts: a final failure).
    let alert = wait_until("PipelineRunFailed at the webhook", 90, || {
        webhook_alerts(&wh_out)
            .into_iter()
            // The alert also fires without owner labels while the info series is missing (a
            // sample of it may arrive a batch later): wait for the one that carries them.
            .find(|a| {
                a["labels"]["alertname"] == "PipelineRunFailed"
                    && a["labels"]["cicd_pipeline_name"] == "test-batch"
                    && a["labels"]["team"].is_string()
            })
    });
    let labels = &alert["labels"];
    assert_eq!(labels["error_type"], "ERROR");
    assert_eq!(labels["team"], "batch-ops", "the team from the job's tag");
    assert_eq!(labels["project"], "platform");
    assert_eq!(labels["cloud_account_id"], "123456789012");
    assert_eq!(labels["cloud_region"], "us-east-1");
    assert_eq!(labels["pipeline_bridge_pipeline_kind"], "glue-job");
    assert_eq!(labels["severity"], "warning");
    let ann = &alert["annotations"];
    let summary = ann["summary"].as_str().unwrap();
    let description = ann["description"].as_str().unwrap();
    assert!(summary.contains("test-batch"), "{summary}");
    for want in [
        "test-batch",
        "123456789012",
        "us-east-1",
        "ERROR",
        "batch-ops",
    ] {
        assert!(
            description.contains(want) || summary.contains(want),
            "`{want}` in the alert text:\n{summary}\n{description}"
        );
    }
    assert!(
        ann["dashboard"]
            .as_str()
            .unwrap()
            .starts_with("http://grafana.test/"),
        "{ann}"
    );
    assert!(
        ann["console"]
            .as_str()
            .unwrap()
            .contains("us-east-1.console.aws.amazon.com"),
        "{ann}"
    );
    let trace_link = ann["traces"].as_str().unwrap();
    assert!(trace_link.contains("grafana.test"), "{ann}");
    for want in [
        "resource.cloud.account.id",
        "123456789012",
        "status+%3D+error",
    ] {
        assert!(trace_link.contains(want), "{want} in {trace_link}");
    }
    assert!(
        ann["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("/docs/runbooks/pipeline-run-failed.md"),
        "{ann}"
    );
    // The Step Functions execution that failed is a final failure too: with the failed
    // execution of the same state machine being its latest run, the pipeline pages.
    wait_until("PipelineFailing for customer-sync", 60, || {
        webhook_alerts(&wh_out).into_iter().find(|a| {
            a["labels"]["alertname"] == "PipelineFailing"
                && a["labels"]["cicd_pipeline_name"] == "customer-sync"
        })
    });
    // test-etl's failed attempt 0 was retried by Glue (MaxRetries 1) and attempt 1 succeeded:
    // nothing fires for it. The cancelled run of inventory-snapshot is no failure.
    let fired: BTreeSet<(String, String)> = webhook_alerts(&wh_out)
        .into_iter()
        .filter(|a| {
            a["labels"]["alertname"] == "PipelineRunFailed"
                || a["labels"]["alertname"] == "PipelineFailing"
        })
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["labels"]["cicd_pipeline_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    assert!(
        !fired
            .iter()
            .any(|(_, p)| p == "inventory-snapshot" || p == "test-etl"),
        "an aborted execution and a retried Glue attempt are no failure: {fired:?}"
    );

    // Runs that end while the bridge watches (the first cycle's backfill predates every
    // sample, so rates and increases only see what comes after it).
    let etl = moto.seed["glue"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["JobName"] == "test-etl")
        .unwrap()["Runs"]
        .clone();
    let running = etl[3]["JobRunId"].as_str().unwrap().to_string();
    moto.python(&format!(
        "now = time.time()\n\
         inject('/_inject/glue-job-run', {{'JobName': 'test-etl', 'RunId': '{running}', 'fields': {{'JobRunState': 'SUCCEEDED', 'CompletedOn': now - 0.5, 'ExecutionTime': 110}}}})\n\
         inject('/_inject/glue-job-run-create', {{'JobName': 'test-etl', 'fields': {{'JobRunState': 'FAILED', 'Attempt': 1, 'StartedOn': now - 600.25, 'CompletedOn': now - 1.25, 'ExecutionTime': 599, \
            'ErrorMessage': 'An error occurred while calling o99.save. java.lang.OutOfMemoryError: Java heap space'}}}})\n\
         inject('/_inject/glue-job-run-create', {{'JobName': 'test-batch', 'fields': {{'JobRunState': 'TIMEOUT', 'StartedOn': now - 300.5, 'CompletedOn': now - 0.75, 'ExecutionTime': 300, 'ErrorMessage': 'Job run timed out'}}}})\n\
         s = client('stepfunctions')\n\
         for sm, name, inp in [('nightly-orders-pipeline', 'live-nightly', {{}}), ('customer-sync', 'live-sync-fail', {{'failedRows': 2}})]:\n\
         \x20   s.start_execution(stateMachineArn='arn:aws:states:us-east-1:123456789012:stateMachine:' + sm, name=name, input=json.dumps(inp))\n"
    ));
    inject_faults();
    // Several cycles (1 s apart) pass, so rates see the new runs.
    wait_until("the new runs to be counted", 60, || {
        let r = query(
            prom_port,
            r#"increase(pipeline_bridge_pipeline_runs_total{cicd_pipeline_name="nightly-orders-pipeline",cicd_pipeline_result="success"}[1m]) > 0"#,
        )?;
        (!r.is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(4));
    // Panels over subqueries (`[$__range:1m]`) evaluate at minute-aligned instants: let one pass
    // after the new runs were counted, so that they have a step with data.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    std::thread::sleep(Duration::from_secs(60 - now % 60 + 2));
    let mut empty = Vec::new();
    let mut n = 0;
    for f in ["pipelines-overview", "pipeline-detail", "bridge-health"] {
        let dash: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(format!("grafana/dashboards/{f}.json"))).unwrap(),
        )
        .unwrap();
        let mut exprs = Vec::new();
        dashboard_exprs(&dash["panels"], &mut exprs, f);
        for (title, e) in exprs {
            n += 1;
            let pipelines: &[&str] = if f == "pipeline-detail" {
                &["test-etl", "nightly-orders-pipeline"]
            } else {
                &["test-etl"]
            };
            let has_data = pipelines
                .iter()
                .any(|p| query(prom_port, &substitute(&e, p)).is_some_and(|r| !r.is_empty()));
            if !has_data {
                empty.push(format!("{f} / {title}: {e}"));
            }
        }
    }
    if let Ok(secs) = std::env::var("OPS_DEBUG_HOLD") {
        eprintln!("holding: prometheus on {prom_port}, scrape on {scrape_port}");
        std::thread::sleep(Duration::from_secs(secs.parse().unwrap_or(120)));
    }
    assert!(n > 50, "found the dashboard queries ({n})");
    assert!(
        empty.is_empty(),
        "dashboard queries without data:\n{}",
        empty.join("\n")
    );

    // The run that ended after 10 minutes, beyond test-etl's 4 minute SLA, is alerted on.
    let sla = wait_until("PipelineRunExceededSLA at the webhook", 60, || {
        let text = std::fs::read_to_string(&wh_out).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
            .find(|a| a["labels"]["alertname"] == "PipelineRunExceededSLA")
    });
    assert_eq!(sla["labels"]["cicd_pipeline_name"], "test-etl");
    assert_eq!(sla["labels"]["team"], "orders");
    assert!(
        sla["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("4m 0s"),
        "{}",
        sla["annotations"]
    );
    // test-etl's attempt 1 (its last retry) failed with an OutOfMemoryError: a final failure.
    let oom = wait_until("PipelineRunFailed for test-etl at the webhook", 60, || {
        webhook_alerts(&wh_out).into_iter().find(|a| {
            a["labels"]["alertname"] == "PipelineRunFailed"
                && a["labels"]["cicd_pipeline_name"] == "test-etl"
                && a["labels"]["team"].is_string()
        })
    });
    assert_eq!(
        oom["labels"]["error_type"], "java.lang.OutOfMemoryError",
        "{oom}"
    );
    assert_eq!(oom["labels"]["team"], "orders", "{oom}");
    assert_eq!(oom["labels"]["project"], "lakehouse", "{oom}");

    // The same series by scrape as by OTLP.
    let names = |port: u16| -> BTreeSet<String> {
        query(port, r#"{__name__=~"cicd_.+|pipeline_bridge_.+"}"#)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s["metric"]["__name__"].as_str().map(str::to_string))
            .collect()
    };
    let pushed = names(prom_port);
    let scraped = wait_until("the scrape path to have every series", 30, || {
        let s = names(scrape_port);
        (s.is_superset(&pushed)).then_some(s)
    });
    assert!(pushed.len() > 20, "{pushed:?}");
    assert_eq!(
        pushed, scraped,
        "the same metric names by OTLP and by /metrics"
    );
    let key = r#"pipeline_bridge_pipeline_info{cicd_pipeline_name="test-etl",team="orders",project="lakehouse",cloud_account_id="123456789012",cloud_region="us-east-1",pipeline_bridge_pipeline_kind="glue-job"}"#;
    assert_eq!(
        query(
            prom_port,
            &format!("{key} unless {{job=\"pipeline-otel-bridge\"}}")
        )
        .unwrap()
        .len(),
        1
    );
    assert_eq!(query(scrape_port, key).unwrap().len(), 1);

    // The collector goes down (both: the metrics path, vmagent, and the traces receiver). The
    // bridge's own alerts still arrive, from the direct scrape: exports failing, then, once the
    // bridge is killed, the bridge down alert, each per account and region it watches.
    let before = webhook_alerts(&wh_out).len();
    drop(vm);
    drop(traces);
    let firing = |name: &str| {
        let name = name.to_string();
        let wh_out = wh_out.clone();
        move || {
            webhook_alerts(&wh_out)
                .into_iter()
                .skip(before)
                .find(|a| a["labels"]["alertname"] == name.as_str() && a["status"] == "firing")
        }
    };
    let export = wait_until(
        "PipelineBridgeExportFailing at the webhook",
        90,
        firing("PipelineBridgeExportFailing"),
    );
    assert_eq!(export["labels"]["job"], "pipeline-otel-bridge", "{export}");
    assert_eq!(
        export["labels"]["cloud_account_id"], "123456789012",
        "{export}"
    );
    assert_eq!(export["labels"]["cloud_region"], "us-east-1", "{export}");
    assert!(
        export["annotations"]["runbook_url"]
            .as_str()
            .unwrap()
            .ends_with("/pipeline-bridge-export-failing.md"),
        "{export}"
    );
    drop(bridge);
    let down = wait_until(
        "PipelineBridgeDown at the webhook",
        90,
        firing("PipelineBridgeDown"),
    );
    assert_eq!(down["labels"]["severity"], "critical", "{down}");
    assert_eq!(down["labels"]["cloud_account_id"], "123456789012", "{down}");
    assert_eq!(
        down["labels"]["instance"],
        format!("127.0.0.1:{listen_port}"),
        "{down}"
    );
}

/// A plain HTTP/1.0 POST of a JSON body on loopback: the status.
fn http_post_json(port: u16, path: &str, body: &Value) -> Option<u16> {
    use std::io::{Read, Write};
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// The shipped Alertmanager configuration's inhibit rules, in a real Alertmanager: a failing
/// pipeline mutes its own SLA, single-failure and freshness alerts but not those of the
/// pipeline of the same name in another account; a bridge down in one account and region mutes
/// the freshness alerts there, not elsewhere, and a warning mutes no page; a pipeline no longer
/// watched does not page on its last known state; the Watchdog is never muted.
#[test]
fn shipped_inhibit_rules_mute_only_the_same_pipeline_or_scope() {
    let b = backends();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let am_port = free_port();
    let _am = spawn(
        "alertmanager",
        Command::new(&b["ALERTMANAGER"]).args([
            &format!(
                "--config.file={}",
                repo().join("prometheus/alertmanager.yml").display()
            ),
            &format!("--storage.path={}", d.join("am").display()),
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
        ]),
        &d.join("am.log"),
    );
    wait_until("Alertmanager", 30, || {
        common::http_get(am_port, "/-/ready").filter(|r| r.0 == 200)
    });
    let pipeline = |alert: &str, name: &str, account: &str, region: &str, severity: &str| {
        serde_json::json!({"labels": {
            "alertname": alert, "severity": severity, "cicd_pipeline_name": name,
            "pipeline_bridge_pipeline_kind": "glue-job", "cloud_account_id": account,
            "cloud_region": region, "team": "data-eng", "project": "orders"}})
    };
    let alerts = serde_json::json!([
        pipeline("PipelineFailing", "nightly", "111111111111", "eu-west-1", "critical"),
        pipeline("PipelineRunFailed", "nightly", "111111111111", "eu-west-1", "warning"),
        pipeline("PipelineRunExceededSLA", "nightly", "111111111111", "eu-west-1", "warning"),
        pipeline("PipelineNoRecentSuccess", "nightly", "111111111111", "eu-west-1", "critical"),
        // Same name, other account: nothing mutes it.
        pipeline("PipelineRunExceededSLA", "nightly", "222222222222", "eu-west-1", "warning"),
        // A failed run (timeout) that also broke the SLA, not failing any more.
        pipeline("PipelineRunFailed", "hourly", "222222222222", "eu-west-1", "warning"),
        pipeline("PipelineRunExceededSLA", "hourly", "222222222222", "eu-west-1", "warning"),
        // Bridge down in 333333333333/us-east-1: that scope's freshness alerts are consequences.
        {"labels": {"alertname": "PipelineBridgeDown", "severity": "critical", "job": "pipeline-otel-bridge",
                    "instance": "bridge-0:9464", "cloud_account_id": "333333333333", "cloud_region": "us-east-1"}},
        pipeline("PipelineNoRecentSuccess", "ledger", "333333333333", "us-east-1", "critical"),
        pipeline("PipelineNotWatched", "ledger-old", "333333333333", "us-east-1", "warning"),
        pipeline("PipelineNoRecentSuccess", "ledger", "333333333333", "eu-west-1", "critical"),
        // Exports failing (a warning) in 444444444444/eu-west-1 mutes no page there.
        {"labels": {"alertname": "PipelineBridgeExportFailing", "severity": "warning", "job": "pipeline-otel-bridge",
                    "instance": "bridge-1:9464", "cloud_account_id": "444444444444", "cloud_region": "eu-west-1"}},
        pipeline("PipelineNoRecentSuccess", "audit", "444444444444", "eu-west-1", "critical"),
        // A pipeline no longer watched: its last known failing state does not page.
        pipeline("PipelineNotWatched", "retired", "444444444444", "eu-west-1", "warning"),
        pipeline("PipelineFailing", "retired", "444444444444", "eu-west-1", "critical"),
        // One account and region the bridge cannot read (a refused role): its pipelines'
        // freshness alerts are consequences; the same account's other region is not muted.
        {"labels": {"alertname": "PipelineBridgeAccountNotPolling", "severity": "critical", "job": "pipeline-otel-bridge",
                    "instance": "bridge-0:9464", "cloud_account_id": "555555555555", "cloud_region": "eu-west-1"}},
        pipeline("PipelineNoRecentSuccess", "events", "555555555555", "eu-west-1", "critical"),
        pipeline("PipelineNoRecentSuccess", "events", "555555555555", "us-east-1", "critical"),
        {"labels": {"alertname": "Watchdog", "severity": "none"}},
    ]);
    assert_eq!(
        http_post_json(am_port, "/api/v2/alerts", &alerts),
        Some(200)
    );
    let inhibited: BTreeSet<String> = wait_until("the alerts in Alertmanager", 30, || {
        let (_, body) = common::http_get(am_port, "/api/v2/alerts")?;
        let got: Vec<Value> = serde_json::from_str(&body).ok()?;
        (got.len() == alerts.as_array().unwrap().len()).then(|| {
            got.iter()
                .filter(|a| {
                    a["status"]["inhibitedBy"]
                        .as_array()
                        .is_some_and(|v| !v.is_empty())
                })
                .map(|a| {
                    let l = &a["labels"];
                    format!(
                        "{} {} {}/{}",
                        l["alertname"].as_str().unwrap_or(""),
                        l["cicd_pipeline_name"].as_str().unwrap_or(""),
                        l["cloud_account_id"].as_str().unwrap_or(""),
                        l["cloud_region"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
    });
    let want: BTreeSet<String> = [
        "PipelineRunFailed nightly 111111111111/eu-west-1",
        "PipelineRunExceededSLA nightly 111111111111/eu-west-1",
        "PipelineNoRecentSuccess nightly 111111111111/eu-west-1",
        "PipelineRunExceededSLA hourly 222222222222/eu-west-1",
        "PipelineNoRecentSuccess ledger 333333333333/us-east-1",
        "PipelineNotWatched ledger-old 333333333333/us-east-1",
        "PipelineFailing retired 444444444444/eu-west-1",
        "PipelineNoRecentSuccess events 555555555555/eu-west-1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(inhibited, want);
}

/// Every recording rule is read by an alert, another recording rule or a dashboard (the issue:
/// "use the recording rules from the dashboards or remove them").
#[test]
fn every_recording_rule_is_used() {
    let rules: Vec<String> = ["pipelines.yml", "bridge.yml"]
        .iter()
        .map(|f| std::fs::read_to_string(repo().join("prometheus/rules").join(f)).unwrap())
        .collect();
    let dashboards: Vec<String> = ["pipelines-overview", "pipeline-detail", "bridge-health"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(repo().join(format!("grafana/dashboards/{f}.json"))).unwrap()
        })
        .collect();
    let record = regex::Regex::new(r"(?m)^\s+- record: (\S+)\s*$").unwrap();
    let mut unused = Vec::new();
    let mut n = 0;
    for text in &rules {
        for c in record.captures_iter(text) {
            n += 1;
            let name = &c[1];
            // Uses: the whole name anywhere but in its own `record:` line.
            let word = regex::Regex::new(&format!(
                "(^|[^A-Za-z0-9_:]){}([^A-Za-z0-9_:]|$)",
                regex::escape(name)
            ))
            .unwrap();
            let uses = rules
                .iter()
                .chain(&dashboards)
                .map(|t| t.lines().filter(|l| word.is_match(l)).count())
                .sum::<usize>()
                - 1;
            if uses == 0 {
                unused.push(name.to_string());
            }
        }
    }
    assert!(n >= 10, "found the recording rules ({n})");
    assert!(
        unused.is_empty(),
        "recording rules nothing reads: {unused:?}"
    );
}
