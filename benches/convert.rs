//! Conversion speed: a 25,000-event Step Functions history (the API's maximum per execution)
//! and 10,000 Glue job runs, each to a `PipelineRun` and on to OTLP span data; and the lookup
//! of a pipeline's settings among 20,000 `[[pipelines]]` entries.
//!
//! `cargo bench --bench convert`; numbers go in the closing note.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use pipeline_otel_bridge::config::Config;
use pipeline_otel_bridge::convert::spans;
use pipeline_otel_bridge::records::Millis;
use pipeline_otel_bridge::sources::glue_job::records::GlueJobRun;
use pipeline_otel_bridge::sources::sfn::records::{HistoryEvent, SfnExecution};
use pipeline_otel_bridge::sources::{glue_job::convert as glue, sfn::convert as sfn};
use std::hint::black_box;

fn ev(id: i64, prev: i64, t: i64, kind: &str) -> HistoryEvent {
    HistoryEvent {
        id,
        previous_event_id: prev,
        timestamp: Millis(1_700_000_000_000 + t),
        kind: kind.to_string(),
        ..HistoryEvent::default()
    }
}

/// A Map over `n` items, each iteration a Lambda task (6 events) and a Pass (2), with every
/// tenth task retried once; about 25,000 events for n = 2,688.
fn big_history(n: i64) -> Vec<HistoryEvent> {
    let mut v = vec![ev(1, 0, 0, "ExecutionStarted")];
    let mut id = 1;
    let mut push = |v: &mut Vec<HistoryEvent>,
                    prev: i64,
                    kind: &str,
                    name: Option<&str>,
                    index: Option<i64>| {
        id += 1;
        let mut e = ev(id, prev, id * 10, kind);
        e.name = name.map(str::to_string);
        e.index = index;
        if kind.ends_with("Scheduled") {
            e.resource = Some("arn:aws:lambda:us-east-1:123456789012:function:transform".into());
            e.resource_type = Some("lambda".into());
        }
        if kind.ends_with("Failed") {
            e.error = Some("Lambda.ServiceException".into());
            e.cause = Some("Rate exceeded".into());
        }
        v.push(e);
        id
    };
    let entered = push(&mut v, 1, "MapStateEntered", Some("Fanout"), None);
    let started = push(&mut v, entered, "MapStateStarted", None, None);
    let mut last = started;
    for i in 0..n {
        let it = push(
            &mut v,
            started,
            "MapIterationStarted",
            Some("Fanout"),
            Some(i),
        );
        let mut p = push(&mut v, it, "TaskStateEntered", Some("Transform"), None);
        let attempts = if i % 10 == 0 { 2 } else { 1 };
        for a in 0..attempts {
            p = push(&mut v, p, "LambdaFunctionScheduled", None, None);
            p = push(&mut v, p, "LambdaFunctionStarted", None, None);
            let end = if a + 1 < attempts {
                "LambdaFunctionFailed"
            } else {
                "LambdaFunctionSucceeded"
            };
            p = push(&mut v, p, end, None, None);
        }
        p = push(&mut v, p, "TaskStateExited", Some("Transform"), None);
        p = push(&mut v, p, "PassStateEntered", Some("Record"), None);
        p = push(&mut v, p, "PassStateExited", Some("Record"), None);
        last = push(&mut v, p, "MapIterationSucceeded", Some("Fanout"), Some(i));
    }
    let s = push(&mut v, last, "MapStateSucceeded", None, None);
    let x = push(&mut v, s, "MapStateExited", Some("Fanout"), None);
    push(&mut v, x, "ExecutionSucceeded", None, None);
    v
}

fn glue_runs(n: usize) -> Vec<GlueJobRun> {
    let states = [
        "SUCCEEDED",
        "SUCCEEDED",
        "SUCCEEDED",
        "FAILED",
        "TIMEOUT",
        "STOPPED",
        "RUNNING",
    ];
    (0..n)
        .map(|i| GlueJobRun {
            id: format!("jr_{i:064x}"),
            job_name: format!("job-{}", i % 100),
            job_run_state: states[i % states.len()].to_string(),
            started_on: Some(Millis(1_700_000_000_000 + i as i64 * 60_000)),
            completed_on: Some(Millis(1_700_000_000_000 + i as i64 * 60_000 + 1_234_000)),
            error_message: (i % states.len() == 3).then(|| {
                "An error occurred while calling o123.pyWriteDynamicFrame. java.lang.OutOfMemoryError: Java heap space".to_string()
            }),
            execution_time: Some(1234),
            worker_type: Some("G.1X".into()),
            number_of_workers: Some(10),
            ..GlueJobRun::default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let history = big_history(2_688);
    let exec = SfnExecution {
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:fanout:big".into(),
        state_machine_arn: "arn:aws:states:us-east-1:123456789012:stateMachine:fanout".into(),
        name: "big".into(),
        status: "SUCCEEDED".into(),
        start_date: Some(Millis(1_700_000_000_000)),
        stop_date: history.last().map(|e| e.timestamp),
        ..SfnExecution::default()
    };
    let mut g = c.benchmark_group("sfn");
    g.throughput(Throughput::Elements(history.len() as u64));
    g.bench_function(format!("history_{}_events_to_run", history.len()), |b| {
        b.iter(|| {
            sfn::to_run(
                "123456789012",
                "us-east-1",
                "fanout",
                black_box(&exec),
                black_box(&history),
            )
        })
    });
    let run = sfn::to_run("123456789012", "us-east-1", "fanout", &exec, &history).unwrap();
    g.bench_function(format!("history_{}_events_to_spans", history.len()), |b| {
        b.iter(|| spans::to_spans(black_box(&run)))
    });
    g.finish();

    let runs = glue_runs(10_000);
    let mut g = c.benchmark_group("glue");
    g.throughput(Throughput::Elements(runs.len() as u64));
    g.bench_function("runs_10000_to_spans", |b| {
        b.iter_batched(
            || (),
            |_| {
                let mut n = 0;
                for r in &runs {
                    if let Some(run) = glue::to_run("123456789012", "us-east-1", None, r) {
                        n += spans::to_spans(&run).len();
                    }
                }
                n
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// `for_pipeline` over 20,000 entries (prefix, suffix, literal and general globs), once per
/// pipeline of a cycle: called per run and per metric series.
fn bench_expectations(c: &mut Criterion) {
    let mut text = String::new();
    for i in 0..20_000 {
        let pattern = match i % 4 {
            0 => format!("team{i}-*"),
            1 => format!("*-{i}-daily"),
            2 => format!("job-{i}"),
            _ => format!("etl-{i}-*-v[0-9]"),
        };
        text.push_str(&format!(
            "[[pipelines]]\nmatch = \"{pattern}\"\nteam = \"t{i}\"\n"
        ));
    }
    text.push_str("[[pipelines]]\nmatch = \"*\"\nsla = \"2h\"\n");
    let rules = Config::parse(&text, std::path::Path::new("bench.toml"))
        .expect("bench config")
        .expectations();
    let names: Vec<String> = (0..100).map(|i| format!("job-{}", i * 199)).collect();
    let mut g = c.benchmark_group("config");
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("for_pipeline_100_names_20000_patterns", |b| {
        b.iter(|| {
            names
                .iter()
                .map(|n| rules.for_pipeline("glue-job", black_box(n)).team.is_some() as usize)
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench, bench_expectations
}
criterion_main!(benches);
