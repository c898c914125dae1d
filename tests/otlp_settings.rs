//! `check` catches bad OTLP settings from the environment, naming the variable but never
//! printing a secret. AWS is pointed at a closed port so it fails fast; the OTLP lines are
//! printed regardless.

use std::process::{Command, Output};

fn check(env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipeline-otel-bridge"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("check")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PIPELINE_BRIDGE_LOG", "debug");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the bridge");
    eprintln!(
        "--- check {env:?}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn check_rejects_bad_otlp_environment_without_showing_secrets() {
    for (var, value, secret) in [
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=fine,hunter2-without-a-key",
            "hunter2",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "=hunter2", "hunter2"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=hunter2%zz",
            "hunter2",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", "\u{0}"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "u:hunter2@collector:4317",
            "hunter2",
        ),
    ] {
        let out = check(&[(var, value)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{var}: {stdout}");
        assert!(
            stdout.contains("FAIL  otlp traces") && stdout.contains(var),
            "{var}: {stdout}"
        );
        assert!(!all.contains(secret), "{var}: the value is shown: {all}");
    }
}

#[test]
fn check_shows_the_endpoint_without_its_password() {
    let out = check(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "http://u:hunter2@collector:4317",
    )]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("ok    otlp traces       grpc → http://u:***@collector:4317"),
        "{stdout}"
    );
    assert!(!all.contains("hunter2"), "{all}");
}
