//! Property tests of the poll/checkpoint logic: the real scan (`source::scan`) and checkpoint
//! step (`poller::next_checkpoint`) driven against a simulated AWS and collector over random
//! run histories, listing orders and duplicates, late listings, clock skew, long runs, and
//! faults in every cycle (listing errors, per-run read errors, detail errors, refused exports,
//! failed commits or a crash between export and commit). After the faults stop, a few clean
//! cycles must drain everything.
//!
//! Invariants checked for every generated case:
//! 1. every run that ended is delivered to the collector at least once, never before it ended;
//! 2. every run is counted (metrics are recorded after the commit) exactly once, and the
//!    totals committed with the checkpoint (restored after a restart) say the same;
//! 3. without failed commits, every run is delivered exactly once;
//! 4. nothing is stuck: after the drain, no run is pending or in flight in the checkpoint;
//! 5. the checkpoint's last success and last final failure are the latest (by end, clamped to
//!    the clock of the cycle that exported it) of the runs counted, whatever order they were
//!    exported in; a failure AWS retries is no final failure.

use pipeline_otel_bridge::aws::AwsError;
use pipeline_otel_bridge::model::{PipelineRun, RunError, RunPhase, RunResult, RunStatus};
use pipeline_otel_bridge::poller::next_checkpoint;
use pipeline_otel_bridge::records::Millis;
use pipeline_otel_bridge::sources::scan::{self as source, RunSource};
use pipeline_otel_bridge::state::Checkpoint;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};

const T0: i64 = 1_700_000_000_000;
const POLL: i64 = 60_000;
const RESCAN: i64 = 5 * POLL;
const LOOKBACK: i64 = 24 * 3_600_000;
/// Cycles with faults, then clean cycles that must drain everything.
const FAULTY_CYCLES: i64 = 40;
const DRAIN_CYCLES: i64 = 30;
const SKEW: i64 = 30 * 24 * 3_600_000;

#[derive(Debug, Clone)]
struct SimRun {
    id: String,
    /// When it really started and ended.
    start: i64,
    end: i64,
    /// Listed (and readable) only from `start + delay` (AWS lists late, within the rescan).
    delay: i64,
    /// Its reported start lies 30 days ahead (clock skew, bad data).
    future: bool,
    outcome: SimOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SimOutcome {
    Success,
    /// Failed, and AWS does not retry it.
    Failure,
    /// Failed, and AWS runs it again (a Glue attempt below `MaxRetries`).
    RetriedFailure,
}

impl SimRun {
    fn reported_start(&self) -> i64 {
        if self.future {
            self.start + SKEW
        } else {
            self.start
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Faults {
    list: bool,
    get: bool,
    /// Bit i: details of the i-th finished run of this cycle fail.
    details: u8,
    /// Bit i: details of the i-th finished run say it runs again (a Step Functions redrive
    /// between the listing and the describe).
    running_again: u8,
    /// The bridge's clock minus the real one this cycle (ms; back up to 4 rescan windows).
    skew: i64,
    export: bool,
    commit: bool,
}

/// AWS as one pipeline sees it at one moment, with this cycle's faults.
struct SimAws<'a> {
    runs: &'a [SimRun],
    now: i64,
    faults: Faults,
    /// Seed for the listing order and the older runs the listing adds.
    order: u64,
    details_calls: std::sync::atomic::AtomicU32,
}

fn err(op: &'static str) -> AwsError {
    AwsError {
        service: "glue",
        operation: op,
        region: "sim-1".into(),
        code: "InternalServiceException".into(),
        message: "injected".into(),
    }
}

impl SimAws<'_> {
    fn visible(&self, r: &SimRun) -> bool {
        r.start + r.delay <= self.now
    }
}

impl RunSource for SimAws<'_> {
    type Record = SimRun;

    async fn list(&self, since: Millis) -> Result<Vec<SimRun>, AwsError> {
        if self.faults.list {
            return Err(err("GetJobRuns"));
        }
        let mut x = self.order | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for r in self.runs.iter().filter(|r| self.visible(r)) {
            // Everything since `since`; older runs may share the pages; a run may appear twice
            // when pages shift while they are read.
            if r.reported_start() >= since.0 || next() % 4 == 0 {
                out.push(r.clone());
                if next() % 10 == 0 {
                    out.push(r.clone());
                }
            }
        }
        for i in (1..out.len()).rev() {
            out.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        Ok(out)
    }

    async fn get(&self, run_id: &str) -> Result<Option<SimRun>, AwsError> {
        if self.faults.get {
            return Err(err("GetJobRun"));
        }
        Ok(self
            .runs
            .iter()
            .find(|r| r.id == run_id && self.visible(r))
            .cloned())
    }

    fn id<'r>(&self, rec: &'r SimRun) -> &'r str {
        &rec.id
    }

    fn to_run(&self, rec: &SimRun) -> Option<PipelineRun> {
        let ended = rec.end <= self.now;
        let failed = rec.outcome != SimOutcome::Success;
        Some(PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: pipeline_otel_bridge::sources::glue_job::pipeline(
                "123456789012",
                "sim-1",
                "job",
            ),
            run_id: rec.id.clone(),
            attempt: 0,
            previous_run_id: None,
            aws_state: match (ended, failed) {
                (false, _) => "RUNNING",
                (true, false) => "SUCCEEDED",
                (true, true) => "FAILED",
            }
            .into(),
            status: match (ended, failed) {
                (false, _) => RunStatus::InFlight(RunPhase::Executing),
                (true, false) => RunStatus::Ended(RunResult::Success),
                (true, true) => RunStatus::Ended(RunResult::Failure),
            },
            start: Millis(rec.reported_start()),
            end: ended.then(|| Millis(rec.end - rec.start + rec.reported_start())),
            error: (ended && failed).then(|| RunError {
                error_type: format!("E{}", rec.id.len() + rec.end as usize % 3),
                message: String::new(),
            }),
            will_retry: ended && rec.outcome == SimOutcome::RetriedFailure,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: vec![],
            tasks: vec![],
        })
    }

    async fn details(&self, rec: &SimRun) -> Result<Option<PipelineRun>, AwsError> {
        let i = self
            .details_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if i < 8 && self.faults.details & (1 << i) != 0 {
            return Err(err("GetExecutionHistory"));
        }
        if i < 8 && self.faults.running_again & (1 << i) != 0 {
            return Ok(self.to_run(rec).map(|mut r| {
                r.status = RunStatus::InFlight(RunPhase::Executing);
                r.end = None;
                r
            }));
        }
        Ok(self.to_run(rec))
    }
}

fn arb_run(i: usize) -> impl Strategy<Value = SimRun> {
    (
        0..FAULTY_CYCLES * POLL,
        prop_oneof![4 => 0..3 * POLL, 1 => 3 * POLL..20 * POLL],
        0..RESCAN,
        prop::bool::weighted(0.05),
        prop_oneof![
            2 => Just(SimOutcome::Success),
            1 => Just(SimOutcome::Failure),
            1 => Just(SimOutcome::RetriedFailure),
        ],
    )
        .prop_map(move |(start, dur, delay, future, outcome)| SimRun {
            id: format!("jr_{i:03}"),
            start: T0 + start,
            end: T0 + start + dur,
            delay,
            future,
            outcome,
        })
}

fn arb_runs() -> impl Strategy<Value = Vec<SimRun>> {
    (0usize..40).prop_flat_map(|n| (0..n).map(arb_run).collect::<Vec<_>>())
}

fn arb_faults(p: f64) -> impl Strategy<Value = Faults> {
    (
        prop::bool::weighted(p),
        prop::bool::weighted(p),
        prop_oneof![3 => Just(0u8), 1 => any::<u8>()],
        prop::bool::weighted(p),
        prop::bool::weighted(p),
        prop_oneof![6 => Just(0u8), 1 => any::<u8>()],
        prop_oneof![6 => Just(0i64), 1 => -4 * RESCAN..RESCAN],
    )
        .prop_map(
            |(list, get, details, export, commit, running_again, skew)| Faults {
                list,
                get,
                details,
                export,
                commit,
                running_again,
                skew,
            },
        )
}

#[derive(Default)]
struct Outcome {
    delivered: BTreeMap<String, u32>,
    counted: BTreeMap<String, u32>,
    final_cp: Checkpoint,
    commit_failures: u32,
    /// Latest end (clamped to the exporting cycle's clock) of the counted successes, and of
    /// the counted final failures with their error types.
    last_success: Option<i64>,
    last_failure: Option<(i64, Vec<String>)>,
}

fn simulate(runs: &[SimRun], faults: &[Faults], order: u64) -> Outcome {
    let mut out = Outcome::default();
    // The committed checkpoint: what a restart (or a crash) reads back.
    let mut cp = Checkpoint::default();
    // Details of unacknowledged runs, as the poller keeps them in memory.
    let mut cache = source::DetailsCache::default();
    for k in 0..FAULTY_CYCLES + DRAIN_CYCLES {
        let now = T0 + k * POLL;
        let f = faults.get(k as usize).copied().unwrap_or_default();
        let aws = SimAws {
            runs,
            now,
            faults: f,
            order: order.wrapping_add(k as u64 * 0x9E37_79B9),
            details_calls: Default::default(),
        };
        // The bridge's clock may be off; AWS's is right.
        let clock = now + f.skew;
        let cutoff = cp.cutoff(Millis(clock), LOOKBACK, RESCAN);
        let Ok(scan) = futures::executor::block_on(source::scan(
            &aws,
            &cp,
            cutoff,
            Millis(clock),
            Some(&cache),
        )) else {
            continue; // the pipeline is skipped this cycle
        };
        let mut acked = HashSet::new();
        if !f.export {
            for run in &scan.finished {
                let real = runs.iter().find(|r| r.id == run.run_id).unwrap();
                assert!(real.end <= now, "{} exported before it ended", run.run_id);
                *out.delivered.entry(run.run_id.clone()).or_default() += 1;
                acked.insert(run.run_id.clone());
            }
        }
        let (next, _labels) = next_checkpoint(&cp, &scan, &acked, Millis(clock), LOOKBACK, RESCAN);
        // A cycle never raises the watermark past its own clock (an earlier cycle, with a
        // clock further ahead, may have set it higher).
        assert!(
            next.watermark <= cp.watermark.max(Some(clock)),
            "watermark {:?} raised past now {clock}",
            next.watermark
        );
        for run in &scan.finished {
            if acked.contains(&run.run_id) {
                cache.remove(run);
            } else {
                cache.put(run);
            }
        }
        if f.commit {
            // A crash (modelled with the list fault) also empties the memory.
            if f.list {
                cache = source::DetailsCache::default();
            }
            // Commit failed, or the process died after the export: the next cycle starts
            // from the last committed checkpoint and nothing was counted.
            out.commit_failures += 1;
            continue;
        }
        cp = next;
        for run in scan.finished.iter().filter(|r| acked.contains(&r.run_id)) {
            *out.counted.entry(run.run_id.clone()).or_default() += 1;
            let end = run.end.unwrap().0.min(clock);
            let outcome = runs.iter().find(|r| r.id == run.run_id).unwrap().outcome;
            if outcome == SimOutcome::Success {
                out.last_success = out.last_success.max(Some(end));
            } else if outcome == SimOutcome::Failure {
                let et = run.error.as_ref().unwrap().error_type.clone();
                match &mut out.last_failure {
                    Some((e, types)) if *e == end => types.push(et),
                    Some((e, _)) if *e > end => {}
                    _ => out.last_failure = Some((end, vec![et])),
                }
            }
        }
    }
    out.final_cp = cp;
    out
}

fn check(runs: &[SimRun], o: &Outcome) -> Result<(), TestCaseError> {
    for r in runs {
        prop_assert!(
            o.delivered.get(&r.id).copied().unwrap_or(0) >= 1,
            "run {} never delivered ({r:?})",
            r.id
        );
        prop_assert_eq!(
            o.counted.get(&r.id).copied().unwrap_or(0),
            1,
            "run {} counted wrongly",
            &r.id
        );
        if o.commit_failures == 0 {
            prop_assert_eq!(o.delivered[&r.id], 1, "run {} delivered twice", &r.id);
        }
    }
    prop_assert!(
        o.final_cp.pending.is_empty(),
        "stuck pending: {:?}",
        o.final_cp.pending
    );
    prop_assert_eq!(
        o.final_cp.totals.runs.values().sum::<u64>(),
        runs.len() as u64,
        "the committed totals count every run once"
    );
    prop_assert!(
        o.final_cp.in_flight.is_empty(),
        "stuck in flight: {:?}",
        o.final_cp.in_flight
    );
    prop_assert_eq!(o.final_cp.last_success, o.last_success);
    match (&o.final_cp.last_failure, &o.last_failure) {
        (None, None) => {}
        (Some(got), Some((end, types))) => {
            prop_assert_eq!(got.end_ms, *end);
            prop_assert!(
                types.contains(&got.error_type),
                "{:?} not in {:?}",
                got,
                types
            );
        }
        (got, want) => prop_assert!(false, "last failure {:?}, expected {:?}", got, want),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Faults in a quarter of the cycles, of every kind.
    #[test]
    fn no_run_lost_or_counted_twice_under_faults(
        runs in arb_runs(),
        faults in prop::collection::vec(arb_faults(0.25), FAULTY_CYCLES as usize),
        order in any::<u64>(),
    ) {
        let o = simulate(&runs, &faults, order);
        check(&runs, &o)?;
    }

    /// A long outage: everything fails for most cycles, then recovers.
    #[test]
    fn a_long_outage_loses_nothing(
        runs in arb_runs(),
        faults in prop::collection::vec(arb_faults(0.9), FAULTY_CYCLES as usize),
        order in any::<u64>(),
    ) {
        let o = simulate(&runs, &faults, order);
        check(&runs, &o)?;
    }
}

/// The case, pinned: a pipeline with finished runs and a run in flight whose first
/// export fails must export the finished runs on the next cycle, however far the run in flight
/// moved the watermark.
#[test]
fn finished_runs_survive_a_failed_export_next_to_a_run_in_flight() {
    let runs = vec![
        SimRun {
            id: "old-1".into(),
            start: T0,
            end: T0 + 1000,
            delay: 0,
            future: false,
            outcome: SimOutcome::Success,
        },
        SimRun {
            id: "old-2".into(),
            start: T0 + 2000,
            end: T0 + 3000,
            delay: 0,
            future: false,
            outcome: SimOutcome::Success,
        },
        SimRun {
            id: "running".into(),
            start: T0 + 20 * POLL,
            end: T0 + 40 * POLL,
            delay: 0,
            future: false,
            outcome: SimOutcome::Success,
        },
    ];
    let mut faults = vec![Faults::default(); FAULTY_CYCLES as usize];
    faults[21].export = true;
    // Start late, so the first cycle that sees everything is the one whose export fails.
    for f in faults.iter_mut().take(21) {
        f.list = true;
    }
    let o = simulate(&runs, &faults, 7);
    check(&runs, &o).unwrap();
}

/// A run dated 30 days ahead must not blind its pipeline to the next real run.
#[test]
fn a_run_dated_in_the_future_does_not_hide_the_next_one() {
    let runs = vec![
        SimRun {
            id: "skewed".into(),
            start: T0,
            end: T0 + 1000,
            delay: 0,
            future: true,
            outcome: SimOutcome::Success,
        },
        SimRun {
            id: "next".into(),
            start: T0 + 3 * POLL,
            end: T0 + 4 * POLL,
            delay: 0,
            future: false,
            outcome: SimOutcome::Success,
        },
    ];
    let o = simulate(&runs, &[], 1);
    check(&runs, &o).unwrap();
}
