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

    // Prometheus with the shipped rules, fed by remote write.
    let rules = repo().join("prometheus/rules");
    std::fs::write(
        d.join("prom.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{grafana_url: 'http://grafana.test'}}}}\n\
             rule_files: ['{}/*.yml']\n\
             alerting: {{alertmanagers: [{{static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]}}]}}\n",
            rules.display()
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
    let _vm = spawn(
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
    let cfg = write_config(
        d,
        "poll_interval = \"1s\"\n\
         [[pipelines]]\nmatch = \"test-etl\"\nsla = \"4m\"\nmax_success_interval = \"30m\"\nteam = \"orders\"\nproject = \"lakehouse\"\n\
         [[pipelines]]\nmatch = \"customer-sync\"\nsla = \"1h\"\nmax_success_interval = \"1s\"\nteam = \"crm\"\n\
         [[pipelines]]\nmatch = \"*\"\nsla = \"2h\"\nmax_success_interval = \"2h\"\nteam = \"data\"\nproject = \"platform\"\n",
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
    let _bridge = spawn("bridge", &mut cmd, &d.join("bridge.log"));

    // The failure alert reaches the webhook with its labels and annotations.
    let alert = wait_until("PipelineRunFailed at the webhook", 90, || {
        let text = std::fs::read_to_string(&wh_out).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
            // The alert also fires without owner labels while the info series is missing (a
            // sample of it may arrive a batch later): wait for the one that carries them.
            .find(|a| {
                a["labels"]["alertname"] == "PipelineRunFailed"
                    && a["labels"]["cicd_pipeline_name"] == "test-etl"
                    && a["labels"]["team"].is_string()
            })
    });
    let labels = &alert["labels"];
    assert_eq!(labels["error_type"], "java.lang.OutOfMemoryError");
    assert_eq!(labels["team"], "orders");
    assert_eq!(labels["project"], "lakehouse");
    assert_eq!(labels["cloud_account_id"], "123456789012");
    assert_eq!(labels["cloud_region"], "us-east-1");
    assert_eq!(labels["pipeline_bridge_pipeline_kind"], "glue-job");
    assert!(labels["severity"].is_string());
    let ann = &alert["annotations"];
    let summary = ann["summary"].as_str().unwrap();
    let description = ann["description"].as_str().unwrap();
    assert!(summary.contains("test-etl"), "{summary}");
    for want in [
        "test-etl",
        "123456789012",
        "us-east-1",
        "java.lang.OutOfMemoryError",
        "orders",
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
    assert!(
        ann["traces"].as_str().unwrap().contains("grafana.test"),
        "{ann}"
    );
    // The cancelled run of test-batch is no failure alert; its timeout and error are.
    let fired: BTreeSet<(String, String)> = std::fs::read_to_string(&wh_out)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["labels"]["alertname"] == "PipelineRunFailed")
        .map(|a| {
            (
                a["labels"]["cicd_pipeline_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                a["labels"]["error_type"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        !fired.iter().any(|(p, _)| p == "inventory-snapshot"),
        "an aborted execution is no failure: {fired:?}"
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
         inject('/_inject/glue-job-run-create', {{'JobName': 'test-etl', 'fields': {{'JobRunState': 'FAILED', 'StartedOn': now - 600.25, 'CompletedOn': now - 1.25, 'ExecutionTime': 599, \
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
    assert_eq!(query(prom_port, key).unwrap().len(), 1);
    assert_eq!(query(scrape_port, key).unwrap().len(), 1);

    drop(traces);
}
