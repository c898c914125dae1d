//! Checkpoints: per pipeline, a watermark, the runs still in flight and the runs already
//! exported. Kept behind [`CheckpointStore`] so a shared store can replace the local one.
//!
//! A checkpoint moves only after the collector acknowledged the runs it covers; on a crash
//! the next start re-reads from the last commit, and deterministic ids make any re-sent trace
//! harmless.

mod local;

pub use local::LocalStore;

use crate::records::Millis;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A run seen in flight, re-read every cycle until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlightRun {
    /// Start, epoch ms.
    pub start: i64,
    /// `cicd.pipeline.run.state` when last seen.
    pub phase: String,
}

/// Everything the poller remembers about one pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Newest start time (epoch ms) among runs exported or in flight.
    pub watermark: Option<i64>,
    /// Runs in flight, by run id.
    pub in_flight: BTreeMap<String, InFlightRun>,
    /// Runs exported whose start is still inside the rescan window, by run id → start (ms).
    pub exported: BTreeMap<String, i64>,
    /// End (epoch ms) of the latest successful run.
    pub last_success: Option<i64>,
}

impl Checkpoint {
    /// Oldest start time the next listing must cover.
    pub fn cutoff(&self, now: Millis, lookback_ms: i64, rescan_ms: i64) -> Millis {
        match self.watermark {
            Some(w) => Millis(w - rescan_ms),
            None => Millis(now.0 - lookback_ms),
        }
    }

    /// Whether the run was already exported.
    pub fn is_exported(&self, run_id: &str) -> bool {
        self.exported.contains_key(run_id)
    }

    /// Records an exported run and forgets what fell out of the rescan window.
    pub fn mark_exported(
        &mut self,
        run_id: &str,
        start: Millis,
        end: Millis,
        success: bool,
        rescan_ms: i64,
    ) {
        self.in_flight.remove(run_id);
        self.exported.insert(run_id.to_string(), start.0);
        self.watermark = Some(self.watermark.map_or(start.0, |w| w.max(start.0)));
        if success {
            self.last_success = Some(self.last_success.map_or(end.0, |l| l.max(end.0)));
        }
        self.prune(rescan_ms);
    }

    /// Records a run in flight.
    pub fn mark_in_flight(&mut self, run_id: &str, start: Millis, phase: &str) {
        self.in_flight.insert(
            run_id.to_string(),
            InFlightRun {
                start: start.0,
                phase: phase.to_string(),
            },
        );
        self.watermark = Some(self.watermark.map_or(start.0, |w| w.max(start.0)));
    }

    fn prune(&mut self, rescan_ms: i64) {
        if let Some(w) = self.watermark {
            // Keep a second window of margin: a run listed late must still be recognised.
            let keep_from = w - 2 * rescan_ms;
            self.exported.retain(|_, start| *start >= keep_from);
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

    #[test]
    fn watermark_covers_in_flight_and_exported() {
        let mut c = Checkpoint::default();
        assert_eq!(c.cutoff(Millis(100_000), 50_000, 10), Millis(50_000));
        c.mark_in_flight("a", Millis(1_000), "executing");
        c.mark_exported("b", Millis(900), Millis(2_000), true, 100);
        assert_eq!(c.watermark, Some(1_000));
        assert_eq!(c.cutoff(Millis(0), 0, 100), Millis(900));
        assert_eq!(c.last_success, Some(2_000));
        c.mark_exported("a", Millis(1_000), Millis(5_000), false, 100);
        assert!(c.in_flight.is_empty());
        assert_eq!(c.last_success, Some(2_000));
    }

    #[test]
    fn prune_keeps_recent_exports() {
        let mut c = Checkpoint::default();
        c.mark_exported("old", Millis(0), Millis(1), true, 10);
        c.mark_exported("new", Millis(1_000), Millis(1_001), true, 10);
        assert!(!c.is_exported("old"));
        assert!(c.is_exported("new"));
    }
}
