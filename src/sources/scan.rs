//! The one scan that reads any pipeline's runs.
//!
//! A [`RunSource`] is one pipeline of one AWS service: it lists runs, reads one run by id, and
//! completes a newly finished run with the details fetched once (Step Functions history). Each
//! source's [`super::Source::scan`] builds one and calls [`scan`], which holds all the rules
//! about which runs are new, awaited or already exported, so every source inherits them, and
//! the property tests drive the same code with a simulated AWS (`tests/checkpoint_props.rs`).

use crate::aws::AwsError;
use crate::model::{PipelineRun, RunStatus};
use crate::records::Millis;
use crate::state::Checkpoint;
use std::collections::HashSet;
use std::future::Future;

/// One pipeline's runs, as a service reports them.
pub trait RunSource: Sync {
    /// A run as the service's list/get APIs return it.
    type Record: Send + Sync;

    /// Runs started at or after `since`, plus any older ones the API returns with them, in any
    /// order.
    fn list(
        &self,
        since: Millis,
    ) -> impl Future<Output = Result<Vec<Self::Record>, AwsError>> + Send;
    /// One run by id; `None` when the service no longer knows it.
    fn get(
        &self,
        run_id: &str,
    ) -> impl Future<Output = Result<Option<Self::Record>, AwsError>> + Send;
    /// The record's run id.
    fn id<'a>(&self, rec: &'a Self::Record) -> &'a str;
    /// The record as a run, without details fetched separately; `None` if it cannot be placed
    /// in time.
    fn to_run(&self, rec: &Self::Record) -> Option<PipelineRun>;
    /// The finished run with the details fetched once (error cause, history). Called only for
    /// runs about to be exported.
    fn details(
        &self,
        rec: &Self::Record,
    ) -> impl Future<Output = Result<Option<PipelineRun>, AwsError>> + Send;
}

/// Finished runs with their details, kept in memory while their export is not acknowledged
/// (pending), so that a long collector outage does not read each Step Functions history again
/// every cycle. Keyed by pipeline, run id and attempt; bounded.
#[derive(Debug, Default)]
pub struct DetailsCache {
    runs: std::sync::Mutex<std::collections::HashMap<String, PipelineRun>>,
}

impl DetailsCache {
    /// Most runs kept; past it, details are read from AWS again.
    pub const MAX_RUNS: usize = 20_000;

    fn key(run: &PipelineRun) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            run.pipeline.key(),
            run.run_id,
            run.attempt
        )
    }

    /// The cached finished run, if any.
    pub fn get(&self, run: &PipelineRun) -> Option<PipelineRun> {
        self.runs.lock().ok()?.get(&Self::key(run)).cloned()
    }

    /// Keeps a finished run whose export was not acknowledged.
    pub fn put(&self, run: &PipelineRun) {
        if let Ok(mut m) = self.runs.lock() {
            if m.len() < Self::MAX_RUNS || m.contains_key(&Self::key(run)) {
                m.insert(Self::key(run), run.clone());
            }
        }
    }

    /// Forgets a run (exported, or gone).
    pub fn remove(&self, run: &PipelineRun) {
        if let Ok(mut m) = self.runs.lock() {
            m.remove(&Self::key(run));
        }
    }

    pub fn len(&self) -> usize {
        self.runs.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one pipeline's poll found.
#[derive(Debug, Default)]
pub struct PipelineScan {
    /// Runs that ended and were not exported yet, with their details.
    pub finished: Vec<PipelineRun>,
    /// Runs still in flight.
    pub in_flight: Vec<PipelineRun>,
    /// Awaited runs AWS no longer returns (expired from its history).
    pub gone: Vec<String>,
    /// Finished runs whose details could not be fetched: kept pending in the checkpoint and
    /// re-read next cycle, so a moving watermark cannot leave them behind.
    pub retry: Vec<(String, Millis)>,
    /// Runs dated after `now` (clock skew or bad data), by id: exported, but they do not move
    /// the watermark past `now`.
    pub future: Vec<String>,
    /// Errors that skipped single runs (the rest of the scan stands).
    pub errors: Vec<AwsError>,
}

/// Reads one pipeline: the runs listed since the checkpoint's listing floor, plus every awaited
/// run the listing did not return (read by id). A run is taken when it is newer than `cutoff`
/// or awaited, and not exported yet; finished ones get their details.
pub async fn scan<S: RunSource>(
    src: &S,
    cp: &Checkpoint,
    cutoff: Millis,
    now: Millis,
    cache: Option<&DetailsCache>,
) -> Result<PipelineScan, AwsError> {
    let mut out = PipelineScan::default();
    let mut records = src.list(cp.list_from(cutoff)).await?;
    let listed: HashSet<String> = records.iter().map(|r| src.id(r).to_string()).collect();
    for id in cp.tracked_ids() {
        if listed.contains(id) {
            continue;
        }
        match src.get(id).await {
            Ok(Some(r)) => records.push(r),
            Ok(None) => out.gone.push(id.clone()),
            // The run stays awaited as it is in the checkpoint; it is read again next cycle.
            Err(e) => out.errors.push(e),
        }
    }
    let mut seen = HashSet::new();
    for rec in &records {
        let Some(run) = src.to_run(rec) else { continue };
        if !seen.insert(run.run_id.clone()) {
            continue; // listed twice (pages shifted while reading): take it once
        }
        if cp.is_exported(&run.run_id, run.attempt)
            || (run.start < cutoff && !cp.is_tracked(&run.run_id))
        {
            continue;
        }
        if run.start > now {
            out.future.push(run.run_id.clone());
        }
        if let RunStatus::InFlight(_) = run.status {
            out.in_flight.push(run);
            continue;
        }
        // Details fetched by an earlier cycle whose export failed: a finished attempt does not
        // change, so they are reused instead of read from AWS again.
        if let Some(full) = cache.and_then(|c| c.get(&run)) {
            out.finished.push(full);
            continue;
        }
        match src.details(rec).await {
            // Its details may say it runs again (a Step Functions redrive between the listing
            // and the describe): then it is in flight, not finished.
            Ok(Some(full)) if full.end.is_none() => out.in_flight.push(full),
            Ok(Some(full)) => out.finished.push(full),
            Ok(None) => {}
            Err(e) => {
                out.errors.push(e);
                out.retry.push((run.run_id.clone(), run.start));
            }
        }
    }
    Ok(out)
}
