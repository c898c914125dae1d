//! Runs as trees in the terminal: the view a person gets without any backend.

use crate::model::{PipelineRun, RunResult, RunStatus, TaskRun};
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

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

fn error_text(e: &crate::model::RunError, max: usize) -> String {
    if e.message.trim().is_empty() {
        e.error_type.clone()
    } else if e.message.starts_with(&e.error_type) {
        one_line(&e.message, max)
    } else {
        format!("{}: {}", e.error_type, one_line(&e.message, max))
    }
}

/// Renders a run and its steps as an indented tree.
pub fn render_run(run: &PipelineRun) -> String {
    let mut out = String::new();
    let (result, duration) = match run.status {
        RunStatus::Ended(r) => (r.as_str().to_string(), human_duration(run.duration_secs())),
        RunStatus::InFlight(p) => (format!("in flight ({})", p.as_str()), "-".to_string()),
    };
    let started = humantime::format_rfc3339_seconds(run.start.to_system_time());
    let _ = writeln!(
        out,
        "{} RUN {}  {}  {}  started {}  [{} {}/{}]",
        mark(run.result()),
        run.pipeline.name,
        result,
        duration,
        started,
        run.pipeline.kind,
        run.pipeline.account,
        run.pipeline.region
    );
    let attempt = if run.attempt > 0 {
        format!(" (attempt {})", run.attempt)
    } else {
        String::new()
    };
    let _ = writeln!(out, "  run id: {}{attempt}", run.run_id);
    if let Some(e) = &run.error {
        let _ = writeln!(
            out,
            "  error: {}: {}",
            e.error_type,
            one_line(&e.message, 160)
        );
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
        t.name,
        t.kind,
        t.result.as_str(),
        human_duration(t.duration_secs()),
    );
    let child_prefix = format!("{prefix}{}", if last { "   " } else { "│  " });
    let n = t.children.len();
    for (i, c) in t.children.iter().enumerate() {
        render_task(c, &child_prefix, i + 1 == n, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0.25), "250ms");
        assert_eq!(human_duration(12.34), "12.3s");
        assert_eq!(human_duration(245.0), "4m05s");
        assert_eq!(human_duration(7380.0), "2h03m");
    }
}
