//! The configuration file (TOML) and its defaults.
//!
//! Every field is optional: an empty file, or no file at all, watches every Glue job and every
//! state machine visible to the ambient AWS credentials in the ambient region. Unknown keys and
//! bad values are errors that name the file, line and key.

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration.
///
/// Unknown keys are errors: the keys that are not fields below are each source's table
/// (`[glue]`, `[step_functions]`, … from [`crate::sources::ALL`]), anything else is reported
/// by [`Config::parse`] with its line.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Time between the starts of two poll cycles.
    #[serde(deserialize_with = "duration::required")]
    pub poll_interval: Duration,
    /// How far back the first cycle looks for runs when a pipeline has no checkpoint yet.
    #[serde(deserialize_with = "duration::required")]
    pub lookback: Duration,
    /// How far behind its watermark each cycle looks again, for runs AWS lists late.
    #[serde(deserialize_with = "duration::required")]
    pub rescan_window: Duration,
    /// How often the lists of jobs and state machines are refreshed.
    #[serde(deserialize_with = "duration::required")]
    pub discovery_interval: Duration,
    /// Pipelines polled at the same time, per source and region.
    pub concurrency: usize,
    pub aws: AwsConfig,
    pub otlp: OtlpConfig,
    /// Expectations and ownership by pipeline name pattern (`[[pipelines]]`). For each setting
    /// the first entry that matches the pipeline and sets it wins, so a catch-all `match = "*"`
    /// at the end gives defaults. Pipelines without settings have no SLA and no expected
    /// interval.
    pub pipelines: Vec<PipelineSettings>,
    /// The AWS accounts to watch (`[[accounts]]`); none: the ambient credentials' account, in
    /// `aws.regions` (or the ambient region).
    pub accounts: Vec<AccountConfig>,
    /// Owners from AWS resource tags (`[ownership]`).
    pub ownership: Ownership,
    /// Daily deadlines by pipeline name pattern (`[[deadlines]]`): "must have succeeded by
    /// 06:00 Europe/Berlin on weekdays". Every entry that matches a pipeline applies to it
    /// (docs/deadlines.md).
    pub deadlines: Vec<DeadlineSettings>,
    /// S3 arrival expectations (`[[arrivals]]`): "an object under
    /// s3://bucket/prefix/{yyyy}/{mm}/{dd}/ by 07:00 UTC daily" (docs/deadlines.md).
    pub arrivals: Vec<ArrivalSettings>,
    /// Every other top-level key, as written: the sources' tables, checked and read by
    /// [`Config::sources`] (an unknown key is an error).
    #[serde(flatten)]
    pub source_tables: BTreeMap<String, toml::Value>,
}

/// One `[[pipelines]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Glob pattern on the pipeline (job or state machine) name.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Only pipelines of this kind (`glue-job`, `sfn`, …: a source's kind).
    #[serde(default)]
    pub kind: Option<String>,
    /// Longest acceptable run duration; a longer run is flagged on its trace and alerted on.
    #[serde(default, deserialize_with = "duration::optional")]
    pub sla: Option<Duration>,
    /// Longest acceptable time between two successful runs (freshness).
    #[serde(default, deserialize_with = "duration::optional")]
    pub max_success_interval: Option<Duration>,
    /// Owning team, for alert routing and dashboards.
    #[serde(default)]
    pub team: Option<String>,
    /// Project the pipeline belongs to.
    #[serde(default)]
    pub project: Option<String>,
    /// How serious one failed run of the pipeline is (`info`, `warning`, `critical`): the
    /// `failure_severity` label of `pipeline_bridge_pipeline_info`, which alert rules use as
    /// the severity of a single failure.
    #[serde(default)]
    pub failure_severity: Option<FailureSeverity>,
}

/// `[ownership]`: which resource tags name a pipeline's team and project, and whether they or
/// the `[[pipelines]]` patterns win.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ownership {
    /// Tag keys naming the owning team, in order: the first one a resource has wins (e.g.
    /// `["team", "owner"]`). Empty (the default): no team from tags.
    pub team_tags: Vec<String>,
    /// Tag keys naming the project, in order.
    pub project_tags: Vec<String>,
    /// `tags` (the default): a tag wins over a `[[pipelines]]` pattern's `team`/`project`,
    /// which then only fill in for resources without the tag. `config`: the patterns win.
    pub prefer: Option<Prefer>,
    /// The team of a pipeline with none from tags or patterns (default: none, the
    /// Alertmanager's default route).
    pub default_team: Option<String>,
}

/// `ownership.prefer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prefer {
    #[default]
    Tags,
    Config,
}

impl Ownership {
    /// The team and project of a pipeline with these tags, given what the `[[pipelines]]`
    /// patterns say (`e`): by `prefer`, then `default_team`.
    pub fn apply(&self, e: &mut Expectations, tags: &BTreeMap<String, String>) {
        let from = |keys: &[String]| {
            keys.iter()
                .find_map(|k| tags.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()))
                .map(str::to_string)
        };
        let (team, project) = (from(&self.team_tags), from(&self.project_tags));
        match self.prefer.unwrap_or_default() {
            Prefer::Tags => {
                e.team = team.or(e.team.take());
                e.project = project.or(e.project.take());
            }
            Prefer::Config => {
                e.team = e.team.take().or(team);
                e.project = e.project.take().or(project);
            }
        }
        if e.team.is_none() {
            e.team = self.default_team.clone();
        }
    }

    /// Whether tags name owners (so they are read).
    pub fn uses_tags(&self) -> bool {
        !self.team_tags.is_empty() || !self.project_tags.is_empty()
    }
}

/// Compiled `include_tags`/`exclude_tags`: `key=value` (the value a glob), `key=*` or `key`
/// (the tag is set).
#[derive(Debug, Clone, Default)]
pub struct TagFilter {
    include: Vec<(String, globset::GlobMatcher)>,
    exclude: Vec<(String, globset::GlobMatcher)>,
}

impl TagFilter {
    /// Compiles the two lists; the error names the list and the entry.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, (&'static str, String)> {
        let build = |key: &'static str, items: &[String]| {
            items
                .iter()
                .map(|item| {
                    let (k, v) = item.split_once('=').unwrap_or((item.as_str(), "*"));
                    let v = v.trim();
                    if k.trim().is_empty() {
                        return Err((key, format!("`{item}`: expected `key=value` or `key`")));
                    }
                    let g = Glob::new(v)
                        .map_err(|e| (key, format!("`{item}`: bad value pattern: {e}")))?;
                    Ok((k.trim().to_string(), g.compile_matcher()))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(TagFilter {
            include: build("include_tags", include)?,
            exclude: build("exclude_tags", exclude)?,
        })
    }

    /// Whether the filter needs tags at all.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// A pipeline with these tags passes: some `include_tags` entry matches (or there is
    /// none) and no `exclude_tags` entry does.
    pub fn matches(&self, tags: &BTreeMap<String, String>) -> bool {
        let hit = |(k, g): &(String, globset::GlobMatcher)| {
            tags.get(k).is_some_and(|v| g.is_match(v.trim()))
        };
        (self.include.is_empty() || self.include.iter().any(hit)) && !self.exclude.iter().any(hit)
    }
}

/// One `[[deadlines]]` entry: the pipelines it applies to and its schedule (checked by
/// [`crate::schedule`]'s parsers on load).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineSettings {
    /// Glob pattern on the pipeline name.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Only pipelines of this kind (`glue-job`, `sfn`, …).
    #[serde(default)]
    pub kind: Option<String>,
    /// Only pipelines in this account (12 digits).
    #[serde(default)]
    pub account: Option<String>,
    /// The deadline's label (`pipeline_bridge.deadline`); default "by 06:00 Europe/Berlin
    /// weekdays".
    #[serde(default)]
    pub name: Option<String>,
    /// Time of day, "HH:MM" (24-hour), by which a run must have succeeded.
    pub by: String,
    /// IANA time zone of `by` and of the days; default "UTC".
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Days with a deadline ("mon".."sun", "weekdays", "daily"); default daily.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// How long before the deadline a success still counts (default 24h, at most 7 days).
    #[serde(default)]
    pub window: Option<String>,
}

/// A schedule from its config keys, or the key that is wrong (`by`, `time_zone`, `days`,
/// `window`) and why.
fn schedule_of(
    by: &str,
    time_zone: Option<&str>,
    days: Option<&[String]>,
    window: Option<&str>,
) -> Result<crate::schedule::Schedule, (&'static str, String)> {
    use crate::schedule as s;
    let by = s::parse_by(by).map_err(|e| ("by", e))?;
    let zone = s::parse_time_zone(time_zone.unwrap_or("UTC")).map_err(|e| ("time_zone", e))?;
    let days = match days {
        Some(d) => s::parse_days(d).map_err(|e| ("days", e))?,
        None => s::Days::DAILY,
    };
    let window = match window {
        Some(w) => s::parse_window(w).map_err(|e| ("window", e))?,
        None => s::Window::DEFAULT,
    };
    Ok(s::Schedule::new(by, zone, days, window))
}

/// One `[[arrivals]]` entry: an S3 prefix (per date) where an object must have arrived by a
/// time of day.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalSettings {
    /// Its name (`pipeline_bridge.arrival`), unique.
    pub name: String,
    /// `s3://bucket/prefix/{yyyy}/{mm}/{dd}/`: the prefix of the deadline's local date.
    pub url: String,
    /// Whose credentials list the bucket: a watched account's id (default: the first).
    #[serde(default)]
    pub account: Option<String>,
    /// Region of the bucket: one of the account's watched regions (default: its first).
    #[serde(default)]
    pub region: Option<String>,
    pub by: String,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub days: Option<Vec<String>>,
    #[serde(default)]
    pub window: Option<String>,
    /// Owner, for routing (labels `team`, `project` on the arrival's series).
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
}

impl ArrivalSettings {
    /// The schedule, or the key that is wrong and why.
    pub fn schedule(&self) -> Result<crate::schedule::Schedule, (&'static str, String)> {
        schedule_of(
            &self.by,
            self.time_zone.as_deref(),
            self.days.as_deref(),
            self.window.as_deref(),
        )
    }
}

impl DeadlineSettings {
    /// The schedule, or the key that is wrong (`by`, `time_zone`, `days`, `window`) and why.
    pub fn schedule(&self) -> Result<crate::schedule::Schedule, (&'static str, String)> {
        schedule_of(
            &self.by,
            self.time_zone.as_deref(),
            self.days.as_deref(),
            self.window.as_deref(),
        )
    }

    /// The label: `name`, else "by HH:MM ZONE DAYS".
    pub fn label(&self, schedule: &crate::schedule::Schedule) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => format!(
                "by {:02}:{:02} {} {}",
                schedule.by().hour(),
                schedule.by().minute(),
                schedule.zone_name(),
                schedule.days()
            ),
        }
    }
}

/// One `[[accounts]]` entry: an AWS account watched through a role it trusts the bridge to
/// assume, or (without `role_arn`) through the ambient credentials.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// A name for people (`check`, logs); default: the account id.
    #[serde(default)]
    pub name: Option<String>,
    /// The role to assume in the account (`arn:aws:iam::ACCOUNT:role/NAME`); its account id is
    /// the watched account. None: the ambient credentials (at most one such entry).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// The `sts:ExternalId` the role's trust policy requires. Never logged.
    #[serde(default)]
    pub external_id: Option<Secret>,
    /// The role session name (default `pipeline-otel-bridge`), seen in the account's CloudTrail.
    #[serde(default)]
    pub session_name: Option<String>,
    /// Regions to watch in this account; empty: `aws.regions`, else the ambient region.
    #[serde(default)]
    pub regions: Vec<String>,
    /// Config keys of the sources watched in this account (`glue`, `step_functions`, …);
    /// empty: every enabled source.
    #[serde(default)]
    pub sources: Vec<String>,
    /// Glob patterns on pipeline names, for every source in this account, on top of the
    /// source's own: a pipeline is watched if one matches.
    #[serde(default = "match_all")]
    pub include: Vec<String>,
    /// Glob patterns on pipeline names; a match excludes the pipeline in this account.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Resource tags a pipeline in this account must have one of (`key=value` or `key`).
    #[serde(default)]
    pub include_tags: Vec<String>,
    /// Resource tags that exclude a pipeline in this account.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
}

fn match_all() -> Vec<String> {
    vec!["*".to_string()]
}

/// Each region non-empty and listed once.
fn check_regions(
    regions: &[String],
    key: &str,
    invalid: &dyn Fn(&str, String) -> ConfigError,
) -> Result<(), ConfigError> {
    let mut seen = std::collections::BTreeSet::new();
    for r in regions {
        if r.trim().is_empty() {
            return Err(invalid(key, "a region is empty".into()));
        }
        if !seen.insert(r.trim()) {
            return Err(invalid(
                key,
                format!(
                    "`{}` is listed twice (each run would be exported twice)",
                    crate::sanitize::escape(r)
                ),
            ));
        }
    }
    Ok(())
}

/// Default role session name.
pub const DEFAULT_SESSION_NAME: &str = "pipeline-otel-bridge";

impl AccountConfig {
    /// The account id in `role_arn` (`arn:PARTITION:iam::ACCOUNT:role/NAME`), if it is one.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(role_arn_account)
    }

    /// The role session name to use.
    pub fn session_name(&self) -> &str {
        self.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME)
    }

    /// Compiles `include`/`exclude`.
    pub fn filter(&self) -> Result<NameFilter, (&'static str, String)> {
        SourceConfig {
            enabled: true,
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            include_tags: self.include_tags.clone(),
            exclude_tags: self.exclude_tags.clone(),
        }
        .filter()
    }
}

/// The account id of a role ARN, `None` when `arn` is not `arn:PARTITION:iam::ACCOUNT:role/NAME`
/// (partition `aws`, `aws-cn` or `aws-us-gov`, a 12-digit account, a non-empty name).
pub fn role_arn_account(arn: &str) -> Option<&str> {
    let rest = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|p| arn.strip_prefix(p))?;
    let (account, role) = rest.split_once(':')?;
    let name = role.strip_prefix("role/")?;
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c));
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) && name_ok)
        .then_some(account)
}

/// `[[pipelines]] failure_severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureSeverity {
    Info,
    Warning,
    Critical,
}

impl FailureSeverity {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureSeverity::Info => "info",
            FailureSeverity::Warning => "warning",
            FailureSeverity::Critical => "critical",
        }
    }
}

/// What the config says about one pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub sla: Option<Duration>,
    pub max_success_interval: Option<Duration>,
    pub team: Option<String>,
    pub project: Option<String>,
    pub failure_severity: Option<FailureSeverity>,
}

/// Compiled `[[pipelines]]` entries: one [`GlobSet`] over every pattern, so a lookup is one
/// set match whatever the number of entries, then a walk over the matching entries only.
#[derive(Debug, Clone, Default)]
pub struct ExpectationRules {
    /// Pattern `i` of the set is the pattern of `rules[i]`.
    set: GlobSet,
    rules: Vec<PipelineSettings>,
}

impl ExpectationRules {
    /// Compiles the entries; the error names the entry whose pattern is bad, or says the set
    /// is too large to compile.
    fn compile(pipelines: &[PipelineSettings]) -> Result<Self, (Option<usize>, String)> {
        let mut b = GlobSetBuilder::new();
        for (i, p) in pipelines.iter().enumerate() {
            let g = Glob::new(&p.pattern)
                .map_err(|e| (Some(i), format!("bad pattern `{}`: {e}", p.pattern)))?;
            b.add(g);
        }
        let set = b.build().map_err(|e| {
            (
                None,
                format!("the patterns cannot be compiled together: {e}"),
            )
        })?;
        Ok(ExpectationRules {
            set,
            rules: pipelines.to_vec(),
        })
    }

    /// Settings for a pipeline, each taken from the first matching entry that sets it.
    pub fn for_pipeline(&self, kind: &str, name: &str) -> Expectations {
        let mut e = Expectations::default();
        // `matches` lists the matching entries in ascending order: first match first.
        for s in self
            .set
            .matches(name)
            .into_iter()
            .filter_map(|i| self.rules.get(i))
        {
            if s.kind.as_deref().is_some_and(|k| k != kind) {
                continue;
            }
            e.sla = e.sla.or(s.sla);
            e.max_success_interval = e.max_success_interval.or(s.max_success_interval);
            e.team = e.team.take().or_else(|| s.team.clone());
            e.project = e.project.take().or_else(|| s.project.clone());
            e.failure_severity = e.failure_severity.or(s.failure_severity);
            if e.sla.is_some()
                && e.max_success_interval.is_some()
                && e.team.is_some()
                && e.project.is_some()
                && e.failure_severity.is_some()
            {
                break;
            }
        }
        e
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            poll_interval: Duration::from_secs(60),
            lookback: Duration::from_secs(24 * 3600),
            rescan_window: Duration::from_secs(3600),
            discovery_interval: Duration::from_secs(600),
            concurrency: 4,
            aws: AwsConfig::default(),
            otlp: OtlpConfig::default(),
            pipelines: Vec::new(),
            accounts: Vec::new(),
            ownership: Ownership::default(),
            deadlines: Vec::new(),
            arrivals: Vec::new(),
            source_tables: BTreeMap::new(),
        }
    }
}

/// Where and how to reach AWS. Unset fields fall back to the standard `AWS_*` variables and
/// profiles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    /// Endpoint override for every AWS service (e.g. a local emulator); `AWS_ENDPOINT_URL`
    /// does the same.
    pub endpoint_url: Option<String>,
    /// Regions to watch; empty means the ambient region (`AWS_REGION`, profile).
    pub regions: Vec<String>,
    /// Named profile from `~/.aws/config`; `AWS_PROFILE` does the same.
    pub profile: Option<String>,
    /// Longest wait to open a connection to an AWS endpoint (default 5s).
    #[serde(default, deserialize_with = "duration::optional")]
    pub connect_timeout: Option<Duration>,
    /// Longest one request attempt may take, from sending to the whole answer (default 20s).
    #[serde(default, deserialize_with = "duration::optional")]
    pub read_timeout: Option<Duration>,
    /// Longest one API call may take, retries and their back-off included (default 60s); past
    /// it the pipeline waits for the next cycle and the others go on.
    #[serde(default, deserialize_with = "duration::optional")]
    pub operation_timeout: Option<Duration>,
}

/// AWS call timeouts when the config sets none.
pub const DEFAULT_AWS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_AWS_READ_TIMEOUT: Duration = Duration::from_secs(20);
pub const DEFAULT_AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);

impl AwsConfig {
    /// `(connect, read/attempt, operation)` timeouts, defaults filled in.
    pub fn timeouts(&self) -> (Duration, Duration, Duration) {
        (
            self.connect_timeout.unwrap_or(DEFAULT_AWS_CONNECT_TIMEOUT),
            self.read_timeout.unwrap_or(DEFAULT_AWS_READ_TIMEOUT),
            self.operation_timeout
                .unwrap_or(DEFAULT_AWS_OPERATION_TIMEOUT),
        )
    }
}

/// Which pipelines of one kind to watch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceConfig {
    pub enabled: bool,
    /// Glob patterns on the pipeline name; a pipeline is watched if one matches.
    pub include: Vec<String>,
    /// Glob patterns on the pipeline name; a match excludes the pipeline even if included.
    pub exclude: Vec<String>,
    /// Resource tags a watched pipeline must have one of (`key=value`, value a glob, or `key`);
    /// empty: no condition.
    pub include_tags: Vec<String>,
    /// Resource tags that exclude a pipeline (`key=value` or `key`).
    pub exclude_tags: Vec<String>,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            enabled: true,
            include: vec!["*".to_string()],
            exclude: Vec::new(),
            include_tags: Vec::new(),
            exclude_tags: Vec::new(),
        }
    }
}

/// Compiled include/exclude patterns of a source.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: GlobSet,
    exclude: GlobSet,
    /// `include_tags`/`exclude_tags`.
    pub tags: TagFilter,
}

impl NameFilter {
    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.is_match(name)
    }
}

/// The compiled name filters of every source, by its config key.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// `None`: the source is disabled.
    by_source: BTreeMap<&'static str, Option<NameFilter>>,
    /// Each account's own patterns, by account id (an account without is not filtered).
    by_account: BTreeMap<String, NameFilter>,
}

impl Filters {
    /// Adds the accounts' own patterns (`[[accounts]] include`/`exclude`), by account id.
    pub fn set_accounts(&mut self, by_account: BTreeMap<String, NameFilter>) {
        self.by_account = by_account;
    }

    /// Whether the pipeline `name` of source `key` in `account` is watched: the source's
    /// filter and the account's both let it through.
    pub fn matches_in(&self, account: &str, key: &str, name: &str) -> bool {
        self.matches(key, name) && self.by_account.get(account).is_none_or(|f| f.matches(name))
    }

    /// Whether a pipeline's tags pass its source's and its account's tag filters (a pipeline
    /// whose tags are unknown has none).
    pub fn tags_match(&self, account: &str, key: &str, tags: &BTreeMap<String, String>) -> bool {
        let src = self
            .by_source
            .get(key)
            .and_then(|f| f.as_ref())
            .is_none_or(|f| f.tags.matches(tags));
        src && self
            .by_account
            .get(account)
            .is_none_or(|f| f.tags.matches(tags))
    }

    /// Whether the tag filters of source `key` or of `account` use tags.
    pub fn uses_tags_for(&self, account: &str, key: &str) -> bool {
        self.by_source
            .get(key)
            .and_then(|f| f.as_ref())
            .is_some_and(|f| !f.tags.is_empty())
            || self
                .by_account
                .get(account)
                .is_some_and(|f| !f.tags.is_empty())
    }

    /// Whether any source or account filters by tag.
    pub fn uses_tags(&self) -> bool {
        self.by_source
            .values()
            .flatten()
            .any(|f| !f.tags.is_empty())
            || self.by_account.values().any(|f| !f.tags.is_empty())
    }

    /// Whether the source `key` watches the pipeline `name`: the source is enabled and the
    /// name passes its include/exclude patterns (a source without settings watches all).
    pub fn matches(&self, key: &str, name: &str) -> bool {
        match self.by_source.get(key) {
            Some(f) => f.as_ref().is_some_and(|f| f.matches(name)),
            None => true,
        }
    }
}

/// OTLP export settings. Unset fields fall back to the standard `OTEL_EXPORTER_OTLP_*`
/// variables, then to the OpenTelemetry defaults (gRPC on `http://localhost:4317`).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Collector endpoint, e.g. `http://localhost:4317` (gRPC) or `http://localhost:4318`
    /// (HTTP; `/v1/traces` and `/v1/metrics` are appended).
    pub endpoint: Option<String>,
    /// `grpc` (default) or `http/protobuf`.
    pub protocol: Option<Protocol>,
    /// Extra request headers, e.g. an API key. Never logged.
    pub headers: BTreeMap<String, Secret>,
    /// `gzip` or `none`.
    pub compression: Option<Compression>,
    /// Time the collector has to acknowledge one export.
    #[serde(default, deserialize_with = "duration::optional")]
    pub timeout: Option<Duration>,
    /// PEM file of the CA that signed the collector's certificate (for `https://` endpoints
    /// with a private CA); `OTEL_EXPORTER_OTLP_CERTIFICATE` does the same.
    pub certificate: Option<PathBuf>,
    /// Largest trace request, in bytes (uncompressed protobuf): a pipeline's finished runs are
    /// sent in batches of whole runs under it. Default 3 MiB (`export::batch`), under the
    /// 4 MiB gRPC receivers accept by default; 64 KiB to 64 MiB.
    pub max_request_bytes: Option<usize>,
}

/// Debug without secrets: the endpoint's password is masked (headers are [`Secret`]s).
impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field(
                "endpoint",
                &self
                    .endpoint
                    .as_deref()
                    .map(crate::export::settings::redact_url),
            )
            .field("protocol", &self.protocol)
            .field("headers", &self.headers)
            .field("compression", &self.compression)
            .field("timeout", &self.timeout)
            .field("certificate", &self.certificate)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

/// OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::HttpProtobuf),
            _ => None,
        }
    }
}

/// OTLP payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    None,
}

/// A value that must never reach a log: its `Debug` and `Display` print `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration error, naming the file and, where known, the line and key.
///
/// Messages never quote the config text: a value under `otlp.headers` may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The cause is the `source`, shown by `{:#}` / error chains, not repeated here.
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}, column {column}{}: {message}", key_part(.key))]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Dotted path of the key the error is in, when known (`otlp.headers.authorization`).
        key: Option<String>,
        message: String,
    },
    #[error("config file {path}{}: key `{key}`: {message}", line_part(.line))]
    Invalid {
        path: PathBuf,
        /// Line of the key, when the config came from text.
        line: Option<usize>,
        key: String,
        message: String,
    },
}

fn key_part(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(": key `{k}`"))
        .unwrap_or_default()
}

fn line_part(line: &Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

/// Largest accepted value of each duration key (larger ones are mistakes, and would overflow
/// time arithmetic).
pub mod limits {
    use std::time::Duration;

    const DAY: u64 = 24 * 3600;
    /// `poll_interval`: 1 day.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(DAY);
    /// `lookback`: 365 days (AWS keeps no older runs).
    pub const LOOKBACK: Duration = Duration::from_secs(365 * DAY);
    /// `rescan_window`: 30 days.
    pub const RESCAN_WINDOW: Duration = Duration::from_secs(30 * DAY);
    /// `discovery_interval`: 1 day.
    pub const DISCOVERY_INTERVAL: Duration = Duration::from_secs(DAY);
    /// `otlp.timeout`: 10 minutes.
    pub const OTLP_TIMEOUT: Duration = Duration::from_secs(600);
    /// `aws.connect_timeout`, `aws.read_timeout`, `aws.operation_timeout`: 10 minutes.
    pub const AWS_TIMEOUT: Duration = Duration::from_secs(600);
    /// `pipelines[].sla` and `pipelines[].max_success_interval`: 366 days.
    pub const PIPELINE: Duration = Duration::from_secs(366 * DAY);
    /// `runs --since`: 365 days.
    pub const SINCE: Duration = LOOKBACK;
}

/// Most `[[deadlines]]` entries.
pub const MAX_DEADLINES: usize = 1000;

/// A limit for messages: `30 days`, `1 day`, `10m`.
fn show_limit(d: Duration) -> String {
    const DAY: u64 = 24 * 3600;
    match d.as_secs() {
        s if s == DAY => "1 day".to_string(),
        s if s % DAY == 0 => format!("{} days", s / DAY),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// How a duration is written, for error messages.
pub const DURATION_FORMAT: &str = r#"expected a duration like "90s", "15m", "2h", "7days""#;

/// Parses a duration such as `90s`, `15m` or `7days` that must not exceed `max`; the error
/// says why and shows the format. For command-line values.
pub fn parse_duration_at_most(s: &str, max: Duration) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{e}; {DURATION_FORMAT}"))?;
    if d > max {
        return Err(format!("must be at most {}", show_limit(max)));
    }
    Ok(d)
}

/// Serde helpers for duration keys: humantime syntax, errors that show the format.
mod duration {
    use serde::{de::Error, Deserialize, Deserializer};
    use std::time::Duration;

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let fail = |e: &dyn std::fmt::Display| {
            D::Error::custom(format!(
                "{}; {}",
                e.to_string().trim_end(),
                super::DURATION_FORMAT
            ))
        };
        let s = String::deserialize(d).map_err(|e| fail(&e))?;
        humantime::parse_duration(&s).map_err(|e| fail(&e))
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        required(d).map(Some)
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| locate::parse_error(text, path, &e))?;
        cfg.validate(path).map_err(|e| match e {
            ConfigError::Invalid {
                path,
                line: None,
                key,
                message,
            } => ConfigError::Invalid {
                line: locate::key_line(text, &key),
                path,
                key,
                message,
            },
            other => other,
        })?;
        Ok(cfg)
    }

    /// Checks what serde cannot: ranges and glob syntax.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            line: None,
            key: key.to_string(),
            message,
        };
        let at_most = |key: &str, d: Option<Duration>, max: Duration, why: &str| match d {
            Some(d) if d > max => Err(invalid(
                key,
                format!("must be at most {}{why}", show_limit(max)),
            )),
            _ => Ok(()),
        };
        if self.poll_interval < Duration::from_secs(1) {
            return Err(invalid("poll_interval", "must be at least 1s".into()));
        }
        at_most(
            "poll_interval",
            Some(self.poll_interval),
            limits::POLL_INTERVAL,
            "",
        )?;
        at_most(
            "lookback",
            Some(self.lookback),
            limits::LOOKBACK,
            " (AWS keeps no older runs)",
        )?;
        at_most(
            "rescan_window",
            Some(self.rescan_window),
            limits::RESCAN_WINDOW,
            "",
        )?;
        at_most(
            "discovery_interval",
            Some(self.discovery_interval),
            limits::DISCOVERY_INTERVAL,
            "",
        )?;
        at_most("otlp.timeout", self.otlp.timeout, limits::OTLP_TIMEOUT, "")?;
        check_regions(&self.aws.regions, "aws.regions", &invalid)?;
        self.validate_accounts(&invalid)?;
        for (key, list) in [
            ("ownership.team_tags", &self.ownership.team_tags),
            ("ownership.project_tags", &self.ownership.project_tags),
        ] {
            if list.iter().any(|k| k.trim().is_empty() || k.len() > 128) {
                return Err(invalid(
                    key,
                    "a tag key is empty or longer than 128 characters".into(),
                ));
            }
        }
        if self
            .ownership
            .default_team
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(invalid(
                "ownership.default_team",
                "is empty; leave it out for no default team".into(),
            ));
        }
        for (key, d) in [
            ("aws.connect_timeout", self.aws.connect_timeout),
            ("aws.read_timeout", self.aws.read_timeout),
            ("aws.operation_timeout", self.aws.operation_timeout),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(invalid(key, "must be more than 0s".into()));
            }
            at_most(key, d, limits::AWS_TIMEOUT, "")?;
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(invalid("concurrency", "must be between 1 and 64".into()));
        }
        let sources = self.sources().map_err(|(key, msg)| invalid(&key, msg))?;
        for (name, src) in &sources {
            src.filter()
                .map_err(|(key, msg)| invalid(&format!("{name}.{key}"), msg))?;
            let no_tags = crate::sources::by_key(name).is_some_and(|s| s.tag_actions.is_empty());
            if no_tags && (!src.include_tags.is_empty() || !src.exclude_tags.is_empty()) {
                let key = if src.include_tags.is_empty() {
                    "exclude_tags"
                } else {
                    "include_tags"
                };
                return Err(invalid(
                    &format!("{name}.{key}"),
                    "this source's pipelines have no tags to read (see docs/ownership.md); \
                     use include/exclude name patterns"
                        .into(),
                ));
            }
        }
        ExpectationRules::compile(&self.pipelines).map_err(|(i, msg)| match i {
            Some(i) => invalid(&format!("pipelines[{i}].match"), msg),
            None => invalid("pipelines", msg),
        })?;
        for (i, p) in self.pipelines.iter().enumerate() {
            let key = |k: &str| format!("pipelines[{i}].{k}");
            if let Some(k) = &p.kind {
                if crate::sources::kind(k).is_none() {
                    return Err(invalid(
                        &key("kind"),
                        format!(
                            "`{}`: expected {}",
                            crate::sanitize::escape(k),
                            crate::sources::kind_names()
                        ),
                    ));
                }
            }
            for (name, d) in [
                ("sla", p.sla),
                ("max_success_interval", p.max_success_interval),
            ] {
                if d.is_some_and(|d| d.is_zero()) {
                    return Err(invalid(&key(name), "must be more than 0s".into()));
                }
                at_most(&key(name), d, limits::PIPELINE, "")?;
            }
        }
        self.validate_deadlines(&invalid)?;
        self.validate_arrivals(&invalid)?;
        if let Some(ep) = &self.otlp.endpoint {
            // The same rule as for OTEL_EXPORTER_OTLP_*ENDPOINT; the message hides a password.
            crate::export::settings::check_endpoint(ep.trim()).map_err(|why| {
                invalid(
                    "otlp.endpoint",
                    format!("`{}` {why}", crate::export::redact_url(ep)),
                )
            })?;
        }
        if self.otlp.timeout.is_some_and(|t| t.is_zero()) {
            return Err(invalid("otlp.timeout", "must be more than 0s".into()));
        }
        if let Some(n) = self.otlp.max_request_bytes {
            if !(64 << 10..=64 << 20).contains(&n) {
                return Err(invalid(
                    "otlp.max_request_bytes",
                    format!("{n} is not between 65536 (64 KiB) and 67108864 (64 MiB)"),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Checks `[[accounts]]`: role ARNs, ExternalIds and session names AWS would accept, each
    /// account once, at most one entry on the ambient credentials, known sources, regions
    /// listed once, patterns that compile.
    fn validate_accounts(
        &self,
        invalid: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        let mut accounts = std::collections::BTreeMap::new();
        let mut ambient = None;
        let mut names = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = |k: &str| format!("accounts[{i}].{k}");
            match &a.role_arn {
                Some(arn) => {
                    let Some(account) = a.role_account() else {
                        return Err(invalid(
                            &key("role_arn"),
                            format!(
                                "`{}` is not a role ARN (arn:aws:iam::123456789012:role/NAME)",
                                crate::sanitize::escape(arn)
                            ),
                        ));
                    };
                    if let Some(j) = accounts.insert(account.to_string(), i) {
                        return Err(invalid(
                            &key("role_arn"),
                            format!(
                                "account {account} is already watched by accounts[{j}] (its \
                                 runs would be exported twice); list its regions in one entry"
                            ),
                        ));
                    }
                }
                None => {
                    if let Some(j) = ambient.replace(i) {
                        return Err(invalid(
                            &key("role_arn"),
                            format!(
                                "missing: accounts[{j}] already watches the ambient \
                                 credentials' account; every other entry needs a role"
                            ),
                        ));
                    }
                    if a.external_id.is_some() || a.session_name.is_some() {
                        return Err(invalid(
                            &key(if a.external_id.is_some() {
                                "external_id"
                            } else {
                                "session_name"
                            }),
                            "needs `role_arn` (it is a setting of the role to assume)".into(),
                        ));
                    }
                }
            }
            if let Some(n) = &a.name {
                if n.trim().is_empty() || n.len() > 64 || n.chars().any(|c| c.is_control()) {
                    return Err(invalid(
                        &key("name"),
                        "must be 1 to 64 printable characters".into(),
                    ));
                }
                if !names.insert(n.clone()) {
                    return Err(invalid(
                        &key("name"),
                        format!("`{}` names two accounts", crate::sanitize::escape(n)),
                    ));
                }
            }
            if let Some(id) = &a.external_id {
                let ok = (2..=1224).contains(&id.0.len())
                    && id
                        .0
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@:/-_".contains(c));
                if !ok {
                    // The value is not quoted: it is a shared secret.
                    return Err(invalid(
                        &key("external_id"),
                        "must be 2 to 1224 characters of letters, digits and +=,.@:/-_ (what \
                         STS accepts)"
                            .into(),
                    ));
                }
            }
            if let Some(s) = &a.session_name {
                let ok = (2..=64).contains(&s.len())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c));
                if !ok {
                    return Err(invalid(
                        &key("session_name"),
                        format!(
                            "`{}` must be 2 to 64 characters of letters, digits and +=,.@-_",
                            crate::sanitize::escape(s)
                        ),
                    ));
                }
            }
            check_regions(&a.regions, &key("regions"), invalid)?;
            for s in &a.sources {
                if crate::sources::by_key(s).is_none() {
                    return Err(invalid(
                        &key("sources"),
                        format!(
                            "`{}` is not a source; expected {}",
                            crate::sanitize::escape(s),
                            crate::sources::keys()
                        ),
                    ));
                }
            }
            a.filter()
                .map_err(|(k, msg)| invalid(&key(k), crate::sanitize::escape(&msg).into()))?;
        }
        Ok(())
    }

    /// Checks `[[deadlines]]`: patterns, kinds, account ids, schedules, and names that are
    /// neither empty nor given twice.
    fn validate_deadlines(
        &self,
        invalid: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if self.deadlines.len() > MAX_DEADLINES {
            return Err(invalid(
                "deadlines",
                format!("{} entries; at most {MAX_DEADLINES}", self.deadlines.len()),
            ));
        }
        for (i, d) in self.deadlines.iter().enumerate() {
            let key = |k: &str| format!("deadlines[{i}].{k}");
            Glob::new(&d.pattern).map_err(|e| {
                invalid(
                    &key("match"),
                    format!("bad pattern `{}`: {e}", crate::sanitize::escape(&d.pattern)),
                )
            })?;
            if let Some(k) = &d.kind {
                if crate::sources::kind(k).is_none() {
                    return Err(invalid(
                        &key("kind"),
                        format!(
                            "`{}`: expected {}",
                            crate::sanitize::escape(k),
                            crate::sources::kind_names()
                        ),
                    ));
                }
            }
            if let Some(a) = &d.account {
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        &key("account"),
                        format!(
                            "`{}`: expected a 12-digit AWS account id",
                            crate::sanitize::escape(a)
                        ),
                    ));
                }
            }
            if let Some(n) = &d.name {
                if n.trim().is_empty() || n.len() > 200 {
                    return Err(invalid(
                        &key("name"),
                        "must be 1 to 200 characters, not only spaces".into(),
                    ));
                }
            }
            let schedule = d
                .schedule()
                .map_err(|(k, msg)| invalid(&key(k), crate::sanitize::escape(&msg).into()))?;
            let label = d.label(&schedule);
            if let Some(j) = self.deadlines[..i].iter().position(|o| {
                o.pattern == d.pattern
                    && o.kind == d.kind
                    && o.account == d.account
                    && o.schedule().is_ok_and(|s| o.label(&s) == label)
            }) {
                return Err(invalid(
                    &format!("deadlines[{i}]"),
                    format!(
                        "deadlines[{j}] has the same pattern and name `{}`; give one a different `name`",
                        crate::sanitize::escape(&label)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks `[[arrivals]]`: unique names, S3 URLs (bucket and prefix template), account ids
    /// and regions, schedules.
    fn validate_arrivals(
        &self,
        invalid: &dyn Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        if self.arrivals.len() > MAX_DEADLINES {
            return Err(invalid(
                "arrivals",
                format!("{} entries; at most {MAX_DEADLINES}", self.arrivals.len()),
            ));
        }
        for (i, a) in self.arrivals.iter().enumerate() {
            let key = |k: &str| format!("arrivals[{i}].{k}");
            let esc = |s: &str| crate::sanitize::escape(s).into_owned();
            if a.name.trim().is_empty() || a.name.len() > 200 {
                return Err(invalid(
                    &key("name"),
                    "must be 1 to 200 characters, not only spaces".into(),
                ));
            }
            if let Some(j) = self.arrivals[..i].iter().position(|o| o.name == a.name) {
                return Err(invalid(
                    &key("name"),
                    format!("`{}` is already the name of arrivals[{j}]", esc(&a.name)),
                ));
            }
            crate::schedule::parse_s3_url(&a.url).map_err(|e| invalid(&key("url"), esc(&e)))?;
            if let Some(acct) = &a.account {
                if acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        &key("account"),
                        format!("`{}`: expected a 12-digit AWS account id", esc(acct)),
                    ));
                }
            }
            if let Some(r) = &a.region {
                check_regions(std::slice::from_ref(r), &key("region"), invalid)?;
            }
            a.schedule()
                .map_err(|(k, msg)| invalid(&key(k), esc(&msg)))?;
        }
        Ok(())
    }

    /// Compiles the `[[pipelines]]` patterns (validated on load; a config that was not gets no
    /// expectations if they do not compile).
    pub fn expectations(&self) -> ExpectationRules {
        ExpectationRules::compile(&self.pipelines).unwrap_or_default()
    }

    /// Every source's settings by its config key (defaults where the file has no table):
    /// the error names the key that is not a source's table or the key inside one that is
    /// wrong, with the reason.
    pub fn sources(&self) -> Result<BTreeMap<&'static str, SourceConfig>, (String, String)> {
        for (k, v) in &self.source_tables {
            if crate::sources::by_key(k).is_none() {
                return Err((
                    crate::sanitize::escape(k).into_owned(),
                    format!(
                        "unknown key; expected a setting or a source's table ({})",
                        crate::sources::keys()
                    ),
                ));
            }
            let Some(table) = v.as_table() else {
                return Err((k.clone(), "expected a table".into()));
            };
            for (field, value) in table {
                let one: toml::Table = [(field.clone(), value.clone())].into_iter().collect();
                if let Err(e) = SourceConfig::deserialize(toml::Value::Table(one)) {
                    // serde's reason with any quoted value cut, like every config message.
                    let why = locate::one_line(&locate::redact_quoted(e.message()));
                    return Err((
                        format!("{k}.{}", crate::sanitize::escape(field)),
                        crate::sanitize::escape(&why).into_owned(),
                    ));
                }
            }
        }
        Ok(crate::sources::ALL
            .iter()
            .map(|s| {
                let cfg = self
                    .source_tables
                    .get(s.key)
                    .and_then(|v| SourceConfig::deserialize(v.clone()).ok())
                    .unwrap_or_default();
                (s.key, cfg)
            })
            .collect())
    }

    /// Whether the bridge reads resource tags: they name owners (`[ownership]`) or filter
    /// pipelines (`include_tags`/`exclude_tags` of a source or an account).
    pub fn reads_tags(&self) -> bool {
        self.ownership.uses_tags()
            || self.filters().is_ok_and(|f| f.uses_tags())
            || self
                .accounts
                .iter()
                .any(|a| !a.include_tags.is_empty() || !a.exclude_tags.is_empty())
    }

    /// Whether the source with config key `key` is enabled.
    pub fn source_enabled(&self, key: &str) -> bool {
        self.sources()
            .ok()
            .and_then(|mut m| m.remove(key))
            .unwrap_or_default()
            .enabled
    }

    /// Compiles the include/exclude patterns of every enabled source.
    pub fn filters(&self) -> Result<Filters, ConfigError> {
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: PathBuf::from("(config)"),
            line: None,
            key,
            message,
        };
        let mut by_source = BTreeMap::new();
        for (name, src) in self.sources().map_err(|(k, m)| invalid(k, m))? {
            let f = src
                .filter()
                .map_err(|(key, message)| invalid(format!("{name}.{key}"), message))?;
            by_source.insert(name, src.enabled.then_some(f));
        }
        Ok(Filters {
            by_source,
            by_account: BTreeMap::new(),
        })
    }
}

impl SourceConfig {
    /// Compiles the patterns; the error names the key (`include`/`exclude`) and pattern.
    pub fn filter(&self) -> Result<NameFilter, (&'static str, String)> {
        let build = |key: &'static str, pats: &[String]| {
            let mut b = GlobSetBuilder::new();
            for p in pats {
                let g = Glob::new(p).map_err(|e| (key, format!("bad pattern `{p}`: {e}")))?;
                b.add(g);
            }
            b.build().map_err(|e| (key, e.to_string()))
        };
        Ok(NameFilter {
            include: build("include", &self.include)?,
            exclude: build("exclude", &self.exclude)?,
            tags: TagFilter::new(&self.include_tags, &self.exclude_tags)?,
        })
    }
}

/// Where in the config text an error is, without quoting the text.
mod locate {
    use super::ConfigError;
    use std::ops::Range;
    use std::path::Path;
    use toml::de::{DeTable, DeValue};
    use toml::Spanned;

    /// A parse or type error as file, line, column, key and toml's bare message. toml's own
    /// `Display` quotes the offending line, which may hold a secret header value; so do serde
    /// messages (`invalid type: string "…"`), whose quoted parts are cut when the key is
    /// unknown or under `otlp.headers`.
    pub fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
        let pos = e.span().map_or(0, |s| s.start);
        let (line, column) = line_col(text, pos);
        let (table, _) = DeTable::parse_recoverable(text);
        let key = key_at(table.get_ref(), pos);
        let message = if key.as_deref().is_none_or(|k| k.contains("headers")) {
            redact_quoted(e.message())
        } else {
            e.message().to_string()
        };
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            key: key.map(|k| crate::sanitize::escape(&k).into_owned()),
            message: crate::sanitize::escape(&one_line(&message)).into_owned(),
        }
    }

    /// The non-empty lines of `msg`, trimmed and joined by `; `.
    pub(super) fn one_line(msg: &str) -> String {
        let lines: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        lines.join("; ")
    }

    /// 1-based line and column (in characters) of byte offset `pos`.
    pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
        let mut pos = pos.min(text.len());
        while !text.is_char_boundary(pos) {
            pos -= 1;
        }
        let before = &text[..pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count() + 1,
        )
    }

    /// `"…"` for every double-quoted part of `msg` (a `\"` inside stays inside: serde escapes
    /// a value's own quotes); from an unpaired quote on, everything is cut.
    pub(super) fn redact_quoted(msg: &str) -> String {
        let mut out = String::with_capacity(msg.len());
        let mut chars = msg.chars();
        while let Some(c) = chars.next() {
            if c != '"' {
                out.push(c);
                continue;
            }
            // Inside a quoted value: skip to its closing quote, past escaped ones.
            let mut escaped = false;
            for q in chars.by_ref() {
                match (escaped, q) {
                    (false, '\\') => escaped = true,
                    (false, '"') => break,
                    _ => escaped = false,
                }
            }
            out.push_str("\"…\"");
        }
        out
    }

    fn join(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    }

    /// Every key of the document: its span, its value's span and its dotted path.
    fn keys(
        table: &DeTable<'_>,
        prefix: &str,
        out: &mut Vec<(Range<usize>, Range<usize>, String)>,
    ) {
        for (k, v) in table {
            let path = join(prefix, k.get_ref());
            match v.get_ref() {
                DeValue::Table(t) => keys(t, &path, out),
                DeValue::Array(a) => {
                    for (i, item) in a.iter().enumerate() {
                        if let DeValue::Table(t) = item.get_ref() {
                            keys(t, &format!("{path}[{i}]"), out);
                        }
                    }
                }
                _ => {}
            }
            out.push((k.span(), v.span(), path));
        }
    }

    /// Dotted path of the innermost key whose name or value covers `pos`, else (a syntax error
    /// past a value) of the last key before `pos`.
    fn key_at(table: &DeTable<'_>, pos: usize) -> Option<String> {
        let mut all = Vec::new();
        keys(table, "", &mut all);
        let covering = all
            .iter()
            .filter(|(k, v, _)| k.contains(&pos) || v.contains(&pos))
            .max_by_key(|(k, _, _)| k.start);
        covering
            .or_else(|| {
                all.iter()
                    .filter(|(k, _, _)| k.start <= pos)
                    .max_by_key(|(k, _, _)| k.start)
            })
            .map(|(_, _, path)| path.clone())
    }

    /// Line of a key given as `a.b`, `pipelines[3].sla` or `aws.regions`.
    pub fn key_line(text: &str, key: &str) -> Option<usize> {
        let table = DeTable::parse(text).ok()?;
        let mut current = table.get_ref();
        let mut span = None;
        let mut segments = key.split('.').peekable();
        while let Some(seg) = segments.next() {
            let (name, index) = match seg.split_once('[') {
                Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
                None => (seg, None),
            };
            let (k, v): (&Spanned<_>, &Spanned<DeValue<'_>>) =
                current.iter().find(|(k, _)| k.get_ref() == name)?;
            span = Some(k.span());
            let v = match (index, v.get_ref()) {
                (Some(i), DeValue::Array(a)) => a.get(i)?,
                (Some(_), _) => return None,
                (None, _) => v,
            };
            if index.is_some() {
                span = Some(v.span());
            }
            match v.get_ref() {
                DeValue::Table(t) => current = t,
                _ if segments.peek().is_some() => return None,
                _ => {}
            }
        }
        span.map(|s| line_col(text, s.start).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("bridge.toml"))
    }

    #[test]
    fn accounts_are_checked_and_errors_name_the_entry_and_line() {
        let c = parse(
            "[[accounts]]\nname = \"home\"\n[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/r\"\n\
             external_id = \"ext-1\"\nregions = [\"eu-west-1\"]\nsources = [\"glue\"]\nexclude = [\"tmp-*\"]\n",
        )
        .unwrap();
        assert_eq!(c.accounts[1].role_account(), Some("222222222222"));
        assert_eq!(c.accounts[1].session_name(), DEFAULT_SESSION_NAME);
        assert!(!c.accounts[1].filter().unwrap().matches("tmp-x"));
        assert!(c.accounts[1].filter().unwrap().matches("orders"));
        let bad = |text: &str, want: &[&str]| {
            let e = parse(text).unwrap_err().to_string();
            for w in want {
                assert!(e.contains(w), "{e} lacks {w}");
            }
            e
        };
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::12:role/r\"\n",
            &["accounts[0].role_arn", "line 2", "not a role ARN"],
        );
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:user/r\"\n",
            &["accounts[0].role_arn"],
        );
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\n\
             [[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/b\"\n",
            &["accounts[1].role_arn", "already watched by accounts[0]"],
        );
        bad(
            "[[accounts]]\nname = \"a\"\n[[accounts]]\nname = \"b\"\n",
            &["accounts[1].role_arn", "ambient"],
        );
        bad(
            "[[accounts]]\nexternal_id = \"abc\"\n",
            &["accounts[0].external_id", "needs `role_arn`"],
        );
        let e = bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\nexternal_id = \"sp ace secret\"\n",
            &["accounts[0].external_id", "line 3"],
        );
        assert!(!e.contains("secret"), "the ExternalId is not quoted: {e}");
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\nsources = [\"gleu\"]\n",
            &["accounts[0].sources", "gleu", "`glue`"],
        );
        bad(
            "[[accounts]]\nregions = [\"eu-west-1\", \"eu-west-1\"]\n",
            &["accounts[0].regions", "twice"],
        );
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\nsession_name = \"x\"\n",
            &["accounts[0].session_name"],
        );
        bad(
            "[[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/a\"\ninclude = [\"[\"]\n",
            &["accounts[0].include"],
        );
        bad("[[accounts]]\nrole = \"x\"\n", &["role"]);
    }

    #[test]
    fn ownership_takes_tags_then_patterns_then_the_default() {
        let c = parse(
            "[ownership]\nteam_tags = [\"team\", \"owner\"]\nproject_tags = [\"project\"]\n\
             default_team = \"platform\"\n[[pipelines]]\nmatch = \"*\"\nteam = \"data\"\n",
        )
        .unwrap();
        let tags = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let owner = |c: &Config, t: &BTreeMap<String, String>| {
            let mut e = c.expectations().for_pipeline("glue-job", "x");
            c.ownership.apply(&mut e, t);
            (e.team, e.project)
        };
        assert_eq!(
            owner(
                &c,
                &tags(&[("owner", "b"), ("team", "a"), ("project", "p")])
            ),
            (Some("a".into()), Some("p".into()))
        );
        assert_eq!(
            owner(&c, &tags(&[("owner", "b")])),
            (Some("b".into()), None)
        );
        assert_eq!(
            owner(&c, &tags(&[("team", " ")])),
            (Some("data".into()), None)
        );
        let mut c2 = c.clone();
        c2.ownership.prefer = Some(Prefer::Config);
        assert_eq!(
            owner(&c2, &tags(&[("team", "a")])),
            (Some("data".into()), None)
        );
        c2.pipelines.clear();
        assert_eq!(owner(&c2, &tags(&[])), (Some("platform".into()), None));
        let e = parse("[ownership]\nteam_tags = [\"\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ownership.team_tags") && e.contains("line 2"),
            "{e}"
        );
        let e = parse("[ownership]\nprefer = \"both\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prefer"), "{e}");
        let e = parse("[glue]\ninclude_tags = [\"=x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("glue.include_tags"), "{e}");
        let e = parse("[emr]\nexclude_tags = [\"env=dev\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("emr.exclude_tags") && e.contains("no tags"),
            "{e}"
        );
    }

    #[test]
    fn tag_filters_include_and_exclude() {
        let f = TagFilter::new(
            &["env=prod*".into(), "critical".into()],
            &["lifecycle=retired".into()],
        )
        .unwrap();
        let t = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(f.matches(&t(&[("env", "production")])));
        assert!(f.matches(&t(&[("critical", "")])));
        assert!(!f.matches(&t(&[("env", "dev")])));
        assert!(!f.matches(&t(&[("env", "prod"), ("lifecycle", "retired")])));
        assert!(!f.matches(&t(&[])), "unknown tags do not pass an include");
        assert!(TagFilter::new(&[], &[]).unwrap().matches(&t(&[])));
    }

    #[test]
    fn tag_filters_apply_per_source_and_per_account() {
        let c = parse(
            "[glue]\nexclude_tags = [\"env=dev\"]\n[[accounts]]\nname = \"home\"\n\
             [[accounts]]\nrole_arn = \"arn:aws:iam::222222222222:role/r\"\ninclude_tags = [\"team\"]\n",
        )
        .unwrap();
        assert!(c.reads_tags());
        let mut f = c.filters().unwrap();
        f.set_accounts(
            [("222222222222".to_string(), c.accounts[1].filter().unwrap())]
                .into_iter()
                .collect(),
        );
        let t = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // The ambient account has no tag condition of its own; glue's exclude applies everywhere.
        assert!(f.tags_match("111111111111", "glue", &t(&[])));
        assert!(!f.tags_match("111111111111", "glue", &t(&[("env", "dev")])));
        assert!(f.tags_match("111111111111", "step_functions", &t(&[("env", "dev")])));
        // The role account watches only tagged pipelines.
        assert!(!f.tags_match("222222222222", "step_functions", &t(&[])));
        assert!(f.tags_match("222222222222", "step_functions", &t(&[("team", "a")])));
        assert!(!f.tags_match("222222222222", "glue", &t(&[("team", "a"), ("env", "dev")])));
        assert!(!parse("").unwrap().reads_tags());
    }

    #[test]
    fn role_arns_give_their_account() {
        assert_eq!(
            role_arn_account("arn:aws:iam::123456789012:role/path/to/r"),
            Some("123456789012")
        );
        assert_eq!(
            role_arn_account("arn:aws-cn:iam::123456789012:role/r"),
            Some("123456789012")
        );
        for bad in [
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::1234567890123:role/r",
            "arn:aws:iam::12345678901a:role/r",
            "arn:aws:sts::123456789012:assumed-role/r/s",
            "arn:aws:iam::123456789012:role/r x",
            "",
        ] {
            assert_eq!(role_arn_account(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_config_is_the_zero_config_default() {
        let c = parse("").unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert!(c.lookback >= Duration::from_secs(24 * 3600));
        assert!(c.sources().unwrap()["glue"]
            .filter()
            .unwrap()
            .matches("anything"));
    }

    #[test]
    fn a_quoted_value_with_its_own_quotes_is_cut_whole_from_messages() {
        for text in [
            "[glue]\nenabled = \"Bearer ab\\\"cdSECRET\"\n",
            "[otlp.headers]\nauthorization = [\"Bearer ab\\\"cdSECRET\"]\n",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                !err.contains("SECRET") && !err.contains("Bearer"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let err = parse("poll_interval = \"30s\"\n[glue]\nincldue = [\"a*\"]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bridge.toml"), "{err}");
        assert!(err.contains("line 3"), "{err}");
        assert!(err.contains("incldue"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = parse("poll_interval = \"soon\"").unwrap_err().to_string();
        assert!(
            err.contains("poll_interval") && err.contains("line 1"),
            "{err}"
        );
        let err = parse("[step_functions]\nexclude = [\"a[\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("step_functions.exclude") && err.contains("a["),
            "{err}"
        );
        let err = parse("[otlp]\nprotocol = \"udp\"").unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("udp"), "{err}");
    }

    #[test]
    fn deadlines_are_checked_and_errors_name_the_entry_key_and_line() {
        let c = parse(
            "[[deadlines]]\nmatch = \"orders-*\"\nby = \"06:00\"\ntime_zone = \"Europe/Berlin\"\ndays = [\"weekdays\"]\n",
        )
        .unwrap();
        let s = c.deadlines[0].schedule().unwrap();
        assert_eq!(c.deadlines[0].label(&s), "by 06:00 Europe/Berlin weekdays");
        assert_eq!(s.window(), crate::schedule::Window::DEFAULT);
        for (text, key, line, what) in [
            ("[[deadlines]]\nmatch = \"a\"\nby = \"6:00\"\n", "deadlines[0].by", 3, "HH:MM"),
            (
                "[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\n\n[[deadlines]]\nmatch = \"b\"\nby = \"07:00\"\ntime_zone = \"Europe/Berlinn\"\n",
                "deadlines[1].time_zone",
                8,
                "unknown time zone",
            ),
            ("[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\ndays = [\"mon\", \"funday\"]\n", "deadlines[0].days", 4, "funday"),
            ("[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\nwindow = \"8days\"\n", "deadlines[0].window", 4, "at most 7 days"),
            ("[[deadlines]]\nmatch = \"a[\"\nby = \"06:00\"\n", "deadlines[0].match", 2, "bad pattern"),
            ("[[deadlines]]\nmatch = \"a\"\nkind = \"emr\"\nby = \"06:00\"\n", "deadlines[0].kind", 3, "expected"),
            ("[[deadlines]]\nmatch = \"a\"\naccount = \"12345\"\nby = \"06:00\"\n", "deadlines[0].account", 3, "12-digit"),
            ("[[deadlines]]\nmatch = \"a\"\nname = \" \"\nby = \"06:00\"\n", "deadlines[0].name", 3, "1 to 200"),
            (
                "[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\n[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\n",
                "deadlines[1]",
                4,
                "same pattern and name",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{key}`")) && err.contains(&format!("line {line}")) && err.contains(what),
                "{text}: {err}"
            );
        }
        let err = parse("[[deadlines]]\nmatch = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("by"), "{err}");
        let err = parse("[[deadlines]]\nmatch = \"a\"\nby = \"06:00\"\nzone = \"UTC\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("zone") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn arrivals_are_checked_and_errors_name_the_entry_key_and_line() {
        let c = parse(
            "[[arrivals]]\nname = \"partner\"\nurl = \"s3://landing/partner/{yyyy}/{mm}/{dd}/\"\nby = \"07:00\"\nteam = \"orders\"\n",
        )
        .unwrap();
        assert_eq!(c.arrivals[0].schedule().unwrap().zone_name(), "UTC");
        let one = |rest: &str| {
            format!("[[arrivals]]\nname = \"a\"\nurl = \"s3://landing/x/\"\nby = \"07:00\"\n{rest}")
        };
        for (text, key, line, what) in [
            (
                one("").replace("s3://landing/x/", "https://landing/x/"),
                "arrivals[0].url",
                3,
                "s3://",
            ),
            (
                one("").replace("s3://landing/x/", "s3://Landing/x/"),
                "arrivals[0].url",
                3,
                "not allowed",
            ),
            (
                one("").replace("s3://landing/x/", "s3://landing/{yyy}/"),
                "arrivals[0].url",
                3,
                "unknown placeholder",
            ),
            (one("").replace("07:00", "7"), "arrivals[0].by", 4, "HH:MM"),
            (
                one("time_zone = \"Mars/Olympus\"\n"),
                "arrivals[0].time_zone",
                5,
                "unknown time zone",
            ),
            (
                one("window = \"0s\"\n"),
                "arrivals[0].window",
                5,
                "more than 0",
            ),
            (
                one("account = \"abc\"\n"),
                "arrivals[0].account",
                5,
                "12-digit",
            ),
            (one("region = \" \"\n"), "arrivals[0].region", 5, "empty"),
            (
                format!("{}{}", one(""), one("")),
                "arrivals[1].name",
                6,
                "already the name of arrivals[0]",
            ),
        ] {
            let err = parse(&text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("`{key}`"))
                    && err.contains(&format!("line {line}"))
                    && err.contains(what),
                "{text}: {err}"
            );
        }
        let err = parse("[[arrivals]]\nname = \"a\"\nby = \"07:00\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("url"), "{err}");
    }

    #[test]
    fn filters_include_and_exclude() {
        let c = parse("[glue]\ninclude = [\"orders-*\", \"customers-*\"]\nexclude = [\"*-test\"]")
            .unwrap();
        let f = c.sources().unwrap()["glue"].filter().unwrap();
        assert!(f.matches("orders-etl"));
        assert!(!f.matches("orders-test"));
        assert!(!f.matches("clickstream"));
    }

    #[test]
    fn pipeline_settings_first_match_per_field() {
        let c = parse(
            "[[pipelines]]\nmatch = \"orders-*\"\nsla = \"30m\"\nteam = \"orders\"\n\
             [[pipelines]]\nmatch = \"*\"\nkind = \"glue-job\"\nsla = \"2h\"\nmax_success_interval = \"26h\"\n",
        )
        .unwrap();
        let r = c.expectations();
        let e = r.for_pipeline("glue-job", "orders-etl");
        assert_eq!(e.sla, Some(Duration::from_secs(1800)));
        assert_eq!(e.max_success_interval, Some(Duration::from_secs(26 * 3600)));
        assert_eq!(e.team.as_deref(), Some("orders"));
        let e = r.for_pipeline("sfn", "customer-sync");
        assert_eq!(e, Expectations::default());
        let err = parse("[[pipelines]]\nmatch = \"a\"\nkind = \"emr\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pipelines[0].kind"), "{err}");
        let err = parse("[[pipelines]]\nmatch = \"a\"\nsal = \"1h\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sal") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn failure_severity_is_one_of_three_and_first_match_wins() {
        let c = parse(
            "[[pipelines]]\nmatch = \"orders-*\"\nfailure_severity = \"critical\"\n\
             [[pipelines]]\nmatch = \"*\"\nteam = \"data\"\nfailure_severity = \"info\"\n",
        )
        .unwrap();
        let r = c.expectations();
        let e = r.for_pipeline("glue-job", "orders-etl");
        assert_eq!(e.failure_severity, Some(FailureSeverity::Critical));
        assert_eq!(e.team.as_deref(), Some("data"));
        let e = r.for_pipeline("sfn", "other");
        assert_eq!(e.failure_severity, Some(FailureSeverity::Info));
        assert_eq!(FailureSeverity::Warning.as_str(), "warning");
        let c = parse("[[pipelines]]\nmatch = \"*\"\nteam = \"data\"\n").unwrap();
        assert_eq!(
            c.expectations().for_pipeline("sfn", "x").failure_severity,
            None
        );

        let err = parse(
            "[[pipelines]]\nmatch = \"a\"\n\n[[pipelines]]\nmatch = \"b\"\nfailure_severity = \"page\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("bridge.toml")
                && err.contains("line 6")
                && err.contains("`pipelines[1].failure_severity`")
                && err.contains("`info`, `warning`, `critical`"),
            "{err}"
        );
        let err = parse("[[pipelines]]\nmatch = \"a\"\nfailure_severity = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("pipelines[0].failure_severity"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_never_show_a_header_value() {
        for text in [
            // type error on a header value
            "[otlp.headers]\nauthorization = [\"Bearer s3cr3t\"]\n",
            // unterminated string
            "[otlp.headers]\nauthorization = \"Bearer s3cr3t\nx = 1\n",
            // bad syntax right after the secret
            "[otlp.headers]\nauthorization = \"Bearer s3cr3t\" x\n",
            // the whole table of the wrong type
            "[otlp]\nheaders = \"Bearer s3cr3t\"\n",
            "otlp = { headers = { authorization = [\"Bearer s3cr3t\"] } }\n",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{text:?}: {err}");
            assert!(err.contains("expected"), "the message is kept: {err}");
            assert!(err.contains("bridge.toml") && err.contains("otlp"), "{err}");
            assert!(err.contains("line 2") || err.contains("line 1"), "{err}");
        }
        let err = parse("[otlp.headers]\nauthorization = [\"Bearer s3cr3t\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("`otlp.headers.authorization`"),
            "{err}"
        );
    }

    #[test]
    fn validation_errors_name_the_line() {
        let err = parse("poll_interval = \"30s\"\nlookback = \"400days\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bridge.toml") && err.contains("line 2") && err.contains("`lookback`"),
            "{err}"
        );
        let err =
            parse("[[pipelines]]\nmatch = \"a\"\n\n[[pipelines]]\nmatch = \"b\"\nsla = \"0s\"\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("line 6") && err.contains("`pipelines[1].sla`"),
            "{err}"
        );
        let err = parse("[otlp]\ntimeout = \"1h\"\n").unwrap_err().to_string();
        assert!(
            err.contains("line 2") && err.contains("`otlp.timeout`"),
            "{err}"
        );
    }

    #[test]
    fn duration_errors_show_the_format() {
        for text in [
            "poll_interval = \"soon\"",
            "[otlp]\ntimeout = \"5 parsecs\"",
            "[[pipelines]]\nmatch = \"a\"\nsla = 30",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(r#"like "90s", "15m", "2h""#), "{err}");
        }
    }

    #[test]
    fn absurd_durations_are_rejected_not_overflowed() {
        for (text, key) in [
            ("rescan_window = \"200000000y\"", "rescan_window"),
            ("rescan_window = \"31days\"", "rescan_window"),
            ("poll_interval = \"200000000y\"", "poll_interval"),
            ("poll_interval = \"25h\"", "poll_interval"),
            ("discovery_interval = \"200000000y\"", "discovery_interval"),
            ("lookback = \"200000000y\"", "lookback"),
            ("[otlp]\ntimeout = \"11m\"", "otlp.timeout"),
            (
                "[[pipelines]]\nmatch = \"a\"\nsla = \"367days\"",
                "pipelines[0].sla",
            ),
            (
                "[[pipelines]]\nmatch = \"a\"\nmax_success_interval = \"200000000y\"",
                "pipelines[0].max_success_interval",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(&format!("`{key}`")), "{text}: {err}");
            assert!(err.contains("at most"), "{text}: {err}");
        }
        // The maxima themselves are allowed.
        parse(
            "poll_interval = \"1day\"\nlookback = \"365days\"\nrescan_window = \"30days\"\n\
             discovery_interval = \"1day\"\n[otlp]\ntimeout = \"10m\"\n\
             [[pipelines]]\nmatch = \"a\"\nsla = \"366days\"\nmax_success_interval = \"366days\"\n",
        )
        .unwrap();
    }

    #[test]
    fn command_line_durations_are_bounded() {
        let since = |s| parse_duration_at_most(s, limits::SINCE);
        assert_eq!(since("7days"), Ok(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(since("365days"), Ok(limits::SINCE));
        let e = since("292271030y").unwrap_err();
        assert!(e.contains("at most 365 days"), "{e}");
        let e = since("soon").unwrap_err();
        assert!(e.contains(r#""90s""#), "{e}");
    }

    #[test]
    fn regions_must_be_unique_and_non_empty() {
        let err = parse("[aws]\nregions = [\"eu-west-1\", \"us-east-1\", \"eu-west-1\"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`aws.regions`") && err.contains("eu-west-1") && err.contains("line 2"),
            "{err}"
        );
        let err = parse("[aws]\nregions = [\"eu-west-1\", \" \"]")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`aws.regions`") && err.contains("empty"),
            "{err}"
        );
        let c = parse("[aws]\nregions = [\"eu-west-1\", \"us-east-1\"]").unwrap();
        assert_eq!(c.aws.regions.len(), 2);
    }

    #[test]
    fn read_error_names_its_cause_once() {
        let err = Config::load(Path::new("/nonexistent/bridge.toml")).unwrap_err();
        let shown = format!("{:#}", anyhow::Error::from(err));
        assert!(shown.contains("/nonexistent/bridge.toml"), "{shown}");
        assert_eq!(
            shown.matches("No such file or directory").count(),
            1,
            "{shown}"
        );
    }

    #[test]
    fn many_pipeline_entries_keep_first_match_per_field() {
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!(
                "[[pipelines]]\nmatch = \"team{i}-*\"\nteam = \"t{i}\"\n"
            ));
        }
        text.push_str(
            "[[pipelines]]\nmatch = \"team19999-x\"\nproject = \"p-exact\"\nteam = \"never\"\n",
        );
        text.push_str("[[pipelines]]\nmatch = \"team1*\"\nkind = \"sfn\"\nsla = \"5m\"\n");
        text.push_str("[[pipelines]]\nmatch = \"*\"\nsla = \"2h\"\nproject = \"default\"\n");
        let r = parse(&text).unwrap().expectations();
        let e = r.for_pipeline("glue-job", "team19999-x");
        assert_eq!(e.team.as_deref(), Some("t19999"));
        assert_eq!(e.project.as_deref(), Some("p-exact"));
        assert_eq!(e.sla, Some(Duration::from_secs(7200)));
        let e = r.for_pipeline("sfn", "team12-etl");
        assert_eq!(e.team.as_deref(), Some("t12"));
        assert_eq!(e.sla, Some(Duration::from_secs(300)));
        assert_eq!(e.project.as_deref(), Some("default"));
        let e = r.for_pipeline("sfn", "other");
        assert_eq!(e.team, None);
        assert_eq!(e.sla, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn aws_timeouts_are_bounded_and_default() {
        let c = parse("").unwrap();
        assert_eq!(
            c.aws.timeouts(),
            (
                DEFAULT_AWS_CONNECT_TIMEOUT,
                DEFAULT_AWS_READ_TIMEOUT,
                DEFAULT_AWS_OPERATION_TIMEOUT
            )
        );
        let err = parse("[aws]\nread_timeout = \"0s\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("aws.read_timeout") && err.contains("more than 0s"),
            "{err}"
        );
        let err = parse("[aws]\n\noperation_timeout = \"11m\"")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("aws.operation_timeout") && err.contains("line 3") && err.contains("10m"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let c = parse("[otlp]\nendpoint = \"http://u:s3cr3tpw@c:4317\"\n[otlp.headers]\nx-api-key = \"hunter2\"").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!format!("{c:?}").contains("s3cr3tpw"), "{c:?}");
        assert_eq!(c.otlp.headers["x-api-key"].expose(), "hunter2");
    }
}
