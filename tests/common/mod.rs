//! Real servers for the integration tests: the moto harness (AWS) and rotel (an OTLP
//! collector whose debug log shows what it received), plus a parser for that log.
#![allow(dead_code)]

pub mod fixtures;
pub mod spans;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test venv (moto, rotel), created on first use by `testing/setup-venv.sh`.
pub fn venv() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("testing/setup-venv.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run testing/setup-venv.sh");
    assert!(out.status.success(), "testing/setup-venv.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Server {
    pub child: Child,
    pub name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto with the Glue injection routes, seeded with a scenario of `testing/seed.py`.
pub struct Moto {
    pub endpoint: String,
    pub seed: serde_json::Value,
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start(scenario: &str) -> Moto {
        Moto::launch(Some(scenario))
    }

    /// The harness with nothing seeded (`seed` is null).
    pub fn start_empty() -> Moto {
        Moto::launch(None)
    }

    fn launch(scenario: Option<&str>) -> Moto {
        let venv = venv();
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let summary = dir.path().join("seed.json");
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.arg(repo().join("testing/moto_harness.py"))
            .args(["--port-file", port_file.to_str().unwrap()]);
        if let Some(scenario) = scenario {
            cmd.args(["--seed", scenario, "--seed-wait"])
                .args(["--seed-summary", summary.to_str().unwrap()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto harness");
        let server = Server {
            child,
            name: "moto",
        };
        wait_for("moto harness", Duration::from_secs(90), || {
            port_file.exists()
        });
        let port = std::fs::read_to_string(&port_file)
            .unwrap()
            .trim()
            .to_string();
        let seed = match scenario {
            Some(_) => serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap(),
            None => serde_json::Value::Null,
        };
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            seed,
            _server: server,
            _dir: dir,
        }
    }

    /// Runs Python with a boto3 client factory `client(service)` bound to this moto.
    pub fn python(&self, code: &str) -> String {
        let prelude = format!(
            "import boto3, json, time, urllib.request\nENDPOINT = '{0}'\n\
             def client(s): return boto3.client(s, endpoint_url=ENDPOINT, region_name='us-east-1', \
             aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             def inject(route, body): return json.loads(urllib.request.urlopen(urllib.request.Request(\
             ENDPOINT + route, data=json.dumps(body).encode(), headers={{'Content-Type': 'application/json'}})).read() or 'null')\n",
            self.endpoint
        );
        let out = Command::new(venv().join("bin/python"))
            .args(["-c", &format!("{prelude}{code}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// POSTs JSON to a harness route (e.g. `/_inject/glue-job-run`).
    pub fn post(&self, route: &str, body: serde_json::Value) -> serde_json::Value {
        let out = Command::new(venv().join("bin/python"))
            .args([
                "-c",
                "import sys,urllib.request;r=urllib.request.urlopen(urllib.request.Request(sys.argv[1],data=sys.argv[2].encode(),headers={'Content-Type':'application/json'}));print(r.read().decode())",
                &format!("{}{route}", self.endpoint),
                &body.to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "POST {route}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
    }
}

/// rotel listening on gRPC and HTTP, logging what it receives.
pub struct Collector {
    pub grpc: String,
    pub http: String,
    pub grpc_port: u16,
    pub http_port: u16,
    log: PathBuf,
    _server: Server,
    _dir: tempfile::TempDir,
}

impl Collector {
    pub fn start() -> Collector {
        let venv = venv();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("rotel.log");
        let (gp, hp) = (free_port(), free_port());
        let rotel = std::fs::read_dir(venv.join("lib"))
            .unwrap()
            .map(|e| e.unwrap().path().join("site-packages/rotel/rotel-agent"))
            .find(|p| p.exists())
            .expect("rotel-agent in the venv");
        let child = Command::new(rotel)
            .args(["start", "--otlp-grpc-endpoint", &format!("127.0.0.1:{gp}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{hp}")])
            .args([
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log",
                "metrics",
            ])
            .args(["--debug-log-verbosity", "detailed"])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rotel");
        let server = Server {
            child,
            name: "rotel",
        };
        for port in [gp, hp] {
            wait_for("rotel", Duration::from_secs(20), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
        }
        Collector {
            grpc: format!("http://127.0.0.1:{gp}"),
            http: format!("http://127.0.0.1:{hp}"),
            grpc_port: gp,
            http_port: hp,
            log,
            _server: server,
            _dir: dir,
        }
    }

    /// The collector's debug log.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Bytes logged so far: a mark to read only what arrives after it.
    pub fn mark(&self) -> usize {
        std::fs::metadata(&self.log)
            .map(|m| m.len() as usize)
            .unwrap_or(0)
    }

    /// What arrived since `mark` so far, without waiting.
    pub fn snapshot_since(&self, mark: usize) -> Received {
        let all = std::fs::read(&self.log).unwrap_or_default();
        parse(&String::from_utf8_lossy(&all[mark.min(all.len())..]))
    }

    /// What arrived since `mark`, waiting until a metrics export (sent last by every bridge
    /// process) is in and the log stopped growing.
    pub fn received_since(&self, mark: usize) -> Received {
        let mut text = String::new();
        let mut last_len = 0;
        let mut stable_since = Instant::now();
        wait_for(
            "the collector to log a metrics export",
            Duration::from_secs(20),
            || {
                let mut f = std::fs::File::open(&self.log).unwrap();
                let mut all = Vec::new();
                f.read_to_end(&mut all).unwrap();
                text = String::from_utf8_lossy(&all[mark.min(all.len())..]).into_owned();
                if text.len() != last_len {
                    last_len = text.len();
                    stable_since = Instant::now();
                }
                text.contains("ResourceMetrics #")
                    && stable_since.elapsed() > Duration::from_millis(300)
            },
        );
        parse(&text)
    }
}

/// A span as the collector received it.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub trace_id: String,
    pub parent: String,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub start_ns: u128,
    pub end_ns: u128,
    pub status: String,
    pub status_message: String,
    pub attrs: BTreeMap<String, String>,
    pub resource: BTreeMap<String, String>,
    pub events: Vec<String>,
    pub links: usize,
}

impl Span {
    pub fn attr(&self, k: &str) -> Option<&str> {
        self.attrs.get(k).map(String::as_str)
    }
    pub fn duration_ms(&self) -> i64 {
        ((self.end_ns as i128 - self.start_ns as i128) / 1_000_000) as i64
    }
}

/// A metric data point: name, attributes, value (sum/gauge) or count (histogram).
#[derive(Debug, Clone, Default)]
pub struct Point {
    /// Which metrics export (request) of the log it came in, from 1.
    pub batch: usize,
    pub metric: String,
    pub attrs: BTreeMap<String, String>,
    pub value: f64,
    /// Its exemplars, each as its fields (`Trace ID`, `Span ID`, `Timestamp`, `Value`).
    pub exemplars: Vec<BTreeMap<String, String>>,
}

#[derive(Debug, Default)]
pub struct Received {
    pub spans: Vec<Span>,
    pub points: Vec<Point>,
}

impl Received {
    pub fn roots(&self) -> Vec<&Span> {
        self.spans.iter().filter(|s| s.parent.is_empty()).collect()
    }
    pub fn root_of_run(&self, run_id: &str) -> &Span {
        self.roots()
            .into_iter()
            .find(|s| s.attr("cicd.pipeline.run.id") == Some(run_id))
            .unwrap_or_else(|| panic!("no root span for run {run_id}"))
    }
    pub fn children(&self, parent: &Span) -> Vec<&Span> {
        self.spans
            .iter()
            .filter(|s| s.trace_id == parent.trace_id && s.parent == parent.id)
            .collect()
    }
    /// Points of a metric, in the last metrics export, whose attributes include all of
    /// `want` (metrics are cumulative: the last export holds the totals).
    pub fn points(&self, metric: &str, want: &[(&str, &str)]) -> Vec<&Point> {
        let last = self.points.iter().map(|p| p.batch).max().unwrap_or(0);
        self.points
            .iter()
            .filter(|p| {
                p.batch == last
                    && p.metric == metric
                    && want
                        .iter()
                        .all(|(k, v)| p.attrs.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }
    pub fn sum(&self, metric: &str, want: &[(&str, &str)]) -> f64 {
        self.points(metric, want).iter().map(|p| p.value).sum()
    }
}

fn attr_line(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix("-> ")?;
    let (k, v) = rest.split_once(": ")?;
    let v = match (v.find('('), v.ends_with(')')) {
        (Some(i), true) => v[i + 1..v.len() - 1].to_string(),
        _ => v.to_string(),
    };
    Some((k.to_string(), v))
}

/// Parses rotel's `--debug-log-verbosity detailed` output.
pub fn parse(text: &str) -> Received {
    #[derive(PartialEq)]
    enum In {
        Resource,
        Span,
        Event,
        Link,
        Point,
        Exemplar,
        Descriptor,
        Other,
    }
    let mut out = Received::default();
    let mut resource = BTreeMap::new();
    let mut metric = String::new();
    let mut batch = 0;
    let mut state = In::Other;
    for line in text.lines() {
        let t = line.trim();
        if t == "ResourceMetrics #0" {
            batch += 1;
        }
        if t.starts_with("ResourceSpans #") || t.starts_with("ResourceMetrics #") {
            resource = BTreeMap::new();
            state = In::Other;
        } else if t == "Resource attributes:" {
            state = In::Resource;
        } else if t.starts_with("Span #") {
            out.spans.push(Span {
                resource: resource.clone(),
                ..Default::default()
            });
            state = In::Span;
        } else if t.starts_with("SpanEvent #") {
            state = In::Event;
        } else if t.starts_with("SpanLink #") {
            if let Some(s) = out.spans.last_mut() {
                s.links += 1;
            }
            state = In::Link;
        } else if t == "Descriptor:" {
            state = In::Descriptor;
        } else if t.starts_with("NumberDataPoints #") || t.starts_with("HistogramDataPoints #") {
            out.points.push(Point {
                batch,
                metric: metric.clone(),
                ..Default::default()
            });
            state = In::Point;
        } else if t.starts_with("Exemplar #") && (state == In::Point || state == In::Exemplar) {
            if let Some(p) = out.points.last_mut() {
                p.exemplars.push(BTreeMap::new());
            }
            state = In::Exemplar;
        } else if t.starts_with("ScopeSpans") || t.starts_with("ScopeMetrics") {
            if state == In::Resource {
                state = In::Other;
            }
        } else if let Some((k, v)) = attr_line(line) {
            match state {
                In::Resource => {
                    resource.insert(k, v);
                }
                In::Span => {
                    if let Some(s) = out.spans.last_mut() {
                        s.attrs.insert(k, v);
                    }
                }
                In::Event if k == "Name" => {
                    if let Some(s) = out.spans.last_mut() {
                        s.events.push(v);
                    }
                }
                In::Descriptor if k == "Name" => metric = v,
                In::Point => {
                    if let Some(p) = out.points.last_mut() {
                        p.attrs.insert(k, v);
                    }
                }
                In::Exemplar => {
                    if let Some(e) = out.points.last_mut().and_then(|p| p.exemplars.last_mut()) {
                        e.insert(k, v);
                    }
                }
                _ => {}
            }
        } else if state == In::Span || state == In::Event || state == In::Link {
            let Some(s) = out.spans.last_mut() else {
                continue;
            };
            let field = |p: &str| {
                t.strip_prefix(p)
                    .map(|r| r.trim_start_matches([' ', ':']).trim().to_string())
            };
            if let Some(v) = field("Trace ID") {
                if state == In::Span {
                    s.trace_id = v
                }
            } else if let Some(v) = field("Parent ID") {
                s.parent = v
            } else if let Some(v) = field("ID") {
                if state == In::Span {
                    s.id = v
                }
            } else if let Some(v) = field("Name") {
                s.name = v
            } else if let Some(v) = field("Kind") {
                s.kind = v
            } else if let Some(v) = field("Start time") {
                s.start_ns = v.parse().unwrap_or(0)
            } else if let Some(v) = field("End time") {
                s.end_ns = v.parse().unwrap_or(0)
            } else if let Some(v) = field("Status code") {
                s.status = v
            } else if let Some(v) = field("Status message") {
                s.status_message = v
            }
        } else if state == In::Point {
            let Some(p) = out.points.last_mut() else {
                continue;
            };
            if let Some(v) = t
                .strip_prefix("Value: ")
                .or_else(|| t.strip_prefix("Count: "))
            {
                p.value = v.trim().parse().unwrap_or(f64::NAN);
            }
        }
    }
    out
}

/// The bridge binary with a clean test environment pointed at `aws_endpoint` (moto): no
/// ambient profile or OTLP settings, static dummy credentials.
pub fn bridge_cmd(aws_endpoint: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline-otel-bridge"));
    cmd.env_remove("AWS_PROFILE")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_PROTOCOL")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PIPELINE_BRIDGE_LOG", "info");
    cmd
}

/// Runs the bridge binary with the test environment (plus `env`); returns its output.
pub fn bridge(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bridge_cmd("");
    cmd.env_remove("AWS_ENDPOINT_URL").args(args);
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

/// A plain HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Percent-encodes a query parameter.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("bridge.toml");
    std::fs::write(&p, text).unwrap();
    p
}
