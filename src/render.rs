//! Runs as trees in the terminal: the view a person gets without any backend.
//!
//! Every text that comes from AWS (names, ids, error types and messages) goes through
//! [`crate::sanitize::escape`], so it can neither drive the terminal nor start a line: the
//! tree has exactly one line per run header, run id, run error and step.

use crate::model::{PipelineRun, RunResult, RunStatus, TaskRun};
use crate::sanitize::escape;
use std::fmt::Write;

fn mark(r: Option<RunResult>) -> &'static str {
    match r {
        None => "…",
        Some(RunResult::Success) => "✓",
        Some(RunResult::Cancellation) | Some(RunResult::Skip) => "○",
        Some(_) => "✗",
    }
}

/// Seconds as `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn human_duration(secs: f64) -> String {
    if secs < 1.0 {
        format!("{}ms", (secs * 1000.0).round() as i64)
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs.round() as i64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as i64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// `s` on one line: whitespace runs (newlines, tabs, U+2028 … included) become one space, the
/// rest is cut to `max` characters and escaped.
fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    };
    escape(&cut).into_owned()
}

fn error_text(e: &crate::model::RunError, max: usize) -> String {
    if e.message.trim().is_empty() {
        escape(&e.error_type).into_owned()
    } else if e.message.starts_with(&e.error_type) {
        one_line(&e.message, max)
    } else {
        format!("{}: {}", escape(&e.error_type), one_line(&e.message, max))
    }
}

/// `2026-11-22T02:00:00Z`; milliseconds since the epoch past the year 9999, which RFC 3339
/// cannot write (humantime then fails the whole line).
fn rfc3339(t: crate::records::Millis) -> String {
    let mut s = String::new();
    match write!(
        s,
        "{}",
        humantime::format_rfc3339_seconds(t.to_system_time())
    ) {
        Ok(()) => s,
        Err(_) => format!("{}ms after the epoch", t.0),
    }
}

/// Renders a run and its steps as an indented tree.
pub fn render_run(run: &PipelineRun) -> String {
    let mut out = String::new();
    let (result, duration) = match run.status {
        RunStatus::Ended(r) => (r.as_str().to_string(), human_duration(run.duration_secs())),
        RunStatus::InFlight(p) => (format!("in flight ({})", p.as_str()), "-".to_string()),
    };
    let started = rfc3339(run.start);
    let _ = writeln!(
        out,
        "{} RUN {}  {}  {}  started {}  [{} {}/{}]",
        mark(run.result()),
        escape(&run.pipeline.name),
        result,
        duration,
        started,
        run.pipeline.kind,
        escape(&run.pipeline.account),
        escape(&run.pipeline.region)
    );
    let attempt = if run.attempt > 0 {
        format!(" (attempt {})", run.attempt)
    } else {
        String::new()
    };
    let _ = writeln!(out, "  run id: {}{attempt}", escape(&run.run_id));
    if let (Some(q), RunStatus::Ended(_)) =
        (run.queued_until.filter(|q| *q > run.start), run.status)
    {
        let _ = writeln!(
            out,
            "  queued: {} before it ran",
            human_duration(run.start.secs_until(q))
        );
    }
    if let Some(e) = &run.error {
        // The type once: AWS messages often start with it already.
        let _ = writeln!(out, "  error: {}", error_text(e, 160));
    }
    let n = run.tasks.len();
    for (i, t) in run.tasks.iter().enumerate() {
        render_task(t, "  ", i + 1 == n, &mut out);
    }
    out
}

fn render_task(t: &TaskRun, prefix: &str, last: bool, out: &mut String) {
    let branch = if last { "└─ " } else { "├─ " };
    let err = t
        .error
        .as_ref()
        .map(|e| format!("  {}", error_text(e, 100)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{prefix}{branch}{} {}  {}  {}  {}{err}",
        mark(Some(t.result)),
        escape(&t.name),
        escape(&t.kind),
        t.result.as_str(),
        human_duration(t.duration_secs()),
    );
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    // The runs it started that have a trace of their own.
    for l in &t.links {
        let _ = writeln!(
            out,
            "{child_prefix}↳ {} {} {} run {}",
            l.reason,
            l.pipeline.kind,
            escape(&l.pipeline.name),
            escape(&l.run_id)
        );
    }
    let n = t.children.len();
    for (i, c) in t.children.iter().enumerate() {
        render_task(c, &child_prefix, i + 1 == n, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunError;
    use crate::records::Millis;

    fn task(name: &str, error: Option<RunError>, children: Vec<TaskRun>) -> TaskRun {
        TaskRun {
            links: Vec::new(),
            name: name.to_string(),
            run_id: "1".into(),
            kind: "Task\x1b[8m".into(),
            start: Millis(1_700_000_000_000),
            end: Millis(1_700_000_001_000),
            result: RunResult::Failure,
            error,
            attributes: Vec::new(),
            children,
        }
    }

    #[test]
    fn hostile_aws_text_cannot_drive_the_terminal_or_start_a_line() {
        let err = || RunError {
            error_type: "Err\x1b]0;pwned\x07\n".into(),
            message: "boom\x1b[2J\nline2\r\u{2028}\u{202E}gnp.exe\x00\u{9b}31m".into(),
        };
        let evil = "job\x1b[2J\x1b]0;pwned\x07\nFAKE LINE\u{202E}";
        let run = PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::glue_job::pipeline("123456789012", "us-east-1", evil),
            run_id: "jr_1\n✓ RUN forged".into(),
            attempt: 0,
            previous_run_id: None,
            aws_state: "FAILED".into(),
            status: RunStatus::Ended(RunResult::Failure),
            start: Millis(1_700_000_000_000),
            end: Some(Millis(1_700_000_002_000)),
            error: Some(err()),
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: Vec::new(),
            tasks: vec![
                task(
                    evil,
                    Some(err()),
                    vec![task("child\r\n", Some(err()), vec![])],
                ),
                task("plain", None, vec![]),
            ],
        };
        let out = render_run(&run);
        let bad: Vec<char> = out
            .chars()
            .filter(|&c| c != '\n' && crate::sanitize::is_unsafe(c))
            .collect();
        assert!(bad.is_empty(), "unsafe characters {bad:?} in {out}");
        // header, run id, error, then one line per step (3)
        assert_eq!(out.lines().count(), 3 + 3, "{out}");
        assert!(out.contains("job\\u{1b}[2J"), "{out}");
        assert!(out.contains("jr_1\\u{a}✓ RUN forged"), "{out}");
    }

    /// A finished, successful Glue run of job `name`, started and ended at these epoch ms.
    fn glue_run(name: &str, start: i64, end: Option<i64>) -> PipelineRun {
        PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            pipeline: crate::sources::glue_job::pipeline("123456789012", "us-east-1", name),
            run_id: format!("jr_{name}"),
            attempt: 0,
            previous_run_id: None,
            aws_state: "SUCCEEDED".into(),
            status: RunStatus::Ended(RunResult::Success),
            start: Millis(start),
            end: end.map(Millis),
            error: None,
            will_retry: false,
            dpu_seconds: None,
            url: None,
            sla_secs: None,
            attributes: Vec::new(),
            tasks: Vec::new(),
        }
    }

    #[test]
    fn an_error_message_that_starts_with_its_type_names_the_type_once() {
        let run = PipelineRun {
            queued_until: None,
            parent: None,
            links: Vec::new(),
            measures: Vec::new(),
            aws_state: "FAILED".into(),
            status: RunStatus::Ended(RunResult::Failure),
            error: Some(RunError {
                error_type: "AnalysisException".into(),
                message: "AnalysisException: Path does not exist: s3://x".into(),
            }),
            ..glue_run("clicks", 1_700_000_000_000, Some(1_700_000_002_000))
        };
        let out = render_run(&run);
        assert!(
            out.contains("  error: AnalysisException: Path does not exist: s3://x\n"),
            "{out}"
        );
        assert_eq!(out.matches("AnalysisException").count(), 1, "{out}");
    }

    #[test]
    fn times_past_year_9999_still_render_one_line_each() {
        let mut run = glue_run("far", 300_000_000_000_000, Some(i64::MAX));
        let out = render_run(&run);
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(
            out.contains("started 300000000000000ms after the epoch"),
            "{out}"
        );
        run.start = Millis(i64::MIN);
        assert_eq!(render_run(&run).lines().count(), 2);
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.25), "250ms");
        assert_eq!(human_duration(12.34), "12.3s");
        assert_eq!(human_duration(245.0), "4m05s");
        assert_eq!(human_duration(7380.0), "2h03m");
    }
}
