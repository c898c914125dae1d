//! Pure conversion shared by the sources: model → OpenTelemetry spans (`spans`), and helpers
//! for each source's own `convert.rs` (records → [`crate::model`]).
//!
//! Nothing here does I/O, reads the clock or logs: every function takes what it needs
//! (including "now") as arguments, so each case is a snapshot test.

pub mod spans;

use regex::Regex;
use std::sync::OnceLock;

/// Exception class named in an error message (`java.lang.OutOfMemoryError`,
/// `AnalysisException`), skipping wrappers such as py4j's when a real cause follows.
pub fn error_type_from_message(message: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"\b((?:[A-Za-z_][A-Za-z0-9_$]*\.)*[A-Z][A-Za-z0-9_$]*(?:Exception|Error))\b")
            .expect("valid regex")
    });
    const WRAPPERS: &[&str] = &["py4j.protocol.Py4JJavaError", "Py4JJavaError"];
    let mut found = re.find_iter(message).map(|m| m.as_str());
    let first = found.next()?;
    if WRAPPERS.contains(&first) {
        if let Some(inner) = found.find(|m| !WRAPPERS.contains(m)) {
            return Some(inner.to_string());
        }
    }
    Some(first.to_string())
}

/// The console's host for a region (China and GovCloud partitions differ).
pub fn console_host(region: &str) -> String {
    if region.starts_with("cn-") {
        format!("{region}.console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        format!("{region}.console.amazonaws-us-gov.com")
    } else {
        format!("{region}.console.aws.amazon.com")
    }
}

/// Percent-encodes everything but unreserved characters, for URL fragments.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_classes() {
        let cases = [
            ("An error occurred while calling o123.pyWriteDynamicFrame. java.lang.OutOfMemoryError: Java heap space", Some("java.lang.OutOfMemoryError")),
            ("py4j.protocol.Py4JJavaError: An error occurred: org.apache.spark.SparkException: Job aborted", Some("org.apache.spark.SparkException")),
            ("AnalysisException: Path does not exist: s3://b/k", Some("AnalysisException")),
            ("Command failed with exit code 1", None),
            ("", None),
        ];
        for (msg, want) in cases {
            assert_eq!(error_type_from_message(msg).as_deref(), want, "{msg}");
        }
    }
}
