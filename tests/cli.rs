//! The command line itself: argument bounds, error messages and log output, on the real
//! binary. AWS is pointed at a closed port, so nothing here needs a network or an emulator.

use std::process::{Command, Output};

/// The bridge with a clean environment: no ambient AWS or OTLP settings, AWS on a closed port
/// with one attempt per call, dummy credentials, no `NO_COLOR`.
fn bridge(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline-otel-bridge"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.starts_with("AWS_") || k.starts_with("PIPELINE_BRIDGE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("NO_COLOR")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PIPELINE_BRIDGE_LOG", "info")
        .args(args);
    let out = cmd.output().expect("run the bridge");
    eprintln!(
        "--- bridge {args:?} exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn since_beyond_a_year_is_a_clean_usage_error() {
    for since in ["292271030y", "366days", "18446744073709551615s"] {
        let out = bridge(&["runs", "--since", since]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("--since") && err.contains("at most 365 days"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn missing_config_file_names_its_cause_once() {
    for cmd in ["check", "run", "runs"] {
        let out = bridge(&[cmd, "--config", "/nonexistent/bridge.toml"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("/nonexistent/bridge.toml"), "{err}");
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    }
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    // `check` logs a WARN (the account id cannot be resolved) and prints FAIL lines.
    let out = bridge(&["check"]);
    let err = stderr(&out);
    assert!(err.contains("WARN"), "the test needs a log line: {err}");
    assert!(!out.stderr.contains(&0x1b), "ESC in stderr: {err:?}");
    assert!(!out.stdout.contains(&0x1b), "ESC in stdout");
}

#[test]
fn config_options_have_help() {
    for cmd in ["check", "runs"] {
        let out = bridge(&[cmd, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        let line = help
            .lines()
            .find(|l| l.contains("--config"))
            .unwrap_or_default();
        assert!(line.contains("Config file"), "{cmd}: {help}");
    }
}
