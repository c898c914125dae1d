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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Time between the starts of two poll cycles.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How far back the first cycle looks for runs when a pipeline has no checkpoint yet.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// How far behind its watermark each cycle looks again, for runs AWS lists late.
    #[serde(with = "humantime_serde")]
    pub rescan_window: Duration,
    /// How often the lists of jobs and state machines are refreshed.
    #[serde(with = "humantime_serde")]
    pub discovery_interval: Duration,
    /// Pipelines polled at the same time, per source and region.
    pub concurrency: usize,
    pub aws: AwsConfig,
    pub glue: SourceConfig,
    pub step_functions: SourceConfig,
    pub otlp: OtlpConfig,
    /// Expectations and ownership by pipeline name pattern (`[[pipelines]]`). For each setting
    /// the first entry that matches the pipeline and sets it wins, so a catch-all `match = "*"`
    /// at the end gives defaults. Pipelines without settings have no SLA and no expected
    /// interval.
    pub pipelines: Vec<PipelineSettings>,
}

/// One `[[pipelines]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSettings {
    /// Glob pattern on the pipeline (job or state machine) name.
    #[serde(rename = "match")]
    pub pattern: String,
    /// Only pipelines of this kind: `glue-job` or `sfn`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Longest acceptable run duration; a longer run is flagged on its trace and alerted on.
    #[serde(default, with = "humantime_serde::option")]
    pub sla: Option<Duration>,
    /// Longest acceptable time between two successful runs (freshness).
    #[serde(default, with = "humantime_serde::option")]
    pub max_success_interval: Option<Duration>,
    /// Owning team, for alert routing and dashboards.
    #[serde(default)]
    pub team: Option<String>,
    /// Project the pipeline belongs to.
    #[serde(default)]
    pub project: Option<String>,
}

/// What the config says about one pipeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    pub sla: Option<Duration>,
    pub max_success_interval: Option<Duration>,
    pub team: Option<String>,
    pub project: Option<String>,
}

/// Compiled `[[pipelines]]` entries.
#[derive(Debug, Clone, Default)]
pub struct ExpectationRules {
    rules: Vec<(globset::GlobMatcher, Option<String>, PipelineSettings)>,
}

impl ExpectationRules {
    /// Settings for a pipeline, each taken from the first matching entry that sets it.
    pub fn for_pipeline(&self, kind: &str, name: &str) -> Expectations {
        let mut e = Expectations::default();
        for (glob, k, s) in &self.rules {
            if !glob.is_match(name) || k.as_deref().is_some_and(|k| k != kind) {
                continue;
            }
            e.sla = e.sla.or(s.sla);
            e.max_success_interval = e.max_success_interval.or(s.max_success_interval);
            e.team = e.team.take().or_else(|| s.team.clone());
            e.project = e.project.take().or_else(|| s.project.clone());
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
            glue: SourceConfig::default(),
            step_functions: SourceConfig::default(),
            otlp: OtlpConfig::default(),
            pipelines: Vec::new(),
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
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            enabled: true,
            include: vec!["*".to_string()],
            exclude: Vec::new(),
        }
    }
}

/// Compiled include/exclude patterns of a source.
#[derive(Debug, Clone)]
pub struct NameFilter {
    include: GlobSet,
    exclude: GlobSet,
}

impl NameFilter {
    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.is_match(name)
    }
}

/// The compiled name filters of both sources.
#[derive(Debug, Clone)]
pub struct Filters {
    pub glue: NameFilter,
    pub step_functions: NameFilter,
}

/// OTLP export settings. Unset fields fall back to the standard `OTEL_EXPORTER_OTLP_*`
/// variables, then to the OpenTelemetry defaults (gRPC on `localhost:4317`).
#[derive(Debug, Clone, Default, Deserialize)]
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
    #[serde(with = "humantime_serde::option")]
    pub timeout: Option<Duration>,
    /// PEM file of the CA that signed the collector's certificate (for `https://` endpoints
    /// with a private CA); `OTEL_EXPORTER_OTLP_CERTIFICATE` does the same.
    pub certificate: Option<PathBuf>,
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
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: key `{key}`: {message}")]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
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
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            // toml's message says "TOML parse error at line L, column C" and quotes the line.
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks what serde cannot: ranges and glob syntax.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        if self.poll_interval < Duration::from_secs(1) {
            return Err(invalid("poll_interval", "must be at least 1s".into()));
        }
        if self.lookback > Duration::from_secs(365 * 24 * 3600) {
            return Err(invalid(
                "lookback",
                "must be at most 365 days (AWS keeps no older runs)".into(),
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            return Err(invalid("concurrency", "must be between 1 and 64".into()));
        }
        for (name, src) in [
            ("glue", &self.glue),
            ("step_functions", &self.step_functions),
        ] {
            src.filter()
                .map_err(|(key, msg)| invalid(&format!("{name}.{key}"), msg))?;
        }
        for (i, p) in self.pipelines.iter().enumerate() {
            let key = |k: &str| format!("pipelines[{i}].{k}");
            Glob::new(&p.pattern)
                .map_err(|e| invalid(&key("match"), format!("bad pattern `{}`: {e}", p.pattern)))?;
            if let Some(k) = &p.kind {
                if k != "glue-job" && k != "sfn" {
                    return Err(invalid(
                        &key("kind"),
                        format!("`{k}`: expected `glue-job` or `sfn`"),
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
            }
        }
        if let Some(ep) = &self.otlp.endpoint {
            if !(ep.starts_with("http://") || ep.starts_with("https://")) {
                return Err(invalid(
                    "otlp.endpoint",
                    format!("`{ep}` must start with http:// or https://"),
                ));
            }
        }
        Ok(())
    }
}

impl Config {
    /// Compiles the `[[pipelines]]` patterns (validated on load).
    pub fn expectations(&self) -> ExpectationRules {
        ExpectationRules {
            rules: self
                .pipelines
                .iter()
                .filter_map(|p| {
                    let g = Glob::new(&p.pattern).ok()?.compile_matcher();
                    Some((g, p.kind.clone(), p.clone()))
                })
                .collect(),
        }
    }

    /// Compiles the include/exclude patterns of both sources.
    pub fn filters(&self) -> Result<Filters, ConfigError> {
        let compile = |name: &str, src: &SourceConfig| {
            src.filter().map_err(|(key, message)| ConfigError::Invalid {
                path: PathBuf::from("(config)"),
                key: format!("{name}.{key}"),
                message,
            })
        };
        Ok(Filters {
            glue: compile("glue", &self.glue)?,
            step_functions: compile("step_functions", &self.step_functions)?,
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
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("bridge.toml"))
    }

    #[test]
    fn empty_config_is_the_zero_config_default() {
        let c = parse("").unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(60));
        assert!(c.lookback >= Duration::from_secs(24 * 3600));
        assert!(c.glue.filter().unwrap().matches("anything"));
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
    fn filters_include_and_exclude() {
        let c = parse("[glue]\ninclude = [\"orders-*\", \"customers-*\"]\nexclude = [\"*-test\"]")
            .unwrap();
        let f = c.glue.filter().unwrap();
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
    fn secrets_do_not_print() {
        let c = parse("[otlp.headers]\nx-api-key = \"hunter2\"").unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.otlp.headers["x-api-key"].expose(), "hunter2");
    }
}
