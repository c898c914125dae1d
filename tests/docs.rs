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

/// Every source has its page in `docs/sources/`, listed in the index, naming every IAM action
/// and metric it declares; every attribute key a source defines (`pub const …: &str` under
/// `src/sources/`) is documented on some page.
#[test]
fn every_source_has_its_page() {
    use pipeline_otel_bridge::sources::ALL;
    let index = read("docs/sources/README.md");
    let mut pages = String::new();
    let mut missing = Vec::new();
    for s in ALL {
        let path = format!("docs/sources/{}.md", s.key);
        let Ok(page) = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&path))
        else {
            missing.push(path);
            continue;
        };
        if !index.contains(&format!("`{}`", s.key)) || !index.contains(&format!("`{}`", s.kind)) {
            missing.push(format!("docs/sources/README.md: {} / {}", s.key, s.kind));
        }
        for a in s.iam_actions {
            if !page.contains(&format!("`{a}`")) {
                missing.push(format!("{path}: {a}"));
            }
        }
        for m in s.metrics {
            if !page.contains(&format!("`{}`", m.name)) {
                missing.push(format!("{path}: {}", m.name));
            }
        }
        pages.push_str(&page);
    }
    let docs = format!("{pages}{}", read("docs/telemetry.md"));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sources");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let sub = entry.unwrap().path();
        let files: Vec<_> = if sub.is_dir() {
            std::fs::read_dir(&sub)
                .unwrap()
                .map(|f| f.unwrap().path())
                .collect()
        } else {
            vec![sub]
        };
        for f in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let line = line.trim();
                if line.starts_with("pub const") && line.contains(": &str =") {
                    if let Some(v) = line.split('"').nth(1) {
                        if !docs.contains(&format!("`{v}`")) {
                            missing.push(format!("{}: {v}", f.display()));
                        }
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
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
fn the_accounts_doc_example_is_a_valid_config() {
    let doc = read("docs/accounts.md");
    let block: String = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a toml block")
        .to_string();
    let cfg = Config::parse(&block, Path::new("docs/accounts.md")).unwrap();
    assert_eq!(cfg.accounts.len(), 2);
    assert_eq!(cfg.accounts[1].role_account(), Some("222222222222"));
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
