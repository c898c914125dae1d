//! A first start over a busy estate: moto seeded with 5,000 finished Glue runs and 500 Step
//! Functions executions (one a Map over 5,100 items: 10,202 spans, capped to 10,000), exported by one
//! `run --once` over gRPC to rotel, whose tonic server refuses requests over 4 MiB (the gRPC
//! default; it answers `OutOfRange`). Every run must arrive in that one cycle.
//!
//! `BACKFILL_MAX_REQUEST_BYTES=67108864 cargo test --test backfill` sets the bridge's limit to
//! 64 MiB — one request per pipeline, as before batching — and the test fails.
//! `bench/backfill.sh` runs the same scenario with a release build.

mod common;

use common::{venv, write_config, Collector};
use std::collections::HashSet;
use std::process::Command;
use std::time::Instant;

const GLUE_RUNS: usize = 5_000;
const SFN_SMALL: usize = 499;
const MAP_ITEMS: usize = 5_100;
/// The limit rotel (tonic) enforces on a received gRPC message.
const RECEIVER_LIMIT: usize = 4 * 1024 * 1024;

/// `key=value` of a log line (values without spaces).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn a_first_start_backfill_arrives_in_one_cycle_under_a_4_mib_receiver() {
    let moto = common::Moto::start_empty();
    let endpoint = moto.endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let out = Command::new(venv().join("bin/python"))
        .arg(common::repo().join("testing/seed_backfill.py"))
        .args(["--endpoint", &endpoint])
        .args(["--glue", &GLUE_RUNS.to_string()])
        .args(["--sfn", &SFN_SMALL.to_string()])
        .args(["--map-items", &MAP_ITEMS.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("seeded in {:.1}s", t.elapsed().as_secs_f64());
    let mut want: HashSet<String> = HashSet::new();
    for k in ["glue_runs", "sfn_executions"] {
        for id in seed[k].as_array().unwrap() {
            want.insert(id.as_str().unwrap().to_string());
        }
    }
    assert_eq!(want.len(), GLUE_RUNS + SFN_SMALL + 1);
    let big_run = seed["map_execution"].as_str().unwrap().to_string();

    let collector = Collector::start();
    // moto answers GetExecutionHistory of the big Map (20,400 events) in one slow page: the
    // AWS timeouts are raised so that only the export is under test.
    let mut cfg = format!(
        "lookback = \"24h\"\n[aws]\nread_timeout = \"120s\"\noperation_timeout = \"180s\"\n\
         [otlp]\nendpoint = \"{}\"\n",
        collector.grpc
    );
    if let Ok(max) = std::env::var("BACKFILL_MAX_REQUEST_BYTES") {
        cfg.push_str(&format!("max_request_bytes = {max}\n"));
    }
    let config = write_config(dir.path(), &cfg);
    let state = dir.path().join("state");
    let mark = collector.mark();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v");
    let timed = std::path::Path::new("/usr/bin/time").exists();
    let bin = env!("CARGO_BIN_EXE_pipeline-otel-bridge");
    let mut cmd = if timed {
        cmd.arg(bin);
        cmd
    } else {
        Command::new(bin)
    };
    let base = common::bridge_cmd(&endpoint);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env(
        "PIPELINE_BRIDGE_LOG",
        "info,pipeline_otel_bridge::poller=debug",
    )
    .args(["run", "--once", "--config", config.to_str().unwrap()])
    .args(["--state", state.to_str().unwrap()]);
    let t = Instant::now();
    let out = cmd.output().expect("run the bridge");
    let wall = t.elapsed();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    for line in log.lines().filter(|l| !l.contains("trace batch sent")) {
        eprintln!("{line}");
    }

    // What the bridge sent, by its own accounting (exact protobuf sizes).
    let sent: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("trace batch sent"))
        .collect();
    let num = |key: &str| -> Vec<usize> {
        sent.iter()
            .filter_map(|l| field(l, key)?.parse().ok())
            .collect()
    };
    let (batches, took_ms) = (num("bytes"), num("took_ms"));
    assert_eq!(batches.len(), sent.len(), "every batch line has its size");
    let max = batches.iter().copied().max().unwrap_or(0);
    let total: usize = batches.iter().sum();
    let rss = log
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap_or("?");
    let received = collector.received_since(mark);
    let roots: HashSet<String> = received
        .roots()
        .iter()
        .filter_map(|s| s.attr("cicd.pipeline.run.id").map(String::from))
        .collect();
    eprintln!(
        "backfill: {} runs arrived of {}; {} requests, {} spans, bytes per request max {} avg {}; \
         export round trips {:.2}s; cycle wall time {:.1}s; bridge max RSS {} KiB",
        roots.len(),
        want.len(),
        batches.len(),
        received.spans.len(),
        max,
        total / batches.len().max(1),
        took_ms.iter().sum::<usize>() as f64 / 1000.0,
        wall.as_secs_f64(),
        rss
    );

    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(
        !log.contains("trace export failed"),
        "an export was refused"
    );
    assert_eq!(roots.len(), want.len(), "distinct runs that arrived");
    assert_eq!(roots, want);
    assert!(batches.len() > 1, "{} requests", batches.len());
    assert!(max <= RECEIVER_LIMIT, "largest request {max} bytes");

    // The 10,202-span run arrived capped (at 10,000 spans, or lower when that many do not fit
    // in one request: every task span carries its run's console URL), every span with its
    // parent, and the root says how many were left out.
    let root = received.root_of_run(&big_run);
    let spans: Vec<_> = received
        .spans
        .iter()
        .filter(|s| s.trace_id == root.trace_id)
        .collect();
    assert!(
        (1_000..=10_000).contains(&spans.len()),
        "{} spans",
        spans.len()
    );
    let ids: HashSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    assert!(spans
        .iter()
        .all(|s| s.parent.is_empty() || ids.contains(s.parent.as_str())));
    let dropped = 1 + 1 + 2 * MAP_ITEMS - spans.len();
    assert_eq!(
        root.attr("pipeline_bridge.spans.dropped"),
        Some(dropped.to_string().as_str())
    );
}
