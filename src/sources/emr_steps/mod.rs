//! EMR on EC2 steps: one trace per step, a pipeline per cluster name.
//!
//! Transient clusters of one job share a name, so a pipeline is a cluster **name**; the source
//! keeps the clusters of each name it discovered (ids, states, end times) and which cluster
//! holds each step it listed.
//!
//! Calls per cycle (EMR's quotas are low: ListSteps refills 0.5 per second per account):
//! - `ListClusters` twice every `discovery_interval` (50 per page, every page): clusters that
//!   may still run steps (`STARTING` … `TERMINATING`, any age), and clusters that ended
//!   (`TERMINATED`, `TERMINATED_WITH_ERRORS`) created since the previous discovery (first
//!   discovery: the last 24 hours). A cluster known active that neither listing returns
//!   terminated since: it is kept and listed once more.
//! - `ListSteps` per cluster of the pipeline, once per cycle, only for clusters that are active,
//!   or ended at or after the pipeline's listing floor and not yet *settled* (an ended cluster
//!   is settled once a listing after its end showed no step still to export). Newest first,
//!   paging stops at the listing floor: one page (50 steps) in a steady state.
//! - `DescribeStep` per awaited step the listing no longer returns (rare: a step older than
//!   the floor still in flight).

pub mod aws;
pub mod convert;
pub mod records;

use super::{scan, Connection, DetailsCache, PipelineScan, RunSource, Source, SourceSpec, Window};
use crate::aws::AwsError;
use crate::model::{PipelineKind, PipelineRef, PipelineRun};
use crate::records::Millis;
use crate::state::Checkpoint;
use futures::future::BoxFuture;
use futures::FutureExt;
use records::{EmrCluster, EmrStep};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

/// `emr-step`, `cloud.platform` `aws_emr`.
pub const KIND: PipelineKind = PipelineKind::new("emr-step", "aws_emr");

/// The id (`j-…`) of the step's cluster.
pub const ATTR_CLUSTER_ID: &str = "aws.emr.cluster.id";
/// The name of the step's cluster (the pipeline name, or the cluster id when it has none).
pub const ATTR_CLUSTER_NAME: &str = "aws.emr.cluster.name";
/// The step's own `Name`.
pub const ATTR_STEP_NAME: &str = "aws.emr.step.name";
/// The step `State` as EMR names it.
pub const ATTR_STEP_STATE: &str = "aws.emr.step.state";
/// `ActionOnFailure`: `TERMINATE_CLUSTER`, `CANCEL_AND_WAIT`, `CONTINUE`, …
pub const ATTR_ACTION_ON_FAILURE: &str = "aws.emr.step.action_on_failure";
/// The step's jar (`command-runner.jar`, an S3 path).
pub const ATTR_JAR: &str = "aws.emr.step.jar";
/// The jar's main class, when set.
pub const ATTR_MAIN_CLASS: &str = "aws.emr.step.main_class";
/// The first argument when it is a plain command name (`spark-submit`); other arguments are
/// never read (they may hold secrets).
pub const ATTR_COMMAND: &str = "aws.emr.step.command";
/// How many arguments the step has.
pub const ATTR_ARGS_COUNT: &str = "aws.emr.step.args_count";
/// `FailureDetails.Reason` of a failed step.
pub const ATTR_FAILURE_REASON: &str = "aws.emr.step.failure.reason";
/// `FailureDetails.LogFile`: where EMR found the failure.
pub const ATTR_FAILURE_LOG_FILE: &str = "aws.emr.step.failure.log_file";

pub static SPEC: SourceSpec = SourceSpec {
    key: "emr",
    kind: KIND,
    component: "emr",
    watches: "EMR on EC2 steps (a pipeline is a cluster name)",
    iam_actions: &[
        "elasticmapreduce:ListClusters",
        "elasticmapreduce:ListSteps",
        "elasticmapreduce:DescribeStep",
    ],
    tag_actions: &[],
    metrics: &[],
    connect: |c| Box::new(Clusters::connect(c)),
};

/// A cluster name, with the ARN of its most recent cluster.
pub fn pipeline(account: &str, region: &str, name: &str, arn: &str) -> PipelineRef {
    PipelineRef::new(KIND, account, region, name, arn)
}

/// How far back the first discovery looks for clusters that already ended when the config's
/// lookback is not known (the connection carries it).
pub const FIRST_DISCOVERY_MS: i64 = 24 * 3600 * 1000;
/// Overlap of two discoveries' listings of ended clusters (clock skew, late listing).
pub const DISCOVERY_OVERLAP_MS: i64 = 15 * 60 * 1000;
/// EMR shows a cluster for two months after it ended; the source forgets it then.
pub const KEEP_ENDED_MS: i64 = 60 * 24 * 3600 * 1000;
/// Most clusters kept (the oldest ended ones go first past it).
pub const MAX_CLUSTERS: usize = 20_000;
/// Most step → cluster entries kept (a cache: past it, it starts again).
pub const MAX_STEPS: usize = 200_000;

/// A cluster the source knows, and what a listing after its end found.
#[derive(Debug, Clone)]
struct Known {
    cluster: EmrCluster,
    /// Steps (id, submission) of a listing made after the cluster ended: no step can be added
    /// any more, so once none of them is still to export the cluster need not be listed.
    ended_steps: Option<Vec<(String, Millis)>>,
}

/// The clusters of one account and region and where each listed step lives.
#[derive(Debug, Default)]
pub struct Inventory {
    clusters: BTreeMap<String, Known>,
    /// Step id → cluster id, from the listings.
    steps: HashMap<String, String>,
    /// When the last discovery listed clusters.
    discovered_at: Option<Millis>,
}

impl Inventory {
    /// `CreatedAfter` of the next listing of ended clusters.
    /// The first one reaches back `first_ms` (the config's lookback), so a cluster that ended
    /// while the bridge was stopped, inside the lookback, is still found.
    pub fn ended_since(&self, now: Millis, first_ms: i64) -> Millis {
        Millis(match self.discovered_at {
            Some(t) => t.min(now).0.saturating_sub(DISCOVERY_OVERLAP_MS),
            None => now.0.saturating_sub(first_ms),
        })
    }

    /// Takes one discovery's listings: `active` (any age) and `ended` (created since
    /// [`Inventory::ended_since`]). A cluster known active that neither returns ended since
    /// the previous discovery: it is kept as `TERMINATED` (end: `now` at the latest) so that
    /// its last steps are listed.
    pub fn merge(&mut self, active: Vec<EmrCluster>, ended: Vec<EmrCluster>, now: Millis) {
        let listed: HashSet<String> = active.iter().chain(&ended).map(|c| c.id.clone()).collect();
        for k in self.clusters.values_mut() {
            if !k.cluster.is_terminated() && !listed.contains(&k.cluster.id) {
                k.cluster.status.state = "TERMINATED".to_string();
                let t = &mut k.cluster.status.timeline;
                t.end_date_time = Some(t.end_date_time.unwrap_or(now));
                k.ended_steps = None;
            }
        }
        for c in active.into_iter().chain(ended) {
            if c.id.is_empty() {
                continue;
            }
            match self.clusters.get_mut(&c.id) {
                Some(k) => {
                    if !(k.cluster.is_terminated() && c.is_terminated()) {
                        k.ended_steps = None;
                    }
                    k.cluster = c;
                }
                None => {
                    self.clusters.insert(
                        c.id.clone(),
                        Known {
                            cluster: c,
                            ended_steps: None,
                        },
                    );
                }
            }
        }
        self.prune(now);
        self.discovered_at = Some(now);
    }

    fn prune(&mut self, now: Millis) {
        let ended_at = |c: &EmrCluster| {
            let t = c.status.timeline;
            t.end_date_time
                .or(t.creation_date_time)
                .unwrap_or(Millis(0))
        };
        let horizon = Millis(now.0.saturating_sub(KEEP_ENDED_MS));
        self.clusters
            .retain(|_, k| !k.cluster.is_terminated() || ended_at(&k.cluster) >= horizon);
        if self.clusters.len() > MAX_CLUSTERS {
            let mut ended: Vec<(Millis, String)> = (self.clusters.values())
                .filter(|k| k.cluster.is_terminated())
                .map(|k| (ended_at(&k.cluster), k.cluster.id.clone()))
                .collect();
            ended.sort();
            let excess = self.clusters.len() - MAX_CLUSTERS;
            for (_, id) in ended.into_iter().take(excess) {
                self.clusters.remove(&id);
            }
        }
        let clusters = &self.clusters;
        self.steps.retain(|_, c| clusters.contains_key(c));
    }

    /// One pipeline per cluster name; its ARN is that of its most recent cluster.
    pub fn pipelines(&self, account: &str, region: &str) -> Vec<PipelineRef> {
        let mut newest: BTreeMap<&str, &EmrCluster> = BTreeMap::new();
        for k in self.clusters.values() {
            let c = &k.cluster;
            let e = newest.entry(c.pipeline_name()).or_insert(c);
            let key = |c: &EmrCluster| (c.status.timeline.creation_date_time, c.id.clone());
            if key(c) > key(e) {
                *e = c;
            }
        }
        newest
            .into_iter()
            .map(|(name, c)| {
                let arn = convert::cluster_arn(account, region, c);
                pipeline(account, region, name, &arn)
            })
            .collect()
    }

    /// The clusters named `name`, newest first.
    pub fn clusters_of(&self, name: &str) -> Vec<EmrCluster> {
        let mut v: Vec<EmrCluster> = (self.clusters.values())
            .filter(|k| k.cluster.pipeline_name() == name)
            .map(|k| k.cluster.clone())
            .collect();
        v.sort_by(|a, b| {
            let key = |c: &EmrCluster| (c.status.timeline.creation_date_time, c.id.clone());
            key(b).cmp(&key(a))
        });
        v
    }

    /// The clusters named `name` whose steps must be listed: active ones, and ended ones that
    /// ended at or after `since` (the listing floor) and are not settled for `cp`.
    pub fn to_list(&self, name: &str, cp: &Checkpoint, cutoff: Millis) -> Vec<String> {
        let since = cp.list_from(cutoff);
        let mut out: Vec<(Option<Millis>, String)> = Vec::new();
        for k in self.clusters.values() {
            let c = &k.cluster;
            if c.pipeline_name() != name {
                continue;
            }
            if c.is_terminated() {
                if c.status.timeline.end_date_time.is_some_and(|e| e < since) {
                    continue; // every step was submitted before it ended, so before `since`
                }
                let settled = k.ended_steps.as_ref().is_some_and(|steps| {
                    steps.iter().all(|(id, start)| {
                        cp.is_exported(id, 0) || (*start < cutoff && !cp.is_tracked(id))
                    })
                });
                if settled {
                    continue;
                }
            }
            out.push((c.status.timeline.creation_date_time, c.id.clone()));
        }
        out.sort();
        out.reverse();
        out.into_iter().map(|(_, id)| id).collect()
    }

    /// What a listing of `cluster_id` returned (all of it since the floor).
    pub fn listed(&mut self, cluster_id: &str, steps: &[EmrStep]) {
        if self.steps.len() + steps.len() > MAX_STEPS {
            self.steps.clear();
        }
        for s in steps {
            self.steps.insert(s.id.clone(), cluster_id.to_string());
        }
        if let Some(k) = self.clusters.get_mut(cluster_id) {
            if k.cluster.is_terminated() {
                k.ended_steps = Some(
                    steps
                        .iter()
                        .map(|s| {
                            let t = s.status.timeline;
                            let start = t.creation_date_time.or(t.start_date_time);
                            (s.id.clone(), start.unwrap_or(Millis(i64::MIN)))
                        })
                        .collect(),
                );
            }
        }
    }

    /// The cluster a step was listed in.
    pub fn cluster_of_step(&self, step_id: &str) -> Option<String> {
        self.steps.get(step_id).cloned()
    }
}

/// The EMR clusters of one account and region.
pub struct Clusters {
    client: aws_sdk_emr::Client,
    account: String,
    region: String,
    inventory: Mutex<Inventory>,
    /// How far back the first discovery looks for ended clusters (the config's lookback).
    lookback_ms: i64,
}

impl Clusters {
    pub fn connect(c: &Connection<'_>) -> Self {
        Clusters {
            client: aws_sdk_emr::Client::from_conf(
                aws_sdk_emr::config::Builder::from(c.sdk)
                    .interceptor(c.counter.clone())
                    .build(),
            ),
            account: c.account.to_string(),
            region: c.region.to_string(),
            inventory: Mutex::default(),
            lookback_ms: c.lookback_ms,
        }
    }
}

impl Source for Clusters {
    fn spec(&self) -> &'static SourceSpec {
        &SPEC
    }
    fn account(&self) -> &str {
        &self.account
    }
    fn region(&self) -> &str {
        &self.region
    }

    fn discover(&self) -> BoxFuture<'_, Result<Vec<PipelineRef>, AwsError>> {
        async move {
            let now = Millis::now();
            let since = self
                .inventory
                .lock()
                .map(|i| i.ended_since(now, self.lookback_ms))
                .unwrap_or(Millis(now.0.saturating_sub(self.lookback_ms)));
            let active = aws::list_clusters(&self.client, &self.region, &aws::ACTIVE, None).await?;
            let ended =
                aws::list_clusters(&self.client, &self.region, &aws::ENDED, Some(since)).await?;
            let mut inv = self
                .inventory
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            inv.merge(active, ended, now);
            Ok(inv.pipelines(&self.account, &self.region))
        }
        .boxed()
    }

    fn scan<'a>(
        &'a self,
        pipeline: &'a PipelineRef,
        cp: &'a Checkpoint,
        w: Window,
        cache: Option<&'a DetailsCache>,
    ) -> BoxFuture<'a, Result<PipelineScan, AwsError>> {
        async move {
            let (clusters, to_list) = match self.inventory.lock() {
                Ok(inv) => (
                    inv.clusters_of(&pipeline.name),
                    inv.to_list(&pipeline.name, cp, w.cutoff),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            };
            let src = Steps {
                client: &self.client,
                account: &self.account,
                region: &self.region,
                name: &pipeline.name,
                clusters,
                to_list,
                inventory: &self.inventory,
            };
            scan::scan(&src, cp, w.cutoff, w.now, cache).await
        }
        .boxed()
    }

    fn probe(&self) -> BoxFuture<'_, Result<(), AwsError>> {
        aws::probe(&self.client, &self.region).boxed()
    }
}

/// A step with the cluster it belongs to.
#[derive(Debug, Clone)]
pub struct Listed {
    pub cluster: EmrCluster,
    pub step: EmrStep,
}

/// The steps of one pipeline (its clusters of one name).
pub struct Steps<'a> {
    pub client: &'a aws_sdk_emr::Client,
    pub account: &'a str,
    pub region: &'a str,
    pub name: &'a str,
    /// Every known cluster of the name, newest first.
    pub clusters: Vec<EmrCluster>,
    /// The ids of those to list this cycle.
    pub to_list: Vec<String>,
    pub inventory: &'a Mutex<Inventory>,
}

impl Steps<'_> {
    fn cluster(&self, id: &str) -> EmrCluster {
        self.clusters
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .unwrap_or_else(|| EmrCluster {
                id: id.to_string(),
                name: self.name.to_string(),
                ..EmrCluster::default()
            })
    }
}

impl RunSource for Steps<'_> {
    type Record = Listed;

    async fn list(&self, since: Millis) -> Result<Vec<Listed>, AwsError> {
        let mut out = Vec::new();
        for id in &self.to_list {
            let steps = aws::list_steps(self.client, self.region, id, since).await?;
            if let Ok(mut inv) = self.inventory.lock() {
                inv.listed(id, &steps);
            }
            let cluster = self.cluster(id);
            out.extend(steps.into_iter().map(|step| Listed {
                cluster: cluster.clone(),
                step,
            }));
        }
        Ok(out)
    }

    /// `DescribeStep` in the cluster the step was listed in; after a restart, in each known
    /// cluster of the name, newest first, until one knows it.
    async fn get(&self, run_id: &str) -> Result<Option<Listed>, AwsError> {
        let home = self
            .inventory
            .lock()
            .ok()
            .and_then(|i| i.cluster_of_step(run_id));
        let candidates: Vec<String> = match home {
            Some(id) => vec![id],
            None => self.clusters.iter().map(|c| c.id.clone()).collect(),
        };
        for id in candidates {
            if let Some(step) = aws::describe_step(self.client, self.region, &id, run_id).await? {
                return Ok(Some(Listed {
                    cluster: self.cluster(&id),
                    step,
                }));
            }
        }
        Ok(None)
    }

    fn id<'r>(&self, rec: &'r Listed) -> &'r str {
        &rec.step.id
    }

    fn to_run(&self, rec: &Listed) -> Option<PipelineRun> {
        convert::to_run(
            self.account,
            self.region,
            self.name,
            &rec.cluster,
            &rec.step,
        )
    }

    /// `ListSteps` carries the whole step (times, failure details): nothing more to fetch.
    async fn details(&self, rec: &Listed) -> Result<Option<PipelineRun>, AwsError> {
        Ok(self.to_run(rec))
    }
}

#[cfg(test)]
mod tests {
    use super::records::{ClusterStatus, ClusterTimeline, StepStatus, StepTimeline};
    use super::*;

    fn cluster(id: &str, name: &str, state: &str, created: i64, ended: Option<i64>) -> EmrCluster {
        EmrCluster {
            id: id.into(),
            name: name.into(),
            status: ClusterStatus {
                state: state.into(),
                timeline: ClusterTimeline {
                    creation_date_time: Some(Millis(created)),
                    ready_date_time: None,
                    end_date_time: ended.map(Millis),
                },
            },
            cluster_arn: Some(format!("arn:aws:elasticmapreduce:us-east-1:1:cluster/{id}")),
            normalized_instance_hours: None,
        }
    }

    fn step(id: &str, created: i64) -> EmrStep {
        EmrStep {
            id: id.into(),
            status: StepStatus {
                state: "COMPLETED".into(),
                timeline: StepTimeline {
                    creation_date_time: Some(Millis(created)),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const H: i64 = 3600 * 1000;

    #[test]
    fn a_name_is_one_pipeline_with_its_newest_cluster_arn() {
        let mut inv = Inventory::default();
        let now = Millis(100 * H);
        inv.merge(
            vec![cluster("j-B", "nightly", "WAITING", 90 * H, None)],
            vec![
                cluster("j-A", "nightly", "TERMINATED", 80 * H, Some(81 * H)),
                cluster("j-C", "", "TERMINATED_WITH_ERRORS", 95 * H, Some(96 * H)),
            ],
            now,
        );
        let p = inv.pipelines("1", "us-east-1");
        let names: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.name.as_str(), p.arn.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("j-C", "arn:aws:elasticmapreduce:us-east-1:1:cluster/j-C"),
                (
                    "nightly",
                    "arn:aws:elasticmapreduce:us-east-1:1:cluster/j-B"
                ),
            ]
        );
        let ids: Vec<String> = inv
            .clusters_of("nightly")
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["j-B", "j-A"], "newest first");
    }

    #[test]
    fn ended_clusters_are_listed_since_the_previous_discovery() {
        let mut inv = Inventory::default();
        let now = Millis(100 * H);
        assert_eq!(
            inv.ended_since(now, FIRST_DISCOVERY_MS),
            Millis(76 * H),
            "first: the lookback"
        );
        assert_eq!(inv.ended_since(now, 72 * H), Millis(28 * H));
        inv.merge(vec![], vec![], now);
        assert_eq!(
            inv.ended_since(Millis(101 * H), 72 * H),
            Millis(100 * H - DISCOVERY_OVERLAP_MS)
        );
    }

    #[test]
    fn a_cluster_gone_from_the_active_listing_ended_and_is_listed_once_more() {
        let mut inv = Inventory::default();
        inv.merge(
            vec![cluster("j-A", "etl", "RUNNING", 10 * H, None)],
            vec![],
            Millis(20 * H),
        );
        // Created before the ended listing's window, terminated since: in neither listing.
        inv.merge(vec![], vec![], Millis(21 * H));
        let c = &inv.clusters_of("etl")[0];
        assert!(c.is_terminated());
        assert_eq!(c.status.timeline.end_date_time, Some(Millis(21 * H)));
        let cp = Checkpoint::default();
        assert_eq!(inv.to_list("etl", &cp, Millis(19 * H)), ["j-A"]);
    }

    #[test]
    fn ended_clusters_are_listed_until_settled() {
        let mut inv = Inventory::default();
        inv.merge(
            vec![cluster("j-live", "etl", "WAITING", 5 * H, None)],
            vec![
                cluster("j-old", "etl", "TERMINATED", H, Some(2 * H)),
                cluster("j-new", "etl", "TERMINATED", 8 * H, Some(9 * H)),
            ],
            Millis(10 * H),
        );
        let mut cp = Checkpoint::default();
        let cutoff = Millis(3 * H);
        // j-old ended before the floor: never listed. j-new: until a listing after its end
        // shows nothing left to export.
        assert_eq!(inv.to_list("etl", &cp, cutoff), ["j-new", "j-live"]);
        inv.listed("j-new", &[step("s-1", 8 * H + 1), step("s-0", 2 * H)]);
        assert_eq!(inv.cluster_of_step("s-1").as_deref(), Some("j-new"));
        assert_eq!(
            inv.to_list("etl", &cp, cutoff),
            ["j-new", "j-live"],
            "s-1 not exported yet"
        );
        cp.mark_exported(
            "s-1",
            0,
            Millis(8 * H + 1),
            Millis(9 * H),
            true,
            Millis(10 * H),
            0,
        );
        assert_eq!(
            inv.to_list("etl", &cp, cutoff),
            ["j-live"],
            "s-0 is older than the cutoff and not awaited"
        );
        // An active cluster is always listed, whatever it returned.
        inv.listed("j-live", &[]);
        assert_eq!(inv.to_list("etl", &cp, cutoff), ["j-live"]);
        assert!(inv.to_list("other", &cp, cutoff).is_empty());
    }

    #[test]
    fn clusters_ended_two_months_ago_are_forgotten() {
        let mut inv = Inventory::default();
        let now = Millis(KEEP_ENDED_MS + 10 * H);
        inv.merge(
            vec![cluster("j-live", "etl", "WAITING", 0, None)],
            vec![
                cluster("j-gone", "etl", "TERMINATED", 0, Some(H)),
                cluster("j-kept", "etl", "TERMINATED", 0, Some(20 * H)),
            ],
            now,
        );
        inv.listed("j-kept", &[step("s-1", 1)]);
        let ids: Vec<String> = inv.clusters_of("etl").into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["j-live", "j-kept"]);
    }
}
