//! Checkpoints: per pipeline, a watermark, the runs still in flight, the finished runs still
//! awaiting an acknowledged export, and the runs already exported. Kept behind
//! [`CheckpointStore`] so a shared store can replace the local one.
//!
//! A checkpoint moves only after the collector acknowledged the runs it covers; on a crash
//! the next start re-reads from the last commit, and deterministic ids make any re-sent trace
//! harmless.
//!
//! Invariants (property-tested in `tests/checkpoint_props.rs`):
//! - a finished run that was not acknowledged is in `pending` (or still in `in_flight`), and the
//!   next listing reaches back to it ([`Checkpoint::list_from`]), so nothing the watermark
//!   passes is ever left behind;
//! - the watermark never moves past the cycle's `now`: a run dated in the future (clock skew,
//!   bad data) cannot blind its pipeline;
//! - a run in `exported` is never exported again while it is inside the rescan window.

mod local;

pub use local::{LocalStore, OpenedStore, StoreOrigin};

use crate::records::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Phase that older versions stored in `in_flight` for a finished run not yet exported; such
/// entries are moved to `pending` on load.
const LEGACY_FINISHED_PHASE: &str = "finished";

/// A run seen in flight, re-read every cycle until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightRun {
    /// Start, epoch ms.
    pub start: i64,
    /// `cicd.pipeline.run.state` when last seen.
    pub phase: String,
}

/// Distinct `error.type` metric labels kept per pipeline; further types are counted as
/// `_OTHER`. Error types are parsed from free text (Glue messages), so their authors could
/// otherwise create any number of series.
pub const MAX_ERROR_TYPES: usize = 20;

/// The label that stands for every error type past [`MAX_ERROR_TYPES`], and for errors without
/// a type.
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

/// One run-duration histogram: per bucket (the bounds of `semconv::DURATION_BUCKETS`, plus the
/// overflow bucket), the count and the sum of the durations in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hist {
    pub counts: Vec<u64>,
    pub sums: Vec<f64>,
}

impl Hist {
    fn record(&mut self, bounds: &[f64], v: f64) {
        let n = bounds.len() + 1;
        // A histogram stored with more buckets (another version's bounds) folds its extra
        // buckets into the overflow one rather than losing their counts.
        if self.counts.len() > n {
            let extra: u64 = self.counts.drain(n..).sum();
            self.counts[n - 1] += extra;
        }
        if self.sums.len() > n {
            let extra: f64 = self.sums.drain(n..).sum();
            self.sums[n - 1] += extra;
        }
        self.counts.resize(n, 0);
        self.sums.resize(n, 0.0);
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.counts[i] += 1;
        self.sums[i] += v;
    }
}

/// Cumulative counts of a pipeline's exported runs. They are committed with its checkpoint, in
/// the same transaction, and the counters start from them after a restart: `increase()` over a
/// restart is exact, and a crash between the commit and the metric export loses no count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// Runs by `cicd.pipeline.result`.
    pub runs: BTreeMap<String, u64>,
    /// Errored runs by `error.type` label.
    pub errors: BTreeMap<String, u64>,
    pub sla_breaches: u64,
    pub dpu_seconds: f64,
    /// Run durations by `result` and `error.type` label (`""` when none), joined by `|`.
    pub durations: BTreeMap<String, Hist>,
    /// The `error.type` labels admitted so far (at most [`MAX_ERROR_TYPES`]).
    pub error_types: std::collections::BTreeSet<String>,
    /// Time in the queue (`pending`) of runs that report it, by `result`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, Hist>,
    /// The sources' own metrics ([`crate::model::Measure`]), by [`StoredMeasure::key`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub measures: BTreeMap<String, StoredMeasure>,
}

/// A source metric's value for a pipeline: the sum over its runs, or the latest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredMeasure {
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// The latest value rather than a sum.
    #[serde(default)]
    pub last: bool,
    /// For a latest value: the end (epoch ms) of the run it came from, so runs exported out
    /// of order keep the newest.
    #[serde(default)]
    pub at_ms: i64,
}

impl StoredMeasure {
    /// `metric{k=v,…}`: one entry per metric and label set.
    pub fn key(metric: &str, labels: &[(&str, String)]) -> String {
        let l: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{metric}{{{}}}", l.join(","))
    }
}

impl Totals {
    /// The metric label for an error type: itself while fewer than [`MAX_ERROR_TYPES`] are
    /// known (admitting it), else [`OTHER_ERROR_TYPE`].
    pub fn error_label(&mut self, error_type: &str) -> String {
        if self.error_types.contains(error_type) {
            return error_type.to_string();
        }
        if error_type != OTHER_ERROR_TYPE && self.error_types.len() < MAX_ERROR_TYPES {
            self.error_types.insert(error_type.to_string());
            return error_type.to_string();
        }
        OTHER_ERROR_TYPE.to_string()
    }

    /// Counts one exported run; returns its `error.type` label, if it has one.
    pub fn count(&mut self, run: &crate::model::PipelineRun, bounds: &[f64]) -> Option<String> {
        let result = run.result()?;
        let label = run.error.as_ref().map(|e| self.error_label(&e.error_type));
        *self.runs.entry(result.as_str().to_string()).or_default() += 1;
        if result.is_error() {
            let l = label
                .clone()
                .unwrap_or_else(|| OTHER_ERROR_TYPE.to_string());
            *self.errors.entry(l).or_default() += 1;
        }
        if run.breached_sla() {
            self.sla_breaches += 1;
        }
        if let Some(d) = run.dpu_seconds {
            self.dpu_seconds += d;
        }
        let key = format!("{}|{}", result.as_str(), label.as_deref().unwrap_or(""));
        for (phase, secs) in run.phase_durations() {
            let h = match phase {
                crate::model::RunPhase::Pending => self.pending.entry(result.as_str().to_string()),
                _ => self.durations.entry(key.clone()),
            };
            h.or_default().record(bounds, secs);
        }
        for m in &run.measures {
            if !m.value.is_finite() {
                continue;
            }
            let e = self
                .measures
                .entry(StoredMeasure::key(m.metric.name, &m.labels))
                .or_insert_with(|| StoredMeasure {
                    metric: m.metric.name.to_string(),
                    labels: m
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect(),
                    value: 0.0,
                    last: m.kind == crate::model::MeasureKind::Last,
                    at_ms: i64::MIN,
                });
            let end = run.end.unwrap_or(run.start).0;
            match m.kind {
                crate::model::MeasureKind::Sum => e.value += m.value,
                crate::model::MeasureKind::Last if end >= e.at_ms => {
                    e.value = m.value;
                    e.at_ms = end;
                }
                crate::model::MeasureKind::Last => {}
            }
        }
        label
    }
}

/// A pipeline's latest final failure: a run that ended in failure, timeout or error and that AWS
/// does not retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastFailure {
    /// End, epoch ms (never later than the cycle that set it).
    pub end_ms: i64,
    /// Its `error.type` metric label (capped per pipeline, [`Totals::error_label`]).
    pub error_type: String,
}

/// Everything the poller remembers about one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Newest start time (epoch ms, never later than the cycle that set it) among runs exported
    /// or in flight.
    pub watermark: Option<i64>,
    /// Runs in flight, by run id.
    pub in_flight: BTreeMap<String, InFlightRun>,
    /// Finished runs not acknowledged yet (export failed, or their details could not be read),
    /// by run id → start (ms). Read again, and exported, by the next cycles.
    #[serde(default)]
    pub pending: BTreeMap<String, i64>,
    /// Runs exported whose start is still inside the rescan window, by run id → start (ms).
    pub exported: BTreeMap<String, i64>,
    /// The attempt exported, for runs exported with an attempt above 0 (a redriven Step
    /// Functions execution keeps its id: a higher attempt is a new run to export).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exported_attempt: BTreeMap<String, u32>,
    /// Runs that started before this (epoch ms) were pruned from `exported`: they are never
    /// taken again unless awaited, wherever the clock goes.
    #[serde(default)]
    pub pruned_below: Option<i64>,
    /// End (epoch ms) of the latest successful run.
    pub last_success: Option<i64>,
    /// The latest final failure (older versions did not store it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastFailure>,
    /// Cumulative counts of the runs exported so far.
    #[serde(default)]
    pub totals: Totals,
}

impl Checkpoint {
    /// Moves entries written by older versions into their current place.
    pub fn normalize(mut self) -> Self {
        let legacy: Vec<(String, i64)> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.phase == LEGACY_FINISHED_PHASE)
            .map(|(id, r)| (id.clone(), r.start))
            .collect();
        for (id, start) in legacy {
            self.in_flight.remove(&id);
            self.pending.insert(id, start);
        }
        self
    }

    /// Oldest start time a run may have and still be new to this pipeline: runs older than
    /// this are taken only if they are tracked (in flight or pending).
    pub fn cutoff(&self, now: Millis, lookback_ms: i64, rescan_ms: i64) -> Millis {
        let c = match self.watermark {
            // A watermark written in the future (by a version without the clamp, or a clock
            // that jumped back) is read as `now`.
            Some(w) => w.min(now.0).saturating_sub(rescan_ms),
            None => now.0.saturating_sub(lookback_ms),
        };
        // Never below what was pruned from `exported`: a clock stepped back by more than the
        // rescan window must not take (and count) exported runs again.
        Millis(self.pruned_below.map_or(c, |p| c.max(p)))
    }

    /// Oldest start time the next listing must reach: the cutoff, or further back to the
    /// oldest pending run, so that a run whose export failed is listed again however far the
    /// watermark moved since.
    pub fn list_from(&self, cutoff: Millis) -> Millis {
        self.pending
            .values()
            .copied()
            .min()
            .map_or(cutoff, |p| Millis(p.min(cutoff.0)))
    }

    /// Whether this attempt of the run was already exported.
    pub fn is_exported(&self, run_id: &str, attempt: u32) -> bool {
        self.exported.contains_key(run_id)
            && self.exported_attempt.get(run_id).copied().unwrap_or(0) >= attempt
    }

    /// Whether the run is awaited: in flight, or finished and not acknowledged yet.
    pub fn is_tracked(&self, run_id: &str) -> bool {
        self.in_flight.contains_key(run_id) || self.pending.contains_key(run_id)
    }

    /// Ids of every awaited run (in flight or pending).
    pub fn tracked_ids(&self) -> impl Iterator<Item = &String> {
        self.in_flight.keys().chain(self.pending.keys())
    }

    /// A run dated after `now` (clock skew, bad data) does not move the watermark at all: not
    /// even to `now`, as a clock running ahead would then hide runs AWS lists a little late.
    /// Such a run stays recognised through `exported`.
    fn raise_watermark(&mut self, start: Millis, now: Millis) {
        if start <= now {
            self.watermark = Some(self.watermark.map_or(start.0, |w| w.max(start.0)));
        }
    }

    /// Records an exported (acknowledged) run and forgets what fell out of the rescan window.
    #[allow(clippy::too_many_arguments)]
    pub fn mark_exported(
        &mut self,
        run_id: &str,
        attempt: u32,
        start: Millis,
        end: Millis,
        success: bool,
        now: Millis,
        rescan_ms: i64,
    ) {
        self.in_flight.remove(run_id);
        self.pending.remove(run_id);
        self.exported.insert(run_id.to_string(), start.0);
        if attempt > 0 {
            self.exported_attempt.insert(run_id.to_string(), attempt);
        }
        self.raise_watermark(start, now);
        if success {
            let end = end.0.min(now.0);
            self.last_success = Some(self.last_success.map_or(end, |l| l.max(end)));
        }
        self.prune(now, rescan_ms);
    }

    /// Records an exported (acknowledged) final failure — failure, timeout or error that AWS
    /// does not retry — ending at `end`, with its `error.type` metric label. Like the last
    /// success, the end is clamped to `now`, and only a later end moves it: a failure exported
    /// after a newer one (a pending run, a late listing) does not move it back.
    pub fn mark_final_failure(&mut self, end: Millis, error_type: &str, now: Millis) {
        let end = end.0.min(now.0);
        if self.last_failure.as_ref().is_some_and(|l| l.end_ms >= end) {
            return;
        }
        self.last_failure = Some(LastFailure {
            end_ms: end,
            error_type: error_type.to_string(),
        });
    }

    /// Records a run in flight.
    pub fn mark_in_flight(&mut self, run_id: &str, start: Millis, phase: &str, now: Millis) {
        self.pending.remove(run_id);
        self.in_flight.insert(
            run_id.to_string(),
            InFlightRun {
                start: start.0,
                phase: phase.to_string(),
            },
        );
        self.raise_watermark(start, now);
    }

    /// Records a finished run whose export was not acknowledged (or whose details could not
    /// be read): it stays awaited, and listings reach back to it, until it is exported.
    pub fn mark_pending(&mut self, run_id: &str, start: Millis) {
        self.in_flight.remove(run_id);
        self.pending.insert(run_id.to_string(), start.0);
    }

    /// Forgets an awaited run AWS no longer knows.
    pub fn forget(&mut self, run_id: &str) {
        self.in_flight.remove(run_id);
        self.pending.remove(run_id);
    }

    fn prune(&mut self, now: Millis, rescan_ms: i64) {
        if let Some(w) = self.watermark {
            // Keep a second window of margin: a run listed late must still be recognised.
            let keep_from = w.min(now.0).saturating_sub(rescan_ms.saturating_mul(2));
            let before = self.exported.len();
            self.exported.retain(|_, start| *start >= keep_from);
            if self.exported.len() != before {
                self.pruned_below = Some(self.pruned_below.map_or(keep_from, |p| p.max(keep_from)));
                let exported = &self.exported;
                self.exported_attempt
                    .retain(|id, _| exported.contains_key(id));
            }
        }
    }
}

/// Errors of the checkpoint store, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("checkpoint store {path}: {message}")]
pub struct StateError {
    pub path: String,
    pub message: String,
}

/// Durable, crash-safe storage of checkpoints.
pub trait CheckpointStore: Send + Sync {
    /// All checkpoints, by pipeline key ([`crate::model::PipelineRef::key`]).
    fn load_all(&self) -> Result<BTreeMap<String, Checkpoint>, StateError>;
    /// Writes the given checkpoints atomically and durably: all or none.
    fn commit(&self, changes: &[(String, Checkpoint)]) -> Result<(), StateError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = Millis(1_000_000);

    #[test]
    fn watermark_covers_in_flight_and_exported() {
        let mut c = Checkpoint::default();
        assert_eq!(c.cutoff(Millis(100_000), 50_000, 10), Millis(50_000));
        c.mark_in_flight("a", Millis(1_000), "executing", NOW);
        c.mark_exported("b", 0, Millis(900), Millis(2_000), true, NOW, 100);
        assert_eq!(c.watermark, Some(1_000));
        assert_eq!(c.cutoff(NOW, 0, 100), Millis(900));
        assert_eq!(c.last_success, Some(2_000));
        c.mark_exported("a", 0, Millis(1_000), Millis(5_000), false, NOW, 100);
        assert!(c.in_flight.is_empty());
        assert_eq!(c.last_success, Some(2_000));
    }

    #[test]
    fn prune_keeps_recent_exports() {
        let mut c = Checkpoint::default();
        c.mark_exported("old", 0, Millis(0), Millis(1), true, NOW, 10);
        c.mark_exported("new", 0, Millis(1_000), Millis(1_001), true, NOW, 10);
        assert!(!c.is_exported("old", 0));
        assert!(c.is_exported("new", 0));
    }

    #[test]
    fn a_clock_stepped_back_never_takes_a_pruned_run_again() {
        let mut c = Checkpoint::default();
        let rescan = 1_000;
        for i in 0..10 {
            let start = Millis(NOW.0 - 10_000 + i * 1_000);
            c.mark_exported(&format!("r{i}"), 0, start, start, true, NOW, rescan);
        }
        assert!(!c.is_exported("r0", 0), "pruned");
        // The clock steps back 5 rescan windows: the cutoff stays above what was pruned.
        let back = Millis(NOW.0 - 5 * rescan);
        let cutoff = c.cutoff(back, 0, rescan);
        assert!(cutoff.0 >= c.pruned_below.unwrap());
        for (id, start) in (0..10).map(|i| (format!("r{i}"), NOW.0 - 10_000 + i * 1_000)) {
            assert!(
                c.is_exported(&id, 0) || start < cutoff.0,
                "{id} would be taken again"
            );
        }
    }

    #[test]
    fn a_higher_attempt_of_an_exported_run_is_new() {
        let mut c = Checkpoint::default();
        c.mark_exported("arn:e", 0, Millis(100), Millis(200), false, NOW, 1_000);
        assert!(c.is_exported("arn:e", 0));
        assert!(!c.is_exported("arn:e", 1), "the redrive is a new attempt");
        c.mark_exported("arn:e", 1, Millis(100), Millis(900), true, NOW, 1_000);
        assert!(c.is_exported("arn:e", 1) && c.is_exported("arn:e", 0));
    }

    #[test]
    fn a_future_run_does_not_move_the_watermark_past_now() {
        let mut c = Checkpoint::default();
        let month = 30 * 24 * 3_600_000;
        c.mark_exported(
            "future",
            0,
            Millis(NOW.0 + month),
            Millis(NOW.0 + month + 5),
            true,
            NOW,
            100,
        );
        assert_eq!(
            c.watermark, None,
            "a future run does not move the watermark"
        );
        assert!(
            c.is_exported("future", 0),
            "but it is recognised as exported"
        );
        assert_eq!(c.last_success, Some(NOW.0));
        c.mark_exported(
            "real",
            0,
            Millis(NOW.0 - 10),
            Millis(NOW.0 - 5),
            true,
            NOW,
            100,
        );
        // The next real run, started a little after `now`, is above the next cutoff.
        assert!(c.cutoff(Millis(NOW.0 + 60_000), 0, 100) <= NOW);
        // A watermark stored in the future by an older version reads as `now`.
        c.watermark = Some(NOW.0 + month);
        assert_eq!(c.cutoff(NOW, 0, 100), Millis(NOW.0 - 100));
    }

    #[test]
    fn pending_runs_pull_the_listing_back_and_stay_tracked() {
        let mut c = Checkpoint::default();
        c.mark_pending("old", Millis(100));
        c.mark_in_flight("late", Millis(50_000), "executing", NOW);
        let cutoff = c.cutoff(NOW, 0, 1_000);
        assert_eq!(cutoff, Millis(49_000));
        assert_eq!(c.list_from(cutoff), Millis(100));
        assert!(c.is_tracked("old") && c.is_tracked("late"));
        c.mark_exported("old", 0, Millis(100), Millis(200), true, NOW, 1_000);
        assert!(!c.is_tracked("old"));
        assert_eq!(c.list_from(cutoff), cutoff);
    }

    #[test]
    fn legacy_finished_entries_become_pending() {
        let json = r#"{"watermark":5,"in_flight":{"a":{"start":3,"phase":"finished"},"b":{"start":4,"phase":"executing"}},"exported":{},"last_success":null}"#;
        let c: Checkpoint = serde_json::from_str(json).unwrap();
        let c = c.normalize();
        assert_eq!(c.pending.get("a"), Some(&3));
        assert!(c.in_flight.contains_key("b") && !c.in_flight.contains_key("a"));
    }

    #[test]
    fn the_last_failure_only_moves_forward_and_is_clamped_to_now() {
        let mut c = Checkpoint::default();
        c.mark_final_failure(Millis(5_000), "java.lang.OutOfMemoryError", NOW);
        let at = |c: &Checkpoint| c.last_failure.clone().map(|l| (l.end_ms, l.error_type));
        assert_eq!(at(&c), Some((5_000, "java.lang.OutOfMemoryError".into())));
        // An older failure exported later (a pending run, a late listing) does not move it
        // back, nor does one that ended at the same time.
        c.mark_final_failure(Millis(4_000), "TIMEOUT", NOW);
        c.mark_final_failure(Millis(5_000), "TIMEOUT", NOW);
        assert_eq!(at(&c), Some((5_000, "java.lang.OutOfMemoryError".into())));
        // A newer one replaces it, error type included.
        c.mark_final_failure(Millis(6_000), "TIMEOUT", NOW);
        assert_eq!(at(&c), Some((6_000, "TIMEOUT".into())));
        // A run dated in the future counts as ending now.
        c.mark_final_failure(Millis(NOW.0 + 3_600_000), "ERROR", NOW);
        assert_eq!(at(&c), Some((NOW.0, "ERROR".into())));
        // The last success is independent of it.
        assert_eq!(c.last_success, None);
    }

    #[test]
    fn the_last_failure_survives_a_restart_and_old_checkpoints_load_without_one() {
        let mut c = Checkpoint::default();
        c.mark_final_failure(Millis(5_000), "E", NOW);
        let back: Checkpoint = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let old = r#"{"watermark":5,"in_flight":{},"exported":{},"last_success":7}"#;
        let c: Checkpoint = serde_json::from_str(old).unwrap();
        assert_eq!((c.last_success, c.last_failure), (Some(7), None));
        // Written without the field when there is none (readable by older versions as before).
        let json = serde_json::to_string(&Checkpoint::default()).unwrap();
        assert!(!json.contains("last_failure"), "{json}");
    }

    #[test]
    fn a_cancelled_run_is_no_sla_breach() {
        use crate::model::{PipelineRun, RunResult, RunStatus};
        let run = |result| PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::glue_job::pipeline("1", "r", "job"),
            run_id: "jr".into(),
            attempt: 0,
            previous_run_id: None,
            aws_state: String::new(),
            status: RunStatus::Ended(result),
            start: Millis(0),
            end: Some(Millis(120_000)),
            error: None,
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: Some(60.0),
            attributes: vec![],
            tasks: vec![],
        };
        let mut t = Totals::default();
        t.count(&run(RunResult::Cancellation), &[1.0]);
        assert_eq!(t.sla_breaches, 0);
        t.count(&run(RunResult::Timeout), &[1.0]);
        t.count(&run(RunResult::Success), &[1.0]);
        assert_eq!(t.sla_breaches, 2);
    }

    #[test]
    fn error_labels_are_capped_per_pipeline_and_stable() {
        let mut t = Totals::default();
        for i in 0..MAX_ERROR_TYPES {
            assert_eq!(t.error_label(&format!("E{i}")), format!("E{i}"));
        }
        assert_eq!(t.error_label("Late"), OTHER_ERROR_TYPE);
        assert_eq!(t.error_label("E3"), "E3", "known types keep their label");
        // The admitted set survives a restart with the checkpoint.
        let json = serde_json::to_string(&t).unwrap();
        let mut back: Totals = serde_json::from_str(&json).unwrap();
        assert_eq!(back.error_label("Late"), OTHER_ERROR_TYPE);
        assert_eq!(back.error_label("E19"), "E19");
    }
}
