//! Fault injection at the real edges: moto (as AWS) answering late or never, a collector that
//! is down, a checkpoint store that is damaged, empty or gone, SIGTERM in the middle of a call,
//! and data from AWS dated in the future. Each test names the invariant it checks.
//!
//! Needs the test venv (`testing/setup-venv.sh`, run by the README's test command).

mod common;

use common::{bridge, bridge_cmd, write_config, Collector, Moto};
use std::collections::BTreeSet;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Waits for a child at most `limit` (a bound far above the expected time: proof that it does
/// not hang, not a speed check); kills it and fails the test past it.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts the bridge (`args`) against `aws`, exporting to `otlp` when given, with `env` on top
/// of the test environment; stdout and stderr are piped.
fn spawn_bridge(aws: &str, otlp: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = bridge_cmd(aws);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(otlp) = otlp {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn output_of(child: Child) -> (String, String) {
    let out = child.wait_with_output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!("--- bridge\n{o}\n{e}");
    (o, e)
}

/// The run ids of every run's root span (a run's own trace root, or a run that sits in
/// another run's trace: a root span by name, `RUN …`).
fn run_ids(r: &common::Received) -> BTreeSet<String> {
    r.spans
        .iter()
        .filter(|s| s.name.starts_with("RUN "))
        .filter_map(|s| s.attr("cicd.pipeline.run.id").map(str::to_string))
        .collect()
}

/// moto with the "test" seed, a collector, and a state directory: what most tests here start.
struct Rig {
    moto: Moto,
    col: Collector,
    dir: tempfile::TempDir,
}

impl Rig {
    fn start() -> Rig {
        Rig {
            moto: Moto::start("test"),
            col: Collector::start(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// `run --once` (plus `extra`) against this moto and collector, on this state.
    fn once(&self, extra: &[&str]) -> std::process::Output {
        let state = self.state();
        let mut args = vec!["run", "--once", "--state", state.to_str().unwrap()];
        args.extend(extra);
        bridge(
            &args,
            &[
                ("AWS_ENDPOINT_URL", self.moto.endpoint.as_str()),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", self.col.grpc.as_str()),
            ],
        )
    }
}

/// Invariant: a pipeline whose export failed keeps every finished run pending, however far
/// its run in flight moves the watermark; the next cycle delivers exactly what a fresh state
/// delivers. (The case: the demo seed, `clickstream-hourly` has two older finished runs
/// and one in flight.)
#[test]
fn no_finished_run_is_lost_after_a_failed_export() {
    let moto = Moto::start("demo");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let out = bridge(
        &["run", "--once", "--print", "--state", state],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
        ],
    );
    let first = out;

    let col = Collector::start();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert_eq!(out.status.code(), Some(0));
    let after_outage = run_ids(&col.received_since(m));
    // The demo's finished runs of every source (15 Glue job runs and executions alone).
    let n = after_outage.len();
    assert!(n > 15, "{after_outage:?}");
    assert_eq!(
        col.received_since(m)
            .sum("pipeline_bridge.runs.pending", &[]),
        0.0
    );

    let fresh = dir.path().join("fresh");
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", fresh.to_str().unwrap()], &env);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(run_ids(&col.received_since(m)), after_outage);

    assert_eq!(
        first.status.code(),
        Some(1),
        "exit 1: export not acknowledged"
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains(&format!("{n} finished run(s) not exported yet")),
        "{stdout}"
    );
    assert!(
        !stdout.contains("RUN "),
        "--print shows no tree for a run that was not exported: {stdout}"
    );
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(
        stderr.matches("trace export failed").count(),
        1,
        "one attempt per cycle while the collector is down, not one per pipeline: {stderr}"
    );
    assert!(
        !stderr.contains("tcp connect error: tcp connect error"),
        "causes said once: {stderr}"
    );
}

/// Invariant: one pipeline whose AWS call is slow holds back no other pipeline's export: their
/// runs reach the collector while its call is still waiting; then its own runs arrive too.
#[test]
fn a_slow_aws_call_holds_back_no_other_pipeline() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[aws]\nread_timeout = \"60s\"\noperation_timeout = \"120s\"\n",
    );
    moto.post(
        "/_inject/delay",
        serde_json::json!({"target": "AWSGlue.GetJobRuns", "match": "test-batch", "seconds": 20, "count": 1}),
    );
    let m = col.mark();
    let state = dir.path().join("state");
    let args = ["run", "--once", "--config", cfg.to_str().unwrap()];
    let mut child = spawn_bridge(
        &moto.endpoint,
        Some(&col.grpc),
        &[&args[..], &["--state", state.to_str().unwrap()]].concat(),
        &[],
    );
    let t = Instant::now();
    let mut others = 0;
    while t.elapsed() < Duration::from_secs(18) {
        others = col.snapshot_since(m).roots().len();
        if others >= 7 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(others, 7, "the 7 runs of the other pipelines arrived");
    assert!(
        child.try_wait().unwrap().is_none(),
        "…while the slow call was still waiting"
    );
    let st = wait_bounded(&mut child, Duration::from_secs(90), "run --once");
    let _ = output_of(child);
    assert_eq!(st.code(), Some(0));
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 10, "then the slow pipeline's 3 runs too");
}

/// Invariant: an AWS endpoint that accepts connections and never answers costs each call at
/// most its timeouts: `check` and `run --once` end by themselves and say which API timed out;
/// `run` refuses to start without the account id (exit 2) rather than poll as `unknown`.
#[test]
fn a_silent_aws_endpoint_cannot_hang_check_or_run() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s); // accept, read nothing, answer nothing
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[aws]\nconnect_timeout = \"1s\"\nread_timeout = \"1s\"\noperation_timeout = \"3s\"\n",
    );
    let cfg = cfg.to_str().unwrap();
    let col = Collector::start();

    let mut child = spawn_bridge(
        &endpoint,
        None,
        &["check", "--config", cfg],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    let st = wait_bounded(&mut child, Duration::from_secs(60), "check");
    let (out, _) = output_of(child);
    assert!(!st.success());
    assert!(out.contains("FAIL  account"), "{out}");
    assert!(
        out.contains("GetCallerIdentity") && out.contains("Timeout"),
        "{out}"
    );

    let state = dir.path().join("state");
    let mut child = spawn_bridge(
        &endpoint,
        Some(&col.grpc),
        &[
            "run",
            "--once",
            "--config",
            cfg,
            "--state",
            state.to_str().unwrap(),
        ],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    let st = wait_bounded(&mut child, Duration::from_secs(60), "run --once");
    let (_, err) = output_of(child);
    assert_eq!(
        st.code(),
        Some(2),
        "exit 2: without the account id (part of every id) the bridge does not start"
    );
    assert!(
        err.contains("Timeout") && err.contains("GetCallerIdentity"),
        "{err}"
    );
    assert!(err.contains("not starting"), "{err}");
}

/// Invariant: SIGTERM while an AWS call hangs stops the daemon within the shutdown grace, and
/// nothing is lost: the next start exports every run.
#[test]
fn sigterm_during_a_hanging_call_stops_promptly_and_loses_nothing() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(
        dir.path(),
        "[aws]\nread_timeout = \"300s\"\noperation_timeout = \"300s\"\n",
    );
    let cfg = cfg.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    moto.post(
        "/_inject/delay",
        serde_json::json!({"target": "AWSGlue.GetJobRuns", "match": "test-batch", "seconds": 120, "count": 1}),
    );
    let mut child = spawn_bridge(
        &moto.endpoint,
        Some(&col.grpc),
        &["run", "--config", cfg, "--state", state],
        &[],
    );
    let t = Instant::now();
    loop {
        let hits: serde_json::Value = serde_json::from_str(&moto.python(
            "print(urllib.request.urlopen(ENDPOINT + '/_inject/fault-hits').read().decode())",
        ))
        .unwrap();
        if hits["delays"][0]["hits"].as_u64() == Some(1) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the delayed call");
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    // The grace is 10 s; the hanging call would take 120 s.
    let st = wait_bounded(&mut child, Duration::from_secs(40), "SIGTERM");
    let (_, err) = output_of(child);
    assert!(st.success(), "a signal is a clean stop");
    assert!(err.contains("letting it finish"), "{err}");

    moto.post("/_inject/fault-clear", serde_json::json!({}));
    let m = col.mark();
    let out = bridge(
        &["run", "--once", "--config", cfg, "--state", state],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let r = col.received_since(m);
    let batch = r
        .roots()
        .iter()
        .filter(|s| s.attr("cicd.pipeline.name") == Some("test-batch"))
        .count();
    assert_eq!(batch, 3, "the runs of the interrupted pipeline arrive");
    assert_eq!(
        r.roots().len(),
        3,
        "…and only they: the other pipelines' runs were committed while the call hung"
    );
}

/// Invariant: a damaged checkpoint store is a clear error that says what to do (exit 2, no
/// panic); `--recover-state` moves it aside and starts over from the lookback; an emptied
/// store is announced loudly before everything is exported again.
#[test]
fn a_damaged_or_emptied_store_is_said_loudly_and_never_panics() {
    let rig = Rig::start();
    let state = rig.state();
    let out = rig.once(&[]);
    assert_eq!(out.status.code(), Some(0));

    let file = state.join("checkpoints.redb");
    let mut bytes = std::fs::read(&file).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&file, &bytes).unwrap();
    let out = rig.once(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--recover-state"), "{err}");
    assert!(err.contains(file.to_str().unwrap()), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let m = rig.col.mark();
    let out = rig.once(&["--recover-state"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(rig.col.received_since(m).roots().len(), 10, "started over");
    assert!(std::fs::read_dir(&state).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("checkpoints.redb.damaged-")));

    std::fs::write(&file, b"").unwrap();
    let m = rig.col.mark();
    let out = rig.once(&[]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CHECKPOINTS LOST") && err.contains("empty"),
        "{err}"
    );
    assert_eq!(rig.col.received_since(m).roots().len(), 10);
}

/// Invariant: a run dated 30 days ahead is exported, and the pipeline's next real run is too.
#[test]
fn a_run_dated_in_the_future_does_not_blind_its_pipeline() {
    let rig = Rig::start();
    let (moto, col) = (&rig.moto, &rig.col);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let future = moto.post(
        "/_inject/glue-job-run-create",
        serde_json::json!({"JobName": "test-etl", "fields": {
            "JobRunState": "SUCCEEDED", "StartedOn": now + 30.0 * 86400.0 + 0.123,
            "CompletedOn": now + 30.0 * 86400.0 + 60.123, "LastModifiedOn": now + 30.0 * 86400.0 + 60.123}}),
    );
    let m = col.mark();
    let out = rig.once(&[]);
    assert_eq!(out.status.code(), Some(0));
    let r = col.received_since(m);
    r.root_of_run(future["JobRunId"].as_str().unwrap());
    let warned = String::from_utf8_lossy(&out.stderr).contains("in the future");

    let next = moto.post(
        "/_inject/glue-job-run-create",
        serde_json::json!({"JobName": "test-etl", "fields": {
            "JobRunState": "SUCCEEDED", "StartedOn": now + 1.123,
            "CompletedOn": now + 2.123, "LastModifiedOn": now + 2.123}}),
    );
    std::thread::sleep(Duration::from_millis(2500));
    let m = col.mark();
    let out = rig.once(&[]);
    assert_eq!(out.status.code(), Some(0));
    let r = col.received_since(m);
    assert_eq!(r.roots().len(), 1, "exactly the next real run");
    r.root_of_run(next["JobRunId"].as_str().unwrap());
    assert!(warned, "the skewed run was warned about");
}

/// Adds `per_job` finished runs to each of the two seeded Glue jobs, in one Python process;
/// returns how many were added.
fn add_backfill(moto: &Moto, per_job: usize) -> usize {
    moto.python(&format!(
        "now = time.time()\n\
         for job in ['test-etl', 'test-batch']:\n\
         \x20   for i in range({per_job}):\n\
         \x20       s = now - 3000 + i * 2900.0 / {per_job} + 0.123\n\
         \x20       inject('/_inject/glue-job-run-create', {{'JobName': job, 'fields': {{\n\
         \x20           'JobRunState': 'FAILED' if i % 7 == 0 else 'SUCCEEDED', 'StartedOn': s,\n\
         \x20           'CompletedOn': s + 3, 'LastModifiedOn': s + 3,\n\
         \x20           'ErrorMessage': 'java.lang.IllegalStateException: boom' if i % 7 == 0 else None}}}})\n"
    ));
    2 * per_job
}

/// Invariant: kill -9 at seeded random moments of a large backfill loses no run and doubles
/// or loses no count: after the kills, one clean cycle leaves every finished run delivered at
/// least once and the run counters exactly equal to the number of runs.
#[test]
fn kill_9_during_a_backfill_loses_no_run_and_no_count() {
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "poll_interval = \"1s\"\n");
    let cfg = cfg.to_str().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    // 6 Glue runs and 4 executions finished in the seed, plus the backfill.
    let finished = 10 + add_backfill(&moto, 200);
    let m = col.mark();
    // A fixed seed, so a failure is repeatable; the kill moments spread over the first cycles.
    let seed: u64 = 20261130;
    let mut x = seed;
    for round in 0..5 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(200 + (x >> 33) % 2500);
        let mut child = spawn_bridge(
            &moto.endpoint,
            Some(&col.grpc),
            &["run", "--config", cfg, "--state", state],
            &[],
        );
        std::thread::sleep(after);
        eprintln!("seed {seed} round {round}: kill -9 after {after:?}");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let out = bridge(
        &["run", "--once", "--config", cfg, "--state", state],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let r = col.received_since(m);
    assert_eq!(run_ids(&r).len(), finished, "every finished run delivered");
    // The last metrics export of the last process holds the totals.
    assert_eq!(
        r.sum("pipeline_bridge.pipeline.runs", &[]),
        finished as f64,
        "runs counted exactly once across the kills"
    );
    assert_eq!(r.sum("cicd.pipeline.run.duration", &[]), finished as f64);
}

/// Invariant: a full disk under the checkpoint store fails the commit (exit 4) without losing
/// or double-counting anything: once there is room again, the runs are exported and counted
/// exactly once. Needs root to mount a small tmpfs (CI runs as root).
#[test]
fn a_full_disk_fails_the_commit_and_loses_nothing() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        eprintln!("SKIPPED: mounting a small tmpfs needs root");
        return;
    }
    let moto = Moto::start("test");
    let col = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("disk");
    std::fs::create_dir_all(&mnt).unwrap();
    let st = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=8m",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    let state = mnt.join("state");
    let state = state.to_str().unwrap();
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.grpc.as_str()),
    ];
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert_eq!(out.status.code(), Some(0));

    // Fill the disk, then give the bridge a backfill to commit.
    let filler = mnt.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=4k"])
        .stderr(Stdio::null())
        .status();
    // Large enough that the commits need room redb has not reserved yet.
    let added = add_backfill(&moto, 1500);
    let m = col.mark();
    let out = bridge(&["run", "--once", "--state", state], &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(4),
        "exit 4: checkpoint not committed"
    );
    assert!(err.contains("checkpoint commit failed"), "{err}");

    // A daemon started while the disk is still full fails its commits, then recovers by
    // itself once there is room: commits made before the disk filled stand, the rest is
    // exported again and counted once.
    let cfg = write_config(dir.path(), "poll_interval = \"1s\"\n");
    let mut child = spawn_bridge(
        &moto.endpoint,
        Some(&col.grpc),
        &["run", "--config", cfg.to_str().unwrap(), "--state", state],
        &[],
    );
    // Its stderr, line by line, so the disk is freed only after a commit failed.
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let log = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                eprintln!("{line}");
                log.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let t = Instant::now();
    while !log.lock().unwrap().contains("checkpoint commit failed") {
        assert!(t.elapsed() < Duration::from_secs(60), "a failed commit");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(&filler).unwrap();
    let t = Instant::now();
    let mut counted = 0.0;
    while t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        let r = col.snapshot_since(m);
        counted = r.sum("pipeline_bridge.pipeline.runs", &[]);
        if counted == (10 + added) as f64 && run_ids(&r).len() == added {
            break;
        }
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = wait_bounded(&mut child, Duration::from_secs(30), "SIGTERM");
    reader.join().unwrap();
    assert!(st.success());
    let r = col.snapshot_since(m);
    assert_eq!(
        run_ids(&r).len(),
        added,
        "every run of the backfill delivered"
    );
    assert_eq!(
        counted,
        (10 + added) as f64,
        "counted once: the failed commits counted nothing, the recovered ones everything"
    );
}

/// Invariant: text from AWS cannot drive the terminal through the logs: an AWS error message
/// holding a clear-screen, a window title and a bell reaches stderr escaped, on one line.
#[test]
fn hostile_aws_error_text_is_escaped_in_the_logs() {
    let rig = Rig::start();
    rig.moto.post(
        "/_inject/fault",
        serde_json::json!({"target": "AWSGlue.GetJobRuns", "match": "test-batch", "code": "AccessDeniedException",
            "message": "denied\u{1b}[2J\u{1b}]0;pwned\u{7}\nFORGED LINE", "count": -1}),
    );
    let out = rig.once(&[]);
    assert_eq!(out.status.code(), Some(3));
    let err = &out.stderr;
    assert!(!err.contains(&0x1b), "no ESC byte reaches stderr");
    assert!(!err.contains(&0x07), "no BEL byte reaches stderr");
    let text = String::from_utf8_lossy(err);
    assert!(text.contains("AccessDeniedException"), "{text}");
    assert!(
        text.lines().all(|l| !l.starts_with("FORGED LINE")),
        "AWS text never starts a line: {text}"
    );
}

/// A fake OTLP/HTTP collector on loopback: answers every request with `status` after `delay`
/// seconds. Killed when dropped.
fn fake_collector(status: u16, delay: f64) -> (common::Server, String) {
    let port = common::free_port();
    let code = format!(
        "import http.server, time\n\
         class H(http.server.BaseHTTPRequestHandler):\n\
         \x20   def do_POST(self):\n\
         \x20       self.rfile.read(int(self.headers.get('Content-Length') or 0))\n\
         \x20       time.sleep({delay})\n\
         \x20       self.send_response({status}); self.send_header('Content-Length', '0'); self.end_headers()\n\
         \x20   def log_message(self, *a): pass\n\
         http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    );
    let child = std::process::Command::new(common::venv().join("bin/python"))
        .args(["-c", &code])
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "fake collector");
        std::thread::sleep(Duration::from_millis(50));
    }
    (
        common::Server {
            child,
            name: "fake-collector",
        },
        format!("http://127.0.0.1:{port}"),
    )
}

/// Invariant: a collector answering 503, then one too slow to answer within the export
/// timeout, leave every run pending (exit 1, nothing counted); the real collector then gets
/// every run, counted once.
#[test]
fn a_collector_answering_503_or_too_slowly_loses_nothing() {
    let moto = Moto::start("test");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let state = state.to_str().unwrap();
    let http = [("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")];
    for (status, delay) in [(503, 0.0), (200, 5.0)] {
        let (_server, url) = fake_collector(status, delay);
        let mut env = vec![
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
        ];
        env.extend(http);
        let out = bridge(&["run", "--once", "--state", state], &env);
        assert_eq!(
            out.status.code(),
            Some(1),
            "status {status} after {delay}s: not acknowledged"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("trace export failed"));
    }
    let col = Collector::start();
    let m = col.mark();
    let mut env = vec![
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", col.http.as_str()),
    ];
    env.extend(http);
    let out = bridge(&["run", "--once", "--state", state], &env);
    assert_eq!(out.status.code(), Some(0));
    let r = col.received_since(m);
    assert_eq!(run_ids(&r).len(), 10);
    assert_eq!(r.sum("pipeline_bridge.pipeline.runs", &[]), 10.0);
}

/// Invariant (API cost): during a collector outage, a pending Step Functions execution's
/// history is read once, not again every cycle.
#[test]
fn an_outage_does_not_read_histories_again_every_cycle() {
    let moto = Moto::start("test");
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "poll_interval = \"1s\"\n");
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let out = bridge(
        &[
            "run",
            "--cycles",
            "3",
            "--config",
            cfg.to_str().unwrap(),
            "--state",
            dir.path().join("state").to_str().unwrap(),
        ],
        &[
            ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dead.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rfind(|l| l.contains("poll cycle done"))
        .unwrap();
    assert!(last.contains("pending=10"), "{last}");
    assert!(
        last.contains("sfn.GetExecutionHistory=4 "),
        "4 executions, each history read once in 3 cycles: {last}"
    );
}

/// Invariant: a cycle in which every AWS read fails is no successful poll (the last-poll gauge
/// must age so that PipelineBridgeNotPolling pages), while one pipeline denied among readable
/// ones is a successful poll (its own alert is PipelineBridgeAwsErrors).
#[test]
fn a_bridge_that_can_read_nothing_from_aws_is_not_polling() {
    let metrics_after_cycles = |faults: &[serde_json::Value]| -> String {
        let rig = Rig::start();
        for f in faults {
            rig.moto.post("/_inject/fault", f.clone());
        }
        let port = common::free_port();
        let state = rig.state();
        let listen = format!("127.0.0.1:{port}");
        let cfg = common::write_config(rig.dir.path(), "poll_interval = \"1s\"\n");
        let child = spawn_bridge(
            &rig.moto.endpoint,
            Some(&rig.col.grpc),
            &[
                "run",
                "--config",
                cfg.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--listen",
                &listen,
            ],
            &[],
        );
        let _child = common::Server {
            child,
            name: "bridge",
        };
        // Several cycles (1 s apart) after the first.
        let t = std::time::Instant::now();
        loop {
            let body = common::http_get(port, "/metrics")
                .map(|r| r.1)
                .unwrap_or_default();
            if body.contains("pipeline_bridge_poll_cycle_duration_seconds_count")
                && t.elapsed() > Duration::from_secs(4)
            {
                return body;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "no cycle: {body}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let gauge = "pipeline_bridge_poll_last_success_timestamp_seconds";
    let denied = |target: &str, m: &str| {
        serde_json::json!({"target": target, "match": m, "code": "AccessDeniedException",
            "message": "not authorized", "count": -1})
    };
    // Every listing denied: nothing is read.
    let none = metrics_after_cycles(&[
        denied("AWSGlue.GetJobRuns", ""),
        denied("AWSStepFunctions.ListExecutions", ""),
    ]);
    assert!(
        none.contains("pipeline_bridge_poll_cycle_duration_seconds_count{outcome=\"error\""),
        "the cycles failed: {none}"
    );
    assert!(
        !none.lines().any(|l| l.starts_with(gauge)),
        "no successful poll while every AWS read fails:\n{none}"
    );
    assert!(
        none.contains("pipeline_bridge_start_time_seconds"),
        "{none}"
    );
    // One job denied, the others read: polling.
    let some = metrics_after_cycles(&[denied("AWSGlue.GetJobRuns", "test-batch")]);
    assert!(
        some.lines().any(|l| l.starts_with(gauge)),
        "one pipeline denied among readable ones is still a successful poll:\n{some}"
    );
}
