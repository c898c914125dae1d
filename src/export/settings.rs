//! The OTLP settings of one signal, resolved from the config file and the standard
//! `OTEL_EXPORTER_OTLP_*` variables — by this crate, not by `opentelemetry-otlp`, whose own
//! environment parsing drops malformed values silently.
//!
//! Rules (the [OTLP exporter spec] where it has one):
//! - each setting comes from the config file, else the signal's variable
//!   (`OTEL_EXPORTER_OTLP_TRACES_*`), else the generic one (`OTEL_EXPORTER_OTLP_*`), else the
//!   default; a variable that is empty (or blank) counts as unset;
//! - an endpoint must start with `http://` or `https://` (no scheme-less `host:port`, which
//!   would silently mean TLS); on `http/protobuf` the config file's and the generic variable's
//!   endpoint get `/v1/traces` / `/v1/metrics` appended, the signal's variable is used as is;
//!   defaults `http://localhost:4317` (gRPC), `http://localhost:4318/v1/…` (HTTP);
//! - headers variables are `key=value` lists separated by commas, whitespace around keys and
//!   values trimmed, values percent-decoded; a malformed entry is an error naming the variable
//!   and the entry (its number and, when valid, its key — never its value); the signal's
//!   variable replaces the generic one; config file values are sent literally (never
//!   decoded) and win over the variable's per header name (case-insensitive); names and values
//!   must be valid on the wire (no control characters such as a newline, ASCII only);
//! - timeout variables are whole milliseconds, more than 0 and at most the config file's limit
//!   for `otlp.timeout`.
//!
//! Everything here is pure: the environment is a lookup function, so tests pass their own.
//!
//! [OTLP exporter spec]: https://opentelemetry.io/docs/specs/otel/protocol/exporter/

use super::{ExportError, Signal, DEFAULT_TIMEOUT};
use crate::config::{OtlpConfig, Protocol, Secret};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Reads an environment variable; `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment as a [`Lookup`] (a value that is not Unicode is read lossily, so it
/// fails validation instead of vanishing).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// Everything needed to build one signal's exporter. `Debug` shows no secret.
#[derive(Clone)]
pub struct Settings {
    pub protocol: Protocol,
    /// Full URL requests go to (with `/v1/…` on HTTP). May hold a password: show
    /// [`redact_url`] of it.
    pub endpoint: String,
    /// Lower-case names, each valid for the protocol; values are secrets.
    pub headers: BTreeMap<String, Secret>,
    pub timeout: Duration,
    pub certificate: Option<PathBuf>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("protocol", &self.protocol)
            .field("endpoint", &redact_url(&self.endpoint))
            .field("headers", &self.headers)
            .field("timeout", &self.timeout)
            .field("certificate", &self.certificate)
            .finish()
    }
}

impl Settings {
    pub fn resolve(cfg: &OtlpConfig, signal: Signal, env: Lookup) -> Result<Self, ExportError> {
        let protocol = protocol(cfg, signal, env)?;
        Ok(Settings {
            protocol,
            endpoint: endpoint(cfg, signal, protocol, env)?,
            headers: headers(cfg, signal, protocol, env)?,
            timeout: timeout(cfg, signal, env)?,
            certificate: certificate(cfg, signal, env),
        })
    }

    /// Strings no message may show: the endpoint's userinfo and the header values.
    pub fn secrets(&self) -> Vec<String> {
        let mut s: Vec<String> = self
            .headers
            .values()
            .map(|v| v.expose().to_string())
            .collect();
        if let Some(userinfo) = userinfo(&self.endpoint) {
            s.push(userinfo.to_string());
            if let Some((_, password)) = userinfo.split_once(':') {
                s.push(password.to_string());
                if let Some(decoded) = percent_decode(password)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                {
                    s.push(decoded);
                }
            }
        }
        s.retain(|x| !x.is_empty());
        s
    }
}

fn bad(signal: Signal, message: String) -> ExportError {
    ExportError::Config {
        signal: signal.as_str(),
        message,
    }
}

const PREFIX: &str = "OTEL_EXPORTER_OTLP_";

/// The first of the signal's and the generic variable of `setting` that is set and not
/// blank: `(name, value)`.
fn first_var(env: Lookup, signal: Signal, setting: &str) -> Option<(String, String)> {
    [
        format!("{PREFIX}{}_{setting}", signal.env_suffix()),
        format!("{PREFIX}{setting}"),
    ]
    .into_iter()
    .find_map(|name| {
        let v = env(&name).filter(|v| !v.trim().is_empty())?;
        Some((name, v))
    })
}

/// The transport: config file, then the signal's variable, then the generic one, then gRPC.
pub fn protocol(cfg: &OtlpConfig, signal: Signal, env: Lookup) -> Result<Protocol, ExportError> {
    if let Some(p) = cfg.protocol {
        return Ok(p);
    }
    match first_var(env, signal, "PROTOCOL") {
        Some((name, v)) => Protocol::parse(&v).ok_or_else(|| {
            bad(
                signal,
                format!("{name}=`{}`: expected `grpc` or `http/protobuf`", v.trim()),
            )
        }),
        None => Ok(Protocol::Grpc),
    }
}

/// Where requests go (see the module rules).
pub fn endpoint(
    cfg: &OtlpConfig,
    signal: Signal,
    protocol: Protocol,
    env: Lookup,
) -> Result<String, ExportError> {
    let signal_var = format!("{PREFIX}{}_ENDPOINT", signal.env_suffix());
    let generic_var = format!("{PREFIX}ENDPOINT");
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let (source, raw, append_path) = if let Some(e) = &cfg.endpoint {
        ("otlp.endpoint".to_string(), e.clone(), true)
    } else if let Some(v) = set(&signal_var) {
        (signal_var, v, false)
    } else if let Some(v) = set(&generic_var) {
        (generic_var, v, true)
    } else {
        let default = match protocol {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318",
        };
        ("default".to_string(), default.to_string(), true)
    };
    let raw = raw.trim();
    check_endpoint(raw).map_err(|why| {
        bad(
            signal,
            format!("{source}: endpoint `{}` {why}", redact_url(raw)),
        )
    })?;
    Ok(match protocol {
        Protocol::HttpProtobuf if append_path => {
            format!("{}{}", raw.trim_end_matches('/'), signal.path())
        }
        _ => raw.to_string(),
    })
}

/// Why an endpoint cannot be used, if it cannot.
pub fn check_endpoint(ep: &str) -> Result<(), &'static str> {
    if ep.trim().is_empty() {
        return Err("is empty");
    }
    let lower = ep.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(
            "has no http:// or https:// scheme: add `http://` (plain text) or `https://` (TLS)",
        );
    }
    match ep.parse::<tonic::codegen::http::Uri>() {
        Ok(uri) if uri.host().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err("has no host"),
        Err(_) => Err("is not a valid URL"),
    }
}

/// The request headers (see the module rules).
pub fn headers(
    cfg: &OtlpConfig,
    signal: Signal,
    protocol: Protocol,
    env: Lookup,
) -> Result<BTreeMap<String, Secret>, ExportError> {
    let mut out = BTreeMap::new();
    if let Some((name, value)) = first_var(env, signal, "HEADERS") {
        for (key, value) in
            parse_env_headers(&value, protocol).map_err(|e| bad(signal, format!("{name}: {e}")))?
        {
            out.insert(key, Secret(value));
        }
    }
    let mut from_file: BTreeMap<String, &str> = BTreeMap::new();
    for (key, value) in &cfg.headers {
        let lower = key.to_ascii_lowercase();
        let err = |why: &str| bad(signal, format!("otlp.headers: header `{key}`: {why}"));
        check_header_name(&lower, protocol).map_err(err)?;
        check_header_value(value.expose()).map_err(err)?;
        if let Some(other) = from_file.insert(lower.clone(), key) {
            return Err(err(&format!("`{other}` is the same header")));
        }
        out.insert(lower, value.clone());
    }
    Ok(out)
}

/// Parses a headers variable: `key=value` entries separated by commas, whitespace trimmed,
/// values percent-decoded. Empty entries (a trailing comma) are skipped; later keys win.
/// Errors name the entry by number and, when valid, key — never the value.
pub fn parse_env_headers(value: &str, protocol: Protocol) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, entry) in value.split(',').enumerate() {
        let n = i + 1;
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, raw)) = entry.split_once('=') else {
            return Err(format!("entry {n} is not `key=value`"));
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(format!("entry {n} has no key"));
        }
        check_header_name(&key, protocol).map_err(|why| format!("entry {n}: the key {why}"))?;
        let label = format!("entry {n} (`{key}`)");
        let decoded =
            percent_decode(raw.trim()).map_err(|why| format!("{label}: the value has {why}"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| format!("{label}: the decoded value is not UTF-8"))?;
        check_header_value(&decoded).map_err(|why| format!("{label}: the value {why}"))?;
        out.retain(|(k, _)| *k != key);
        out.push((key, decoded));
    }
    Ok(out)
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is an error.
pub fn percent_decode(s: &str) -> Result<Vec<u8>, &'static str> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a `%` not followed by two hex digits (bad percent-encoding)")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Why `name` (lower-case) cannot be a header name on `protocol`, if it cannot.
pub fn check_header_name(name: &str, protocol: Protocol) -> Result<(), &'static str> {
    use tonic::metadata::{Ascii, MetadataKey};
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err("is not a valid header name");
    }
    if protocol == Protocol::Grpc && MetadataKey::<Ascii>::from_bytes(name.as_bytes()).is_err() {
        return Err("is not a valid gRPC metadata name (`-bin` names are not supported)");
    }
    Ok(())
}

/// Why `value` cannot be a header value, if it cannot. Both protocols take the same values:
/// printable ASCII, space and tab (gRPC's ASCII metadata; HTTP would also pass other bytes on,
/// which servers treat as opaque at best).
pub fn check_header_value(value: &str) -> Result<(), &'static str> {
    if value
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        Ok(())
    } else {
        Err("is not a valid header value (control characters such as a newline, or non-ASCII)")
    }
}

/// Timeout of one export: config file (more than 0s), then the variables (whole
/// milliseconds, more than 0, at most the config file's limit), then 10 s.
pub fn timeout(cfg: &OtlpConfig, signal: Signal, env: Lookup) -> Result<Duration, ExportError> {
    if let Some(t) = cfg.timeout {
        if t.is_zero() {
            return Err(bad(signal, "otlp.timeout: must be more than 0s".into()));
        }
        return Ok(t);
    }
    let Some((name, v)) = first_var(env, signal, "TIMEOUT") else {
        return Ok(DEFAULT_TIMEOUT);
    };
    let max = crate::config::limits::OTLP_TIMEOUT;
    match v.trim().parse::<u64>() {
        Ok(ms) if ms > 0 && Duration::from_millis(ms) <= max => Ok(Duration::from_millis(ms)),
        _ => Err(bad(
            signal,
            format!(
                "{name}=`{}`: expected a whole number of milliseconds, more than 0 and at most \
                 {} (e.g. 10000)",
                v.trim(),
                max.as_millis()
            ),
        )),
    }
}

/// The CA file: config file, then the signal's variable, then the generic one.
pub fn certificate(cfg: &OtlpConfig, signal: Signal, env: Lookup) -> Option<PathBuf> {
    cfg.certificate
        .clone()
        .or_else(|| first_var(env, signal, "CERTIFICATE").map(|(_, v)| PathBuf::from(v)))
}

/// The scheme (`http://`) of a URL, if it starts with a valid one.
fn scheme_len(url: &str) -> usize {
    let Some(i) = url.find("://") else {
        return 0;
    };
    let scheme = &url[..i];
    let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        i + 3
    } else {
        0
    }
}

/// The userinfo (`user:password`) of a URL, with or without scheme.
fn userinfo(url: &str) -> Option<&str> {
    let rest = &url[scheme_len(url)..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| &authority[..at])
}

/// A URL fit for messages: the password of its userinfo replaced by `***`
/// (`http://user:***@host:4317`); a userinfo without password — often a token — is replaced
/// whole (`http://***@host`).
pub fn redact_url(url: &str) -> String {
    let start = scheme_len(url);
    let Some(info) = userinfo(url) else {
        return url.to_string();
    };
    let shown = match info.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_string(),
    };
    format!("{}{shown}{}", &url[..start], &url[start + info.len()..])
}

/// Text fit for messages: every URL's userinfo redacted as by [`redact_url`], and each of
/// `secrets` of 4 characters or more replaced by `***` wherever it appears (shorter ones
/// would mangle the message; they are still redacted inside URLs).
pub fn scrub(text: &str, secrets: &[String]) -> String {
    static URL_USERINFO: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let re = URL_USERINFO
        .get_or_init(|| regex::Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/?#@\s]*)@").ok());
    let mut out = match re {
        Some(re) => re
            .replace_all(text, |c: &regex::Captures| {
                let shown = match c[2].split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => "***".to_string(),
                };
                format!("{}{shown}@", &c[1])
            })
            .into_owned(),
        // The pattern is a constant that compiles; if it ever did not, show nothing.
        None => return "(details hidden)".to_string(),
    };
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.chars().count() >= 4).collect();
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn resolve(cfg: &OtlpConfig, vars: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::resolve(cfg, Signal::Traces, &env(vars)).map_err(|e| e.to_string())
    }

    fn headers_of(s: &Settings) -> Vec<(&str, &str)> {
        s.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect()
    }

    #[test]
    fn redact_url_hides_the_password_or_a_lone_user() {
        for (url, shown) in [
            (
                "http://u:hunter2@collector:4317",
                "http://u:***@collector:4317",
            ),
            (
                "https://u:p%40ss@collector:4318/v1/traces?x=a@b",
                "https://u:***@collector:4318/v1/traces?x=a@b",
            ),
            ("https://tok3n@collector", "https://***@collector"),
            ("u:hunter2@collector:4317", "u:***@collector:4317"),
            ("http://collector:4317/a@b", "http://collector:4317/a@b"),
            ("http://localhost:4317", "http://localhost:4317"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn scrub_hides_userinfo_and_known_secrets_in_any_text() {
        let msg = "error sending request for url (http://u:hunter2@127.0.0.1:1/v1/traces): \
                   refused; token s3cr3t-value; short ab";
        let out = scrub(msg, &["s3cr3t-value".into(), "ab".into()]);
        assert_eq!(
            out,
            "error sending request for url (http://u:***@127.0.0.1:1/v1/traces): \
             refused; token ***; short ab"
        );
        assert_eq!(scrub("HTTPS://tok@h", &[]), "HTTPS://***@h");
    }

    #[test]
    fn defaults_when_nothing_is_set_or_variables_are_empty() {
        let cfg = OtlpConfig::default();
        let empty = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", " "),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", ""),
            ("OTEL_EXPORTER_OTLP_HEADERS", ""),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", ""),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ""),
        ];
        for vars in [&[][..], &empty[..]] {
            let s = resolve(&cfg, vars).unwrap();
            assert_eq!(s.protocol, Protocol::Grpc);
            assert_eq!(s.endpoint, "http://localhost:4317");
            assert!(s.headers.is_empty());
            assert_eq!(s.timeout, DEFAULT_TIMEOUT);
            assert_eq!(s.certificate, None);
        }
        let http = OtlpConfig {
            protocol: Some(Protocol::HttpProtobuf),
            ..Default::default()
        };
        let s = resolve(&http, &empty).unwrap();
        assert_eq!(s.endpoint, "http://localhost:4318/v1/traces");
    }

    #[test]
    fn endpoint_precedence_and_http_paths() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:4318/custom",
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ];
        let cfg = OtlpConfig::default();
        let s = resolve(&cfg, &vars).unwrap();
        assert_eq!(s.endpoint, "http://generic:4318/v1/traces");
        let m = Settings::resolve(&cfg, Signal::Metrics, &env(&vars)).unwrap();
        assert_eq!(
            m.endpoint, "http://m:4318/custom",
            "the signal's variable is used as is"
        );
        let file = OtlpConfig {
            endpoint: Some("https://file:4318".into()),
            ..Default::default()
        };
        assert_eq!(
            resolve(&file, &vars).unwrap().endpoint,
            "https://file:4318/v1/traces"
        );
    }

    #[test]
    fn an_endpoint_without_scheme_or_empty_in_the_file_is_an_error() {
        for var in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            let err =
                resolve(&OtlpConfig::default(), &[(var, "u:hunter2@collector:4317")]).unwrap_err();
            assert!(err.contains(var), "{err}");
            assert!(err.contains("http://") && err.contains("https://"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = resolve(
            &OtlpConfig::default(),
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://")],
        )
        .unwrap_err();
        assert!(err.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
        let file = OtlpConfig {
            endpoint: Some(String::new()),
            ..Default::default()
        };
        let err = resolve(&file, &[]).unwrap_err();
        assert!(
            err.contains("otlp.endpoint") && err.contains("empty"),
            "{err}"
        );
    }

    #[test]
    fn env_headers_are_decoded_trimmed_and_the_file_wins_per_name() {
        let mut cfg = OtlpConfig::default();
        cfg.headers
            .insert("X-Team".into(), Secret("from%20file".into()));
        let s = resolve(
            &cfg,
            &[(
                "OTEL_EXPORTER_OTLP_HEADERS",
                " api-key = a%3Db%2Cc%20d , x-team=env,",
            )],
        )
        .unwrap();
        assert_eq!(
            headers_of(&s),
            [("api-key", "a=b,c d"), ("x-team", "from%20file")]
        );
    }

    #[test]
    fn the_signal_headers_variable_replaces_the_generic_one() {
        let vars = [
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3"),
        ];
        let s = resolve(&OtlpConfig::default(), &vars).unwrap();
        assert_eq!(headers_of(&s), [("c", "3")]);
        let m = Settings::resolve(&OtlpConfig::default(), Signal::Metrics, &env(&vars)).unwrap();
        assert_eq!(headers_of(&m), [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn malformed_env_headers_name_the_variable_and_entry_never_the_value() {
        for (var, value, expect) in [
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "ok=1,hunter2",
                "entry 2 is not `key=value`",
            ),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                "=hunter2",
                "entry 1 has no key",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "k=hunter2%zz",
                "entry 1 (`k`)",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "k=hunter2%4",
                "percent-encoding",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "k=hunter2%0A",
                "entry 1 (`k`): the value",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "k=hunter2%FF", "not UTF-8"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "bad key=hunter2",
                "entry 1: the key",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-bin=hunter2", "gRPC"),
        ] {
            let err = resolve(&OtlpConfig::default(), &[(var, value)]).unwrap_err();
            assert!(err.contains(var) && err.contains(expect), "{value}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn invalid_file_headers_name_the_header_not_the_value() {
        for (name, value) in [("x-key", "hun\nter2"), ("x-key", "hunté"), ("bad key", "v")] {
            for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
                let mut cfg = OtlpConfig {
                    protocol: Some(protocol),
                    ..Default::default()
                };
                cfg.headers.insert(name.into(), Secret(value.into()));
                let err = resolve(&cfg, &[]).unwrap_err();
                assert!(err.contains(&format!("`{name}`")), "{err}");
                assert!(!err.contains("hun"), "{err}");
            }
        }
        let mut cfg = OtlpConfig::default();
        cfg.headers.insert("X-Key".into(), Secret("a".into()));
        cfg.headers.insert("x-key".into(), Secret("b".into()));
        let err = resolve(&cfg, &[]).unwrap_err();
        assert!(err.contains("same header"), "{err}");
    }

    #[test]
    fn timeouts_from_variables_are_milliseconds_and_bad_ones_are_errors() {
        let cfg = OtlpConfig::default();
        let s = resolve(
            &cfg,
            &[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "1"),
            ],
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_millis(2500));
        for (var, v) in [
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "abc"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "3600000"),
        ] {
            let err = resolve(&cfg, &[(var, v)]).unwrap_err();
            assert!(err.contains(var), "{err}");
        }
        let file = OtlpConfig {
            timeout: Some(Duration::ZERO),
            ..Default::default()
        };
        assert!(resolve(&file, &[]).unwrap_err().contains("otlp.timeout"));
        let file = OtlpConfig {
            timeout: Some(Duration::from_secs(3)),
            ..Default::default()
        };
        let s = resolve(&file, &[("OTEL_EXPORTER_OTLP_TIMEOUT", "abc")]).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(3), "the file wins");
    }

    #[test]
    fn secrets_cover_header_values_and_the_url_password() {
        let mut cfg = OtlpConfig {
            endpoint: Some("http://u:p%40ss@h:1".into()),
            ..Default::default()
        };
        cfg.headers.insert("k".into(), Secret("v1".into()));
        let s = resolve(&cfg, &[]).unwrap();
        assert!(!format!("{s:?}").contains("p%40ss"), "{s:?}");
        let secrets = s.secrets();
        for x in ["v1", "u:p%40ss", "p%40ss", "p@ss"] {
            assert!(secrets.iter().any(|s| s == x), "{x}: {secrets:?}");
        }
    }
}
