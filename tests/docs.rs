//! Keeps the documentation true: every name in `src/semconv.rs` is in `docs/telemetry.md`, and
//! the example config parses.

use pipeline_otel_bridge::config::Config;
use pipeline_otel_bridge::semconv::ALL_METRICS;
use std::path::Path;

fn read(p: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(p)).unwrap()
}

#[test]
fn telemetry_doc_lists_every_name() {
    let doc = read("docs/telemetry.md");
    let src = read("src/semconv.rs");
    let mut missing = Vec::new();
    for line in src.lines() {
        let line = line.trim();
        if let (true, Some(start)) = (
            line.starts_with("pub const") && line.contains(": &str"),
            line.find('"'),
        ) {
            let name = &line[start + 1..line.rfind('"').unwrap()];
            if !doc.contains(&format!("`{name}`")) {
                missing.push(name.to_string());
            }
        }
    }
    for m in ALL_METRICS {
        if !doc.contains(&format!("`{}`", m.name)) {
            missing.push(m.name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "docs/telemetry.md does not mention: {missing:?}"
    );
}

#[test]
fn example_config_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.toml");
    let cfg = Config::load(&p).unwrap();
    let filters = cfg.filters().unwrap();
    assert!(!filters.matches("glue", "orders-scratch"));
    assert!(filters.matches("glue", "orders-etl"));
}

#[test]
fn ids_doc_shows_what_trace_id_prints() {
    use pipeline_otel_bridge::app;
    let doc = read("docs/ids.md");
    let printed = app::trace_id(
        pipeline_otel_bridge::sources::glue_job::KIND,
        "123456789012",
        "us-east-1",
        "orders-etl",
        "jr_abc",
        0,
    );
    let shown: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("pipeline-otel-bridge trace-id"))
        .skip(2)
        .take_while(|l| l.starts_with("# "))
        .map(|l| &l[2..])
        .collect();
    assert_eq!(shown, printed.lines().collect::<Vec<_>>());
}
