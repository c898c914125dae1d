//! Pipeline deadlines (`[[deadlines]]`): which deadlines apply to which watched pipeline, the
//! recent successes each pipeline had, and where each deadline stands at the end of a cycle
//! ([`crate::schedule::evaluate`]). No I/O: the poller feeds successes in and publishes the
//! [`DeadlineReport`]s (docs/deadlines.md).

use crate::config::Config;
use crate::model::PipelineRef;
use crate::records::Millis;
use crate::schedule::{evaluate, Evaluation, Schedule};
use globset::{Glob, GlobMatcher};
use std::collections::{HashMap, HashSet};

/// Successes kept per pipeline: the newest ones, at most this many.
pub const MAX_SUCCESSES: usize = 256;
/// Successes older than this before now are dropped (the longest window is 7 days).
pub const KEEP_MS: i64 = 8 * 24 * 3_600_000;

/// One compiled `[[deadlines]]` entry.
#[derive(Debug, Clone)]
pub struct Deadline {
    matcher: GlobMatcher,
    kind: Option<String>,
    account: Option<String>,
    /// The `pipeline_bridge.deadline` label.
    pub label: String,
    pub schedule: Schedule,
}

impl Deadline {
    /// Whether the deadline applies to `p`.
    pub fn applies_to(&self, p: &PipelineRef) -> bool {
        self.matcher.is_match(&p.name)
            && self.kind.as_deref().is_none_or(|k| k == p.kind.as_str())
            && self.account.as_deref().is_none_or(|a| a == p.account)
    }
}

/// Where one deadline of one pipeline stands.
#[derive(Debug, Clone)]
pub struct DeadlineReport {
    pub pipeline: PipelineRef,
    pub label: String,
    pub evaluation: Evaluation,
    /// The previous deadline was missed: the first success after it, if any (the pipeline
    /// caught up late; exported as the state `late`).
    pub late_at: Option<Millis>,
    /// The previous deadline was missed and this is the first report saying so in this
    /// process (count it once).
    pub newly_missed: bool,
}

/// The deadlines and the successes they are evaluated against.
#[derive(Debug, Default)]
pub struct Deadlines {
    rules: Vec<Deadline>,
    /// Per pipeline key: end times of successful runs, newest last (≤ [`MAX_SUCCESSES`]).
    successes: HashMap<String, Vec<Millis>>,
    /// (pipeline key, rule index, deadline instant) of the misses already reported.
    counted: HashSet<(String, usize, i64)>,
}

impl Deadlines {
    /// The config's `[[deadlines]]` (validated on load; an entry that is not is left out).
    pub fn from_config(cfg: &Config) -> Self {
        let rules = cfg
            .deadlines
            .iter()
            .filter_map(|d| {
                let schedule = d.schedule().ok()?;
                Some(Deadline {
                    matcher: Glob::new(&d.pattern).ok()?.compile_matcher(),
                    kind: d.kind.clone(),
                    account: d.account.clone(),
                    label: d.label(&schedule),
                    schedule,
                })
            })
            .collect();
        Deadlines {
            rules,
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Records a successful run of the pipeline `key` that ended at `end` (duplicates are
    /// ignored).
    pub fn record_success(&mut self, key: &str, end: Millis) {
        if self.rules.is_empty() {
            return;
        }
        let v = self.successes.entry(key.to_string()).or_default();
        if !v.contains(&end) {
            v.push(end);
            v.sort();
            if v.len() > MAX_SUCCESSES {
                let cut = v.len() - MAX_SUCCESSES;
                v.drain(..cut);
            }
        }
    }

    /// The deadlines of every watched pipeline at `now`. Successes older than [`KEEP_MS`] are
    /// dropped (and a pipeline with none left is forgotten); a pipeline that is not watched in
    /// this cycle keeps its history, so a first discovery that fails does not lose the
    /// successes seeded from the checkpoint.
    pub fn evaluate(&mut self, watched: &[PipelineRef], now: Millis) -> Vec<DeadlineReport> {
        if self.rules.is_empty() {
            return Vec::new();
        }
        let oldest = now.0.saturating_sub(KEEP_MS);
        for v in self.successes.values_mut() {
            v.retain(|e| e.0 >= oldest);
        }
        self.successes.retain(|_, v| !v.is_empty());
        self.counted.retain(|(_, _, at)| *at >= oldest);
        let mut out = Vec::new();
        for p in watched {
            let key = p.key();
            let events = self.successes.get(&key).map_or(&[][..], |v| v.as_slice());
            for (i, rule) in self.rules.iter().enumerate() {
                if !rule.applies_to(p) {
                    continue;
                }
                let Some(evaluation) = evaluate(&rule.schedule, now, events) else {
                    continue;
                };
                let newly_missed = evaluation
                    .previous
                    .filter(|o| o.status == crate::schedule::DayStatus::Missed)
                    .is_some_and(|o| self.counted.insert((key.clone(), i, o.deadline.0)));
                let late_at = evaluation
                    .previous
                    .filter(|o| o.status == crate::schedule::DayStatus::Missed)
                    .and_then(|o| events.iter().copied().filter(|e| e.0 > o.deadline.0).min());
                out.push(DeadlineReport {
                    pipeline: p.clone(),
                    label: rule.label.clone(),
                    evaluation,
                    late_at,
                    newly_missed,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PipelineKind;
    use crate::schedule::DayStatus;

    fn cfg(text: &str) -> Config {
        Config::parse(text, std::path::Path::new("bridge.toml")).unwrap()
    }

    fn pipe(name: &str) -> PipelineRef {
        PipelineRef::new(
            PipelineKind::new("glue-job", "aws_glue"),
            "123456789012",
            "eu-west-1",
            name,
            "arn",
        )
    }

    fn ms(s: &str) -> Millis {
        Millis(s.parse::<jiff::Timestamp>().unwrap().as_millisecond())
    }

    #[test]
    fn met_missed_and_pending_each_counted_once() {
        let mut d = Deadlines::from_config(&cfg(
            "[[deadlines]]\nmatch = \"orders-*\"\nby = \"06:00\"\ntime_zone = \"Europe/Berlin\"\ndays = [\"weekdays\"]\n",
        ));
        let (a, b, other) = (pipe("orders-a"), pipe("orders-b"), pipe("billing"));
        // Tue 2026-12-01 06:00 Berlin = 05:00Z.
        d.record_success(&a.key(), ms("2026-12-01T04:30:00Z"));
        let now = ms("2026-12-01T05:10:00Z");
        let watched = [a.clone(), b.clone(), other];
        let r = d.evaluate(&watched, now);
        assert_eq!(r.len(), 2, "only the matching pipelines");
        assert_eq!(r[0].label, "by 06:00 Europe/Berlin weekdays");
        let prev = |i: usize| r[i].evaluation.previous.unwrap().status;
        assert_eq!(
            prev(0),
            DayStatus::Met {
                at: ms("2026-12-01T04:30:00Z")
            }
        );
        assert_eq!(prev(1), DayStatus::Missed);
        assert_eq!(r[1].evaluation.next.status, DayStatus::Pending);
        assert!(!r[0].newly_missed && r[1].newly_missed);
        assert_eq!(r[1].late_at, None);
        d.record_success(&b.key(), ms("2026-12-01T05:05:00Z"));
        let again = d.evaluate(&watched, now);
        assert!(!again[1].newly_missed, "a miss is counted once");
        assert_eq!(again[1].late_at, Some(ms("2026-12-01T05:05:00Z")));
        assert_eq!(
            again[1].evaluation.previous.unwrap().status,
            DayStatus::Missed,
            "a late success does not meet the deadline"
        );
    }

    #[test]
    fn history_is_bounded_kept_through_a_failed_discovery_and_forgotten_when_old() {
        let mut d = Deadlines::from_config(&cfg("[[deadlines]]\nmatch = \"*\"\nby = \"06:00\"\n"));
        let a = pipe("a");
        for i in 0..1000 {
            d.record_success(&a.key(), Millis(1_700_000_000_000 + i));
        }
        assert_eq!(d.successes[&a.key()].len(), MAX_SUCCESSES);
        d.evaluate(&[], Millis(1_700_000_000_000));
        assert_eq!(
            d.successes[&a.key()].len(),
            MAX_SUCCESSES,
            "kept while not watched (a failed discovery)"
        );
        d.evaluate(
            std::slice::from_ref(&a),
            Millis(1_700_000_000_000 + KEEP_MS + 1000),
        );
        assert!(d.successes.is_empty(), "forgotten after 8 days");
    }
}
