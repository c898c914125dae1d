//! S3 arrival expectations (`[[arrivals]]`, docs/deadlines.md): "an object under
//! `s3://bucket/prefix/{yyyy}/{mm}/{dd}/` by 07:00 UTC daily". Per cycle each arrival lists the
//! prefix of its next deadline's date until an object that arrived in the deadline's window is
//! found (then no more calls for that date), and the prefix of its previous deadline's date
//! while that one is missed and nothing arrived late. Listing stops at the first object in the
//! window, and at [`MAX_PAGES`] pages of 1000 keys.
//!
//! An object's arrival time is its `LastModified` (the end of its upload).

use crate::aws::{AwsError, CallCounter};
use crate::config::Config;
use crate::records::Millis;
use crate::sanitize::Escaped;
use crate::schedule::{expand_prefix, Schedule};
use jiff::civil::Date;
use std::collections::{HashMap, HashSet};
use tracing::warn;

/// Pages of one listing (1000 keys each) before giving up on finding an object in the window.
pub const MAX_PAGES: usize = 10;
/// The IAM action `ListObjectsV2` needs, on the bucket (`iam-policy` prints it for every
/// configured bucket).
pub const IAM_ACTION: &str = "s3:ListBucket";
/// The component of `cicd.system.errors` for failed S3 calls.
pub const COMPONENT: &str = "s3";

/// A watched account's id and, per region, its AWS configuration and call counter
/// ([`crate::poller::Account::regions`]).
pub type AccountConfigs = (String, Vec<(String, aws_config::SdkConfig, CallCounter)>);

/// One configured arrival, connected.
pub struct Arrival {
    pub name: String,
    pub bucket: String,
    template: String,
    pub account: String,
    pub region: String,
    pub team: Option<String>,
    pub project: Option<String>,
    pub schedule: Schedule,
    client: aws_sdk_s3::Client,
}

/// What was seen under one date's prefix.
#[derive(Debug, Clone, Copy, Default)]
struct DaySeen {
    /// The first object found in the deadline's window (then the date is not listed again).
    in_window: Option<Millis>,
    /// The newest `LastModified` seen under the prefix.
    newest: Option<Millis>,
}

/// Where one arrival stands, for the metrics.
#[derive(Debug, Clone)]
pub struct ArrivalReport {
    pub name: String,
    pub bucket: String,
    pub account: String,
    pub region: String,
    pub team: Option<String>,
    pub project: Option<String>,
    /// The previous deadline's state (`met`, `missed`, `late`), if there is one.
    pub previous: Option<&'static str>,
    /// The next deadline's state (`met`, `pending`) and instant.
    pub next: &'static str,
    pub next_deadline: Millis,
    /// The newest `LastModified` seen under the previous or next date's prefix.
    pub last_arrival: Option<Millis>,
    /// The previous deadline was missed and this is the first report saying so.
    pub newly_missed: bool,
}

/// Every arrival and what was seen of it.
#[derive(Default)]
pub struct Arrivals {
    arrivals: Vec<Arrival>,
    seen: HashMap<(usize, Date), DaySeen>,
    counted: HashSet<(usize, i64)>,
}

impl Arrivals {
    /// Connects the config's arrivals with the accounts' AWS configurations: `(account id,
    /// [(region, SdkConfig, CallCounter)])` in config order. The error names the entry whose
    /// account or region is not watched.
    pub fn connect(cfg: &Config, accounts: &[AccountConfigs]) -> anyhow::Result<Arrivals> {
        let mut arrivals = Vec::new();
        for (i, a) in cfg.arrivals.iter().enumerate() {
            let (bucket, template) = crate::schedule::parse_s3_url(&a.url)
                .map_err(|e| anyhow::anyhow!("arrivals[{i}].url: {}", Escaped(&e)))?;
            let schedule = a
                .schedule()
                .map_err(|(k, e)| anyhow::anyhow!("arrivals[{i}].{k}: {}", Escaped(&e)))?;
            let (account, regions) = match &a.account {
                Some(id) => accounts.iter().find(|(a, _)| a == id).ok_or_else(|| {
                    anyhow::anyhow!(
                        "arrivals[{i}].account: {} is not a watched account",
                        Escaped(id)
                    )
                })?,
                None => accounts
                    .first()
                    .ok_or_else(|| anyhow::anyhow!("arrivals[{i}]: no account is watched"))?,
            };
            let (region, sdk, counter) = match &a.region {
                Some(r) => regions.iter().find(|(x, _, _)| x == r).ok_or_else(|| {
                    anyhow::anyhow!(
                        "arrivals[{i}].region: {} is not a region watched in account {}",
                        Escaped(r),
                        Escaped(account)
                    )
                })?,
                None => regions.first().ok_or_else(|| {
                    anyhow::anyhow!("arrivals[{i}]: account {} has no region", Escaped(account))
                })?,
            };
            let client = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .interceptor(counter.clone())
                    // Bucket names with dots and S3-compatible endpoints (moto) need paths.
                    .force_path_style(true)
                    .build(),
            );
            arrivals.push(Arrival {
                name: a.name.clone(),
                bucket,
                template,
                account: account.clone(),
                region: region.clone(),
                team: a.team.clone(),
                project: a.project.clone(),
                schedule,
                client,
            });
        }
        Ok(Arrivals {
            arrivals,
            ..Default::default()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    /// Lists what is due at `now` and reports every arrival. `on_error(arrival, error)` sees
    /// each failed call (the cycle goes on).
    pub async fn check(
        &mut self,
        now: Millis,
        mut on_error: impl FnMut(&Arrival, &AwsError),
    ) -> Vec<ArrivalReport> {
        let mut out = Vec::new();
        let oldest = now.0.saturating_sub(crate::deadlines::KEEP_MS);
        for i in 0..self.arrivals.len() {
            let a = &self.arrivals[i];
            let Some(ev) = crate::schedule::evaluate(&a.schedule, now, &[]) else {
                continue;
            };
            let window = a.schedule.window().as_millis();
            let mut periods = vec![(ev.next.date, ev.next.deadline, false)];
            if let Some(p) = ev.previous {
                periods.push((p.date, p.deadline, true));
            }
            for &(date, deadline, passed) in &periods {
                let seen = self.seen.get(&(i, date)).copied().unwrap_or_default();
                let late = seen.newest.is_some_and(|n| n.0 > deadline.0);
                if seen.in_window.is_some() || (passed && late) {
                    continue;
                }
                let prefix = match expand_prefix(&a.template, date) {
                    Ok(p) => p,
                    Err(e) => {
                        warn!(arrival = %Escaped(&a.name), error = %Escaped(&e), "cannot expand the prefix");
                        continue;
                    }
                };
                match list(a, &prefix, deadline.0 - window, deadline.0).await {
                    Ok(found) => {
                        let s = self.seen.entry((i, date)).or_default();
                        s.in_window = s.in_window.or(found.in_window);
                        s.newest = s.newest.max(found.newest);
                    }
                    Err(e) => {
                        warn!(arrival = %Escaped(&a.name), bucket = %Escaped(&a.bucket), account = %Escaped(&a.account), region = %Escaped(&a.region), error = %Escaped(&e), "S3 listing failed; trying again next cycle");
                        on_error(a, &e);
                    }
                }
            }
            let seen = |date: Date| self.seen.get(&(i, date)).copied().unwrap_or_default();
            let next = seen(ev.next.date);
            let previous = ev.previous.map(|p| {
                let s = seen(p.date);
                match s.in_window {
                    Some(_) => "met",
                    None if s.newest.is_some_and(|n| n.0 > p.deadline.0) => "late",
                    None => "missed",
                }
            });
            let newly_missed = match (ev.previous, previous) {
                (Some(p), Some("missed" | "late")) => self.counted.insert((i, p.deadline.0)),
                _ => false,
            };
            let last_arrival = ev
                .previous
                .map(|p| seen(p.date).newest)
                .unwrap_or_default()
                .max(next.newest);
            out.push(ArrivalReport {
                name: a.name.clone(),
                bucket: a.bucket.clone(),
                account: a.account.clone(),
                region: a.region.clone(),
                team: a.team.clone(),
                project: a.project.clone(),
                previous,
                next: if next.in_window.is_some() {
                    "met"
                } else {
                    "pending"
                },
                next_deadline: ev.next.deadline,
                last_arrival,
                newly_missed,
            });
        }
        // Forget dates and counted misses older than any window.
        let arrivals = &self.arrivals;
        self.seen.retain(|(i, date), _| {
            arrivals
                .get(*i)
                .and_then(|a| a.schedule.deadline_on(*date))
                .is_some_and(|d| d.0 >= oldest)
        });
        self.counted.retain(|(_, d)| *d >= oldest);
        out
    }
}

/// What one listing found.
#[derive(Debug, Default)]
struct Found {
    in_window: Option<Millis>,
    newest: Option<Millis>,
}

/// Lists `prefix` page by page until an object with `LastModified` in `(from, to]` is found,
/// the listing ends, or [`MAX_PAGES`] pages were read.
async fn list(a: &Arrival, prefix: &str, from: i64, to: i64) -> Result<Found, AwsError> {
    let mut found = Found::default();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = a
            .client
            .list_objects_v2()
            .bucket(&a.bucket)
            .prefix(prefix)
            .max_keys(1000)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("s3", "ListObjectsV2", &a.region, e))?;
        for o in page.contents() {
            let Some(lm) = o.last_modified().and_then(|t| t.to_millis().ok()) else {
                continue;
            };
            found.newest = found.newest.max(Some(Millis(lm)));
            if from < lm && lm <= to && found.in_window.is_none_or(|f| lm < f.0) {
                found.in_window = Some(Millis(lm));
            }
        }
        if found.in_window.is_some() || page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(found)
}
