//! Sources: one module per AWS service behind one trait, and the registry of them.
//!
//! A source is a folder of its own:
//!
//! ```text
//! sources/<name>/mod.rs      its SourceSpec (config key, kind, IAM actions, …) and the Source
//!                            impl: discover pipelines, scan one pipeline's runs, probe access
//! sources/<name>/aws.rs      its SDK calls and paging; SDK types stop here
//! sources/<name>/records.rs  its records in their wire shape (also what fixtures hold)
//! sources/<name>/convert.rs  records → model (pure, snapshot-tested; console links here)
//! ```
//!
//! The poller, the CLI (`run`, `runs`, `check`) and the config reach a source only through
//! [`ALL`] and the [`Source`] trait: none of them names a service. How a pipeline's runs are
//! read (new since the checkpoint, awaited ones re-read, details once, skip the exported) is
//! the one [`scan::scan`] every source calls from its [`Source::scan`].

pub mod emr_serverless;
pub mod emr_steps;
pub mod glue_crawler;
pub mod glue_data_quality;
pub mod glue_job;
pub mod glue_workflow;
pub mod scan;
pub mod sfn;

pub use scan::{DetailsCache, PipelineScan, RunSource};

use crate::aws::{AwsError, CallCounter};
use crate::model::{PipelineKind, PipelineRef};
use crate::records::Millis;
use crate::state::Checkpoint;
use futures::future::BoxFuture;

/// Every source the bridge has, in the order `check` lists them. **Adding a source is one
/// line here** (plus its folder).
pub static ALL: &[&SourceSpec] = &[
    &glue_job::SPEC,
    &glue_workflow::SPEC,
    &glue_crawler::SPEC,
    &sfn::SPEC,
    &emr_serverless::SPEC,
    &glue_data_quality::SPEC,
    &emr_steps::SPEC,
];

/// What a source is, independent of any account or region.
#[derive(Debug)]
pub struct SourceSpec {
    /// Its config table (`[glue]`: `enabled`, `include`, `exclude`) and its name in `check`.
    pub key: &'static str,
    /// The kind of its pipelines (ids, state keys, `[[pipelines]] kind`, metric labels).
    pub kind: PipelineKind,
    /// `cicd.system.component` of its AWS faults (`cicd.system.errors`).
    pub component: &'static str,
    /// What it watches, for people (`--help`, docs).
    pub watches: &'static str,
    /// Every AWS action it calls (read-only), `service:Action`.
    pub iam_actions: &'static [&'static str],
    /// The action that reads its pipelines' resource tags ([`Source::tags`]); called only when
    /// the config reads tags (`[ownership]` tag keys, `include_tags`/`exclude_tags`). Empty:
    /// the source has no tags to read.
    pub tag_actions: &'static [&'static str],
    /// Its own metrics (what its runs' [`crate::model::Measure`]s name).
    pub metrics: &'static [crate::semconv::MetricDef],
    /// Builds the source for one account and region.
    pub connect: fn(&Connection<'_>) -> Box<dyn Source>,
}

/// What a source needs to reach AWS in one account and region.
pub struct Connection<'a> {
    /// Region, credentials, timeouts, retries and endpoint for every SDK client.
    pub sdk: &'a aws_config::SdkConfig,
    /// The interceptor that counts every API call; each client of the source must carry it.
    pub counter: &'a CallCounter,
    pub account: &'a str,
    pub region: &'a str,
    /// The config's `lookback` (ms): how far back a first start reads, for sources whose
    /// discovery depends on time (clusters that already ended).
    pub lookback_ms: i64,
}

/// The window of one scan: runs started at or after `cutoff` (or awaited), seen at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub cutoff: Millis,
    pub now: Millis,
}

/// One AWS service in one account and region.
pub trait Source: Send + Sync {
    fn spec(&self) -> &'static SourceSpec;
    fn account(&self) -> &str;
    fn region(&self) -> &str;
    /// Every pipeline of the service (before the config's include/exclude). What a source
    /// needs later about a pipeline (a job's definition) it keeps from here.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>>;
    /// One pipeline's runs in the window and every run `cp` awaits ([`scan::scan`]).
    fn scan<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
        cp: &'a Checkpoint,
        window: Window,
        cache: Option<&'a DetailsCache>,
    ) -> BoxFuture<'a, Result<PipelineScan, AwsError>>;
    /// The cheapest call that proves read access, for `check`.
    fn probe(&self) -> BoxFuture<'_, Result<(), AwsError>>;
    /// A pipeline's resource tags (one call; cached by the poller with discovery). Sources
    /// without tags answer none.
    fn tags<'a>(
        &'a self,
        _pipeline: &'a PipelineRef,
    ) -> BoxFuture<'a, Result<std::collections::BTreeMap<String, String>, AwsError>> {
        Box::pin(futures::future::ready(Ok(Default::default())))
    }
}

/// The AWS actions the bridge calls for these sources, sorted, each once: theirs and
/// `sts:GetCallerIdentity` (the account id, learned once per region).
pub fn iam_actions(specs: &[&SourceSpec]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = specs
        .iter()
        .flat_map(|s| s.iam_actions.iter().copied())
        .chain(["sts:GetCallerIdentity"])
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The source whose config table is `key`.
pub fn by_key(key: &str) -> Option<&'static SourceSpec> {
    ALL.iter().copied().find(|s| s.key == key)
}

/// A source's own metric by name.
pub fn metric(name: &str) -> Option<&'static crate::semconv::MetricDef> {
    ALL.iter()
        .flat_map(|s| s.metrics.iter())
        .find(|m| m.name == name)
}

/// The kind named `name` (`glue-job`, `sfn`, …).
pub fn kind(name: &str) -> Option<PipelineKind> {
    ALL.iter().map(|s| s.kind).find(|k| k.as_str() == name)
}

/// `` `a`, `b` or `c` ``: every kind name, for messages.
pub fn kind_names() -> String {
    one_of(ALL.iter().map(|s| s.kind.as_str()))
}

/// `` `a`, `b` or `c` ``: every config table, for messages.
pub fn keys() -> String {
    one_of(ALL.iter().map(|s| s.key))
}

fn one_of<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{n}`")).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_registry_names_each_source_once() {
        let mut keys = HashSet::new();
        let mut kinds = HashSet::new();
        let mut components = HashSet::new();
        for s in ALL {
            assert!(keys.insert(s.key), "config key {} twice", s.key);
            assert!(kinds.insert(s.kind.as_str()), "kind {} twice", s.kind);
            assert!(components.insert(s.component), "component {}", s.component);
            assert!(!s.iam_actions.is_empty(), "{} names no IAM action", s.key);
            for a in s.iam_actions {
                let (svc, action) = a.split_once(':').expect("service:Action");
                assert!(!svc.is_empty() && action.starts_with(|c: char| c.is_ascii_uppercase()));
                assert!(
                    ["Get", "List", "Describe", "BatchGet"]
                        .iter()
                        .any(|p| action.starts_with(p)),
                    "{a} is not a read action"
                );
            }
            assert_eq!(by_key(s.key).map(|b| b.kind), Some(s.kind));
            assert_eq!(kind(s.kind.as_str()), Some(s.kind));
        }
        assert_eq!(kind("nope"), None);
    }

    #[test]
    fn names_read_as_a_list() {
        assert_eq!(one_of(["a"].into_iter()), "`a`");
        assert_eq!(one_of(["a", "b"].into_iter()), "`a` or `b`");
        assert_eq!(one_of(["a", "b", "c"].into_iter()), "`a`, `b` or `c`");
    }
}
