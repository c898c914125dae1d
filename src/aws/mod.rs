//! What every source shares to reach AWS: API call counting, errors, paging helpers. Each
//! source's own `aws.rs` makes its calls and maps SDK responses to its records.

pub mod credentials;

use crate::errors::error_chain;
use crate::records::Millis;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::DateTime;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// How one AWS request attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Success,
    Throttled,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Throttled => "throttled",
            Outcome::Error => "error",
        }
    }
}

/// Receives every AWS request attempt (service, operation, outcome).
pub trait ApiObserver: Send + Sync + fmt::Debug {
    fn record(&self, service: &str, operation: &str, outcome: Outcome);
}

/// Per-API request counts, kept for logs and summaries (metrics get their own copy).
#[derive(Debug, Default)]
pub struct ApiCounts {
    counts: Mutex<BTreeMap<(String, String, Outcome), u64>>,
}

impl ApiCounts {
    /// `(service, operation, outcome) → count` so far.
    pub fn snapshot(&self) -> BTreeMap<(String, String, Outcome), u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// One line: `glue.GetJobRuns=3 sfn.ListExecutions=2 (throttled 1)`.
    pub fn summary(&self) -> String {
        let mut per_op: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for ((svc, op, outcome), n) in self.snapshot() {
            let e = per_op.entry(format!("{svc}.{op}")).or_default();
            e.0 += n;
            if outcome == Outcome::Throttled {
                e.1 += n;
            }
        }
        per_op
            .into_iter()
            .map(|(k, (n, t))| {
                if t > 0 {
                    format!("{k}={n} (throttled {t})")
                } else {
                    format!("{k}={n}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl ApiObserver for ApiCounts {
    fn record(&self, service: &str, operation: &str, outcome: Outcome) {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry((service.to_string(), operation.to_string(), outcome))
                .or_default() += 1;
        }
    }
}

/// SDK interceptor that reports every request attempt, retries included, to the observers.
#[derive(Debug, Clone)]
pub struct CallCounter {
    observers: Vec<Arc<dyn ApiObserver>>,
}

impl CallCounter {
    pub fn new(observers: Vec<Arc<dyn ApiObserver>>) -> Self {
        CallCounter { observers }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "pipeline-otel-bridge::CallCounter"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let outcome = match context.response() {
            Some(r) if r.status().is_success() => Outcome::Success,
            Some(r) => {
                let header = r.headers().get("x-amzn-errortype").unwrap_or_default();
                let body = r
                    .body()
                    .bytes()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                if r.status().as_u16() == 429 || is_throttle_code(header) || is_throttle_code(&body)
                {
                    Outcome::Throttled
                } else {
                    Outcome::Error
                }
            }
            None => Outcome::Error,
        };
        for o in &self.observers {
            // `EMR Serverless` → `emrserverless`: one word, like `glue`, `sfn`, `sts`.
            o.record(
                &service.to_ascii_lowercase().replace(' ', ""),
                &operation,
                outcome,
            );
        }
        Ok(())
    }
}

/// Error codes AWS uses for throttling (Glue, Step Functions, STS, EMR).
pub fn is_throttle_code(s: &str) -> bool {
    [
        "Throttling",
        "TooManyRequests",
        "RequestLimitExceeded",
        "SlowDown",
    ]
    .iter()
    .any(|c| s.contains(c))
}

/// The `code` (and `error.type`) of a call that failed because the account's role could not be
/// assumed.
pub const ASSUME_ROLE_FAILED: &str = "AssumeRoleFailed";

/// What went wrong calling AWS, with enough context to act on.
#[derive(Debug, Clone, thiserror::Error)]
/// Its Display escapes what came from AWS (code, message, region), so no `{e}` can carry a
/// terminal escape into a log or a terminal.
#[error(
    "AWS {service} {operation} failed ({}): {}: {}",
    crate::sanitize::Escaped(region),
    crate::sanitize::Escaped(code),
    crate::sanitize::Escaped(message)
)]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub region: String,
    /// AWS error code (`AccessDeniedException`, `ThrottlingException`, …) or the SDK's kind.
    pub code: String,
    pub message: String,
}

impl AwsError {
    /// Builds from any SDK error, keeping its code and message.
    pub fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        region: &str,
        err: aws_smithy_runtime_api::client::result::SdkError<E, R>,
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        // The account's role could not be assumed: that, not the call, is what failed.
        if let Some(r) = credentials::role_error_in(&err) {
            return AwsError {
                service,
                operation,
                region: region.to_string(),
                // A throttled AssumeRole is throttling (error.type `throttled`), not a refusal.
                code: if is_throttle_code(&r.code) {
                    r.code.clone()
                } else {
                    ASSUME_ROLE_FAILED.to_string()
                },
                message: format!(
                    "cannot assume role {} ({}: {}); fix: {}",
                    r.role_arn,
                    r.code,
                    r.message,
                    r.fix()
                ),
            };
        }
        let (code, message) = match &err {
            SdkError::ServiceError(e) => (
                e.err().code().unwrap_or("ServiceError").to_string(),
                e.err().message().unwrap_or_default().to_string(),
            ),
            SdkError::TimeoutError(_) => (
                "Timeout".to_string(),
                "no answer within aws.operation_timeout / aws.read_timeout".to_string(),
            ),
            SdkError::DispatchFailure(e) => {
                let detail = e
                    .as_connector_error()
                    .map(|c| error_chain(c))
                    .unwrap_or_default();
                if e.is_timeout() {
                    (
                        "Timeout".to_string(),
                        format!(
                            "no answer within aws.connect_timeout / aws.read_timeout ({detail})"
                        ),
                    )
                } else if e.is_io() {
                    ("ConnectionError".to_string(), detail)
                } else {
                    ("DispatchFailure".to_string(), detail)
                }
            }
            other => ("SdkError".to_string(), error_chain(other)),
        };
        AwsError {
            service,
            operation,
            region: region.to_string(),
            code,
            message,
        }
    }

    /// Low-cardinality `error.type` for `cicd.system.errors`.
    pub fn error_type(&self) -> String {
        if is_throttle_code(&self.code) {
            "throttled".to_string()
        } else {
            self.code.clone()
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code.contains("NotFound") || self.code == "ExecutionDoesNotExist"
    }
}

/// The token of the next page; AWS ends paging with a missing or empty token.
pub fn next_token(t: Option<&str>) -> Option<String> {
    t.filter(|t| !t.is_empty()).map(str::to_string)
}

/// SDK time → [`Millis`].
pub fn millis(t: &DateTime) -> Millis {
    Millis::from_secs_nanos(t.secs(), t.subsec_nanos())
}

/// Decides whether paging may stop, without trusting the API's order.
///
/// AWS lists runs newest first, so once a run older than the cutoff appears, the rest are
/// older. moto lists them oldest first. Paging stops early only while every start time seen so
/// far was non-increasing; any increase means the order is not newest-first and all pages are
/// read.
#[derive(Debug, Default)]
pub struct PageCutoff {
    last: Option<Millis>,
    descending: bool,
    reached: bool,
}

impl PageCutoff {
    pub fn new() -> Self {
        PageCutoff {
            last: None,
            descending: true,
            reached: false,
        }
    }

    /// Feeds the start times of one page, in the order received.
    pub fn observe(&mut self, starts: impl IntoIterator<Item = Millis>, cutoff: Millis) {
        for s in starts {
            if let Some(l) = self.last {
                if s > l {
                    self.descending = false;
                }
            }
            self.last = Some(s);
            if s < cutoff {
                self.reached = true;
            }
        }
    }

    /// True when the remaining pages can only hold runs older than the cutoff.
    pub fn can_stop(&self) -> bool {
        self.descending && self.reached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_stops_only_when_newest_first() {
        let mut p = PageCutoff::new();
        p.observe([Millis(50), Millis(40), Millis(5)], Millis(10));
        assert!(p.can_stop());
        let mut p = PageCutoff::new();
        p.observe([Millis(5), Millis(40), Millis(50)], Millis(10));
        assert!(!p.can_stop(), "oldest-first order must page everything");
        let mut p = PageCutoff::new();
        p.observe([Millis(50), Millis(40)], Millis(10));
        assert!(!p.can_stop());
    }
}
