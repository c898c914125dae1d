//! The subcommands, as library functions so tests can drive them.

use crate::aws::{ApiCounts, ApiObserver};
use crate::config::Config;
use crate::export::{self, Signal};
use crate::ids::RunKey;
use crate::model::{PipelineKind, PipelineRun};
use crate::poller::{self, Poller};
use crate::records::Millis;
use crate::render::render_run;
use crate::state::{Checkpoint, LocalStore, OpenedStore, StoreOrigin};
use crate::telemetry::Telemetry;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Loads the config file, or the zero-config default.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(match path {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    })
}

/// Default state directory: `$XDG_STATE_HOME/pipeline-otel-bridge`, else
/// `~/.local/state/pipeline-otel-bridge`, else `./.pipeline-otel-bridge`.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("pipeline-otel-bridge");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(h).join(".local/state/pipeline-otel-bridge");
    }
    PathBuf::from(".pipeline-otel-bridge")
}

/// Options of `run`.
pub struct RunOptions {
    /// Stop after this many cycles (`--once` is 1); `None` runs until a signal.
    pub cycles: Option<u64>,
    pub state_dir: PathBuf,
    /// Print each exported run as a tree on stdout.
    pub print: bool,
    /// Serve `/metrics`, `/healthz`, `/readyz` here.
    pub listen: Option<std::net::SocketAddr>,
    /// If the checkpoint store is damaged, move it aside and start over from the lookback.
    pub recover_state: bool,
}

/// Opens the checkpoint store, saying loudly when its checkpoints were lost (everything inside
/// the lookback is exported again) and, with `recover`, moving a damaged store aside.
pub fn open_store(dir: &Path, recover: bool) -> anyhow::Result<OpenedStore> {
    let opened = match LocalStore::open_checked(dir) {
        Ok(o) => o,
        Err(e) if recover && e.message.contains("damaged") => {
            let moved = LocalStore::move_aside(dir)?;
            tracing::warn!(
                error = %e,
                moved_to = %moved.display(),
                "checkpoint store damaged: moved aside; starting over from the lookback"
            );
            LocalStore::open_checked(dir)?
        }
        Err(e) => return Err(e.into()),
    };
    match &opened.origin {
        StoreOrigin::Lost(why) => tracing::warn!(
            store = %LocalStore::file(dir).display(),
            "CHECKPOINTS LOST: {why}; starting over: every run inside the lookback is read and \
             exported again (same trace ids, so traces are not duplicated in a backend that \
             deduplicates by id; run counters count them again)"
        ),
        StoreOrigin::New => tracing::info!(
            store = %LocalStore::file(dir).display(),
            "new checkpoint store: first start, reading back the lookback"
        ),
        StoreOrigin::Existing => {}
    }
    Ok(opened)
}

/// This bridge's `service.instance.id`: kept in `instance-id` in the state directory, so it
/// survives restarts and re-created containers (the state is a volume) and differs between two
/// bridges (each has its own state). Made on first start from the host, the directory, the
/// clock and the process id; if the file cannot be written, derived from the host and the
/// directory alone.
pub fn instance_id(state_dir: &Path) -> String {
    let file = state_dir.join("instance-id");
    let valid = |s: &str| s.len() == 36 && s.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    if let Ok(s) = std::fs::read_to_string(&file) {
        if valid(s.trim()) {
            return s.trim().to_string();
        }
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let dir = dir.to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let fresh = crate::export::instance_id(&host, &format!("{dir}|{nanos}|{}", std::process::id()));
    let tmp = state_dir.join("instance-id.tmp");
    match std::fs::write(&tmp, format!("{fresh}\n")).and_then(|()| std::fs::rename(&tmp, &file)) {
        Ok(()) => fresh,
        Err(e) => {
            tracing::warn!(error = %e, file = %file.display(), "cannot keep the instance id; deriving it from the host and the state directory");
            crate::export::instance_id(&host, &dir)
        }
    }
}

/// `run`: the daemon. Returns the exit status of the last cycle ([`poller::CycleReport::exit_code`]);
/// 0 when stopped by a signal before any cycle.
pub async fn run(
    cfg: Config,
    opts: RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<u8> {
    // The store first: a damaged one fails fast, before any AWS call. Then the instance id
    // kept beside it, on every resource built afterwards.
    let opened = open_store(&opts.state_dir, opts.recover_state)?;
    crate::export::set_service_instance(instance_id(&opts.state_dir));
    let telemetry = Telemetry::new(crate::export::base_resource());
    let counts = Arc::new(ApiCounts::default());
    let t2 = telemetry.clone();
    let c2 = counts.clone();
    let observers = move |account: &str, region: &str| -> Vec<Arc<dyn ApiObserver>> {
        vec![c2.clone(), t2.api_observer(account, region)]
    };
    let estate = poller::connect(&cfg, &observers).await?;
    poller::require_accounts(&estate.sources)?;
    let account_filters = estate.account_filters();
    let arrival_accounts: Vec<_> = (estate.accounts.iter())
        .map(|a| (a.id.clone(), a.regions.clone()))
        .collect();
    let arrivals = crate::arrivals::Arrivals::connect(&cfg, &arrival_accounts)?;
    let mut poller = Poller::new(
        cfg,
        estate.sources,
        Box::new(opened.store),
        opened.checkpoints,
        telemetry.clone(),
        counts,
    )?
    .with_account_filters(account_filters)
    .with_arrivals(arrivals);
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    if let Some(addr) = opts.listen {
        let bound = crate::serve::spawn(addr, telemetry.clone(), ready.clone()).await?;
        tracing::info!(%bound, "serving /metrics, /healthz, /readyz");
    }
    let print = opts.print;
    let show = |report: &poller::CycleReport| {
        if !print {
            return;
        }
        for r in &report.exported {
            println!("{}", render_run(r));
        }
        // Runs that were not acknowledged are not printed as if exported: one line says how
        // many wait, and why.
        if !report.not_exported.is_empty() {
            let why = report
                .trace_export_error
                .as_deref()
                .or(report.commit_error.as_deref())
                .unwrap_or("not acknowledged");
            println!(
                "! {} finished run(s) not exported yet (pending, retried next cycle): {}",
                report.not_exported.len(),
                crate::sanitize::Escaped(why)
            );
        }
    };
    let mut last_code = 0u8;
    poller
        .run(shutdown, opts.cycles, |r| {
            show(r);
            last_code = r.exit_code();
            if r.trace_export_error.is_none() {
                ready.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .await;
    if print {
        println!("AWS API calls: {}", poller.api_summary());
    }
    telemetry.shutdown();
    Ok(last_code)
}

/// `runs`: reads the runs of the last `since` straight from AWS and renders them as trees.
/// Changes no checkpoint and exports nothing.
pub async fn runs(cfg: Config, since: Duration) -> anyhow::Result<(Vec<PipelineRun>, Vec<String>)> {
    let counts = Arc::new(ApiCounts::default());
    let c2 = counts.clone();
    let observers = move |_: &str, _: &str| -> Vec<Arc<dyn ApiObserver>> { vec![c2.clone()] };
    let estate = poller::connect(&cfg, &observers).await?;
    let mut filters = cfg.filters()?;
    filters.set_accounts(estate.account_filters());
    let sources = estate.sources;
    let now = Millis::now();
    let since_ms = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    let cutoff = Millis(now.0.saturating_sub(since_ms));
    let mut runs = Vec::new();
    let mut errors = Vec::new();
    for src in &sources {
        let mut d = poller::Discovery::default();
        if let Err(e) = poller::discover(src.as_ref(), &mut d).await {
            errors.push(e.to_string());
        }
        for p in poller::targets(&filters, src.as_ref(), &d) {
            match poller::scan(src.as_ref(), &p, &Checkpoint::default(), cutoff, now, None).await {
                Ok(s) => {
                    runs.extend(s.finished);
                    runs.extend(s.in_flight);
                    errors.extend(s.errors.iter().map(|e| e.to_string()));
                }
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    runs.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.run_id.cmp(&b.run_id)));
    Ok((runs, errors))
}

/// `check`: one line per account and region (its identity, through its role if it has one:
/// `ok`, or the AWS error and what to fix), then one per source in it (`ok` or the AWS error),
/// then the exporters. Returns whether all passed.
pub async fn check(cfg: Config) -> anyhow::Result<(Vec<String>, bool)> {
    let counts = Arc::new(ApiCounts::default());
    let c2 = counts.clone();
    let observers = move |_: &str, _: &str| -> Vec<Arc<dyn ApiObserver>> { vec![c2.clone()] };
    let estate = poller::connect(&cfg, &observers).await?;
    let mut lines = Vec::new();
    let mut all_ok = true;
    for account in &estate.accounts {
        for (region, sdk, counter) in &account.regions {
            let how = match &account.role_arn {
                Some(arn) => format!(
                    "role {}{}",
                    crate::sanitize::Escaped(arn),
                    if account.external_id {
                        " with ExternalId"
                    } else {
                        ""
                    }
                ),
                None => "ambient credentials".to_string(),
            };
            let sts = aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(sdk)
                    .interceptor(counter.clone())
                    .build(),
            );
            let who = format!("{:<17} {} region {region}", "account", account.label());
            match sts.get_caller_identity().send().await {
                Ok(id) if account.role_arn.is_some() && id.account() != Some(&account.id) => {
                    all_ok = false;
                    lines.push(format!(
                        "FAIL  {who}: {how} answers as account {} (is the ARN right?)",
                        crate::sanitize::Escaped(id.account().unwrap_or("?"))
                    ));
                    continue;
                }
                Ok(_) => lines.push(format!("ok    {who}: {how}")),
                Err(e) => {
                    all_ok = false;
                    let e = crate::aws::AwsError::from_sdk("sts", "GetCallerIdentity", region, e);
                    lines.push(format!("FAIL  {who}: {how}: {e}"));
                    // Its sources would fail the same way: not probed.
                    continue;
                }
            }
            for src in estate
                .sources
                .iter()
                .filter(|s| s.account() == account.id && s.region() == region)
            {
                let name = src.spec().key;
                match src.probe().await {
                    Ok(()) => lines.push(format!(
                        "ok    {name:<17} account {} region {region}",
                        account.id
                    )),
                    Err(e) => {
                        all_ok = false;
                        lines.push(format!(
                            "FAIL  {name:<17} account {} region {region}: {e}",
                            account.id
                        ));
                    }
                }
            }
        }
    }
    // The exporters are only built, not connected: a collector may legitimately be down now.
    for signal in [Signal::Traces, Signal::Metrics] {
        let built = match signal {
            Signal::Traces => export::TraceSender::new(&cfg.otlp).map(|_| ()),
            Signal::Metrics => export::MetricSender::new(&cfg.otlp).map(|_| ()),
        };
        let proto = export::protocol(&cfg.otlp, signal)
            .map(|p| match p {
                crate::config::Protocol::Grpc => "grpc",
                crate::config::Protocol::HttpProtobuf => "http/protobuf",
            })
            .unwrap_or("?");
        let name = format!("otlp {}", signal.as_str());
        match built {
            Ok(()) => lines.push(format!(
                "ok    {name:<17} {proto} → {} (configured; not contacted)",
                export::endpoint_for_display(&cfg.otlp, signal)
            )),
            Err(e) => {
                all_ok = false;
                lines.push(format!("FAIL  {name:<17} {e}"));
            }
        }
    }
    Ok((lines, all_ok))
}

/// Which document `iam-policy` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyFor {
    /// The read-only policy of the watched accounts (the role in each, or the ambient
    /// identity): every watched account's sources, or only those of the account named.
    Watched(Option<String>),
    /// The policy of the identity the bridge runs as: `sts:AssumeRole` on the configured roles,
    /// and the read-only actions when the ambient account is watched too.
    Bridge,
    /// The trust policy of the named account's role: `principal` may assume it, with its
    /// ExternalId as a condition when one is configured.
    Trust { account: String, principal: String },
}

/// The `[[accounts]]` entry named `which` (by `name` or account id).
fn account_entry<'a>(
    entries: &'a [crate::config::AccountConfig],
    which: &str,
) -> anyhow::Result<&'a crate::config::AccountConfig> {
    entries
        .iter()
        .find(|a| a.name.as_deref() == Some(which) || a.role_account() == Some(which))
        .ok_or_else(|| {
            let known: Vec<String> = entries
                .iter()
                .filter_map(|a| {
                    a.name
                        .clone()
                        .or_else(|| a.role_account().map(str::to_string))
                })
                .collect();
            anyhow::anyhow!(
                "no account `{}` in the config's [[accounts]] (known: {})",
                crate::sanitize::Escaped(which),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    crate::sanitize::escape(&known.join(", ")).into_owned()
                }
            )
        })
}

/// `iam-policy`: the policy `what` asks for, as JSON `aws iam create-policy` (or, for a trust
/// policy, `aws iam create-role --assume-role-policy-document`) accepts. The read-only actions
/// are the enabled sources' declarations ([`crate::sources::SourceSpec::iam_actions`], checked
/// against the code's calls by `tests/iam_policy.rs`) and `sts:GetCallerIdentity`, on every
/// resource (the List calls accept no narrower one); `sts:AssumeRole` is on the configured
/// role ARNs only.
pub fn iam_policy(cfg: &Config, what: &PolicyFor) -> anyhow::Result<String> {
    let enabled = cfg
        .sources()
        .map_err(|(key, why)| anyhow::anyhow!("config key `{key}`: {why}"))?;
    let specs_for = |only: &[String]| -> Vec<&'static crate::sources::SourceSpec> {
        crate::sources::ALL
            .iter()
            .copied()
            .filter(|s| enabled.get(s.key).is_some_and(|c| c.enabled))
            .filter(|s| only.is_empty() || only.iter().any(|k| k == s.key))
            .collect()
    };
    let tags = cfg.reads_tags();
    let read = |specs: &[&'static crate::sources::SourceSpec]| {
        let mut actions = crate::sources::iam_actions(specs);
        if tags {
            // The config reads resource tags (owners, tag filters): each source's tag call.
            actions.extend(specs.iter().flat_map(|s| s.tag_actions.iter().copied()));
            actions.sort_unstable();
            actions.dedup();
        }
        serde_json::json!({
            "Sid": "PipelineOtelBridgeReadOnly",
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        })
    };
    let entries = &cfg.accounts;
    // `[[arrivals]]` listed with an entry's credentials: its account, or (without `account`)
    // the first entry's (`None`: no `[[accounts]]`, the ambient credentials).
    let arrivals_of = |entry: Option<usize>| -> Vec<&crate::config::ArrivalSettings> {
        cfg.arrivals
            .iter()
            .filter(|a| match (entry, &a.account) {
                (None, _) => true,
                (Some(i), Some(id)) => entries[i].role_account() == Some(id.as_str()),
                (Some(i), None) => i == 0,
            })
            .collect()
    };
    let with_arrivals = |mut st: Vec<serde_json::Value>,
                         arrivals: &[&crate::config::ArrivalSettings]| {
        let buckets: std::collections::BTreeSet<String> = arrivals
            .iter()
            .filter_map(|a| {
                let (bucket, _) = crate::schedule::parse_s3_url(&a.url).ok()?;
                let region = a
                    .region
                    .as_deref()
                    .or(cfg.aws.regions.first().map(String::as_str));
                let part = crate::model::partition(region.unwrap_or(""));
                Some(format!("arn:{part}:s3:::{bucket}"))
            })
            .collect();
        if !buckets.is_empty() {
            st.push(serde_json::json!({
                "Sid": "PipelineOtelBridgeArrivals",
                "Effect": "Allow",
                "Action": crate::arrivals::IAM_ACTION,
                "Resource": buckets,
            }));
        }
        st
    };
    let statements = match what {
        PolicyFor::Watched(None) => {
            // Every watched account's sources (an entry without `sources` has them all).
            let mut specs: Vec<&'static crate::sources::SourceSpec> = Vec::new();
            if entries.is_empty() {
                specs = specs_for(&[]);
            }
            for a in entries {
                for s in specs_for(&a.sources) {
                    if !specs.iter().any(|x| x.key == s.key) {
                        specs.push(s);
                    }
                }
            }
            with_arrivals(vec![read(&specs)], &arrivals_of(None))
        }
        PolicyFor::Watched(Some(which)) => {
            let a = account_entry(entries, which)?;
            let i = entries.iter().position(|e| std::ptr::eq(e, a));
            with_arrivals(vec![read(&specs_for(&a.sources))], &arrivals_of(i))
        }
        PolicyFor::Bridge => {
            let roles: Vec<&str> = entries
                .iter()
                .filter_map(|a| a.role_arn.as_deref())
                .collect();
            let mut st = Vec::new();
            if let Some(i) = entries.iter().position(|a| a.role_arn.is_none()) {
                st.push(read(&specs_for(&entries[i].sources)));
                st = with_arrivals(st, &arrivals_of(Some(i)));
            } else if entries.is_empty() {
                st.push(read(&specs_for(&[])));
                st = with_arrivals(st, &arrivals_of(None));
            }
            if !roles.is_empty() {
                st.push(serde_json::json!({
                    "Sid": "PipelineOtelBridgeAssumeWatchedRoles",
                    "Effect": "Allow",
                    "Action": crate::aws::credentials::IAM_ACTION,
                    "Resource": roles,
                }));
            }
            st
        }
        PolicyFor::Trust { account, principal } => {
            let a = account_entry(entries, account)?;
            if a.role_arn.is_none() {
                anyhow::bail!(
                    "account `{}` is watched with the ambient credentials: it has no role to trust anyone",
                    crate::sanitize::Escaped(account)
                );
            }
            if !principal_ok(principal) {
                anyhow::bail!(
                    "--principal `{}` is not an IAM principal ARN (arn:aws:iam::123456789012:role/NAME, \
                     …:user/NAME or …:root): give the role or user the bridge runs as (`aws sts \
                     get-caller-identity` shows an assumed-role ARN; use its role's ARN)",
                    crate::sanitize::Escaped(principal)
                );
            }
            let mut st = serde_json::json!({
                "Sid": "PipelineOtelBridgeAssumeRole",
                "Effect": "Allow",
                "Principal": { "AWS": principal },
                "Action": crate::aws::credentials::IAM_ACTION,
            });
            if let Some(id) = &a.external_id {
                st["Condition"] = serde_json::json!({
                    "StringEquals": { "sts:ExternalId": id.expose() }
                });
            }
            vec![st]
        }
    };
    if statements.is_empty() {
        anyhow::bail!(
            "every account is watched through a role: the bridge's identity needs no read \
             permission and there is no role to assume"
        );
    }
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": statements,
    });
    Ok(serde_json::to_string_pretty(&policy)?)
}

/// Whether `arn` can be a trust policy's AWS principal: a role, a user or an account root.
fn principal_ok(arn: &str) -> bool {
    let Some(rest) = ["arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"]
        .iter()
        .find_map(|p| arn.strip_prefix(p))
    else {
        return false;
    };
    let Some((account, what)) = rest.split_once(':') else {
        return false;
    };
    account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (what == "root"
            || ["role/", "user/"].iter().any(|p| {
                what.strip_prefix(p).is_some_and(|n| {
                    !n.is_empty()
                        && n.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
                })
            }))
}

/// `trace-id`: the trace id and root span id of a run.
pub fn trace_id(
    kind: PipelineKind,
    account: &str,
    region: &str,
    pipeline: &str,
    run_id: &str,
    attempt: u32,
) -> String {
    let k = RunKey::new(kind, account, region, pipeline, run_id, attempt);
    format!(
        "trace_id {}\nroot_span_id {}\nkey {}",
        k.trace_id(),
        k.root_span_id(),
        k.as_str()
    )
}

#[cfg(test)]
mod instance_tests {
    #[test]
    fn the_instance_id_is_kept_with_the_state_and_differs_between_states() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let id = super::instance_id(a.path());
        assert_eq!(id.len(), 36);
        assert_eq!(super::instance_id(a.path()), id, "kept across restarts");
        assert_ne!(
            super::instance_id(b.path()),
            id,
            "another bridge, another id"
        );
        // A damaged file is replaced, not trusted.
        std::fs::write(a.path().join("instance-id"), "garbage").unwrap();
        let new = super::instance_id(a.path());
        assert_ne!(new, "garbage");
        assert_eq!(new.len(), 36);
        // Nowhere to keep it: derived from the host and the directory, the same each time.
        let missing = a.path().join("no/such/dir");
        assert_eq!(super::instance_id(&missing), super::instance_id(&missing));
    }
}
