//! Credentials of a watched account reached through a role: the SDK's `AssumeRoleProvider`
//! (STS AssumeRole with the ExternalId and session name of the config), counted as an API
//! call, with a failure held for a while so that a role that cannot be assumed costs one
//! AssumeRole per hold, not one per pipeline or per call.
//!
//! Caching and refreshing the credentials is the SDK's lazy identity cache, one per account
//! shared by every client of every region (see [`account_sdk_config`]): one role session per
//! account, renewed five minutes before it expires.

use super::{is_throttle_code, ApiObserver, Outcome};
use aws_credential_types::provider::{
    self, error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The IAM action the bridge's own identity needs on each configured role.
pub const IAM_ACTION: &str = "sts:AssumeRole";

/// How long before they expire assumed credentials are renewed.
pub const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// Why a role could not be assumed: STS's error code and message, the role, and what to do.
/// Found in the source chain of an SDK error by [`super::AwsError::from_sdk`].
#[derive(Debug, Clone)]
pub struct RoleError {
    pub role_arn: String,
    /// STS's code (`AccessDenied`, `InvalidClientTokenId`, …), or the SDK's kind of failure.
    pub code: String,
    pub message: String,
}

impl fmt::Display for RoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot assume role {}: {}: {}",
            crate::sanitize::Escaped(&self.role_arn),
            crate::sanitize::Escaped(&self.code),
            crate::sanitize::Escaped(&self.message)
        )
    }
}

impl std::error::Error for RoleError {}

impl RoleError {
    /// What to change, for `check` and logs.
    pub fn fix(&self) -> &'static str {
        let c = self.code.as_str();
        if c.contains("AccessDenied") {
            "the role's trust policy must allow the bridge's identity to call sts:AssumeRole \
             (with the configured external_id as sts:ExternalId, if any), and the bridge's own \
             policy must allow sts:AssumeRole on the role: `pipeline-otel-bridge iam-policy` \
             prints both"
        } else if is_throttle_code(c) {
            "STS throttled the request; it is retried on the next cycle"
        } else if c.contains("InvalidClientTokenId")
            || c.contains("ExpiredToken")
            || c.contains("SignatureDoesNotMatch")
        {
            "the bridge's own (ambient) credentials are invalid or expired"
        } else if c.contains("RegionDisabled") {
            "STS is not enabled in this region for the account (IAM → account settings)"
        } else {
            "see the error; `pipeline-otel-bridge check` retries it"
        }
    }
}

/// The SDK's `AssumeRoleProvider` for one role, counted, one call at a time, with failures
/// held and the last good session kept while it is valid.
pub struct RoleCredentials {
    state: Arc<RoleState>,
}

struct RoleState {
    inner: aws_config::sts::AssumeRoleProvider,
    role_arn: String,
    observers: Vec<Arc<dyn ApiObserver>>,
    /// After a failure, further requests get the same error (or the last good session) without
    /// calling STS this long.
    hold: Duration,
    last_failure: Mutex<Option<(Instant, RoleError)>>,
    /// The last session STS granted: served while valid when a renewal fails.
    last_good: Mutex<Option<aws_credential_types::Credentials>>,
    /// One AssumeRole at a time: concurrent requests wait for its outcome.
    single: tokio::sync::Mutex<()>,
}

impl fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No ExternalId, no credentials.
        write!(f, "RoleCredentials({})", self.state.role_arn)
    }
}

/// A session is served from `last_good` only with at least this much validity left.
const MIN_VALIDITY: Duration = Duration::from_secs(30);

impl RoleCredentials {
    /// `base`: the ambient configuration (its credentials call STS, in `region`). Its operation
    /// timeout is cut to one attempt's (`attempt_timeout`), so a silent STS answers within the
    /// time one call of a source may wait.
    #[allow(clippy::too_many_arguments)]
    pub async fn new(
        base: &aws_config::SdkConfig,
        role_arn: &str,
        external_id: Option<&str>,
        session_name: &str,
        region: &str,
        observers: Vec<Arc<dyn ApiObserver>>,
        hold: Duration,
        (connect_timeout, attempt_timeout): (Duration, Duration),
    ) -> Self {
        let sts_base = base
            .to_builder()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(connect_timeout)
                    .read_timeout(attempt_timeout)
                    .operation_attempt_timeout(attempt_timeout)
                    .operation_timeout(attempt_timeout)
                    .build(),
            )
            .build();
        let mut b = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .configure(&sts_base)
            .region(aws_config::Region::new(region.to_string()))
            .session_name(session_name);
        if let Some(id) = external_id {
            b = b.external_id(id);
        }
        RoleCredentials {
            state: Arc::new(RoleState {
                inner: b.build().await,
                role_arn: role_arn.to_string(),
                observers,
                hold,
                last_failure: Mutex::new(None),
                last_good: Mutex::new(None),
                single: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The failure still held, if any.
    pub fn held_failure(&self) -> Option<RoleError> {
        self.state.held_failure()
    }

    async fn load(&self) -> provider::Result {
        if let Some(c) = self.state.fast_path() {
            return c;
        }
        // In a task of its own: the request that asked may be cut by its own time-out, the
        // AssumeRole goes on and its outcome is recorded (and held) for the next ones.
        let state = self.state.clone();
        match tokio::spawn(async move { state.fetch().await }).await {
            Ok(r) => r,
            Err(e) => Err(CredentialsError::provider_error(RoleError {
                role_arn: self.state.role_arn.clone(),
                code: "Internal".into(),
                message: e.to_string(),
            })),
        }
    }
}

impl RoleState {
    fn held_failure(&self) -> Option<RoleError> {
        let g = self.last_failure.lock().ok()?;
        g.as_ref()
            .filter(|(at, _)| at.elapsed() < self.hold)
            .map(|(_, e)| e.clone())
    }

    /// The last good session, if valid for at least [`MIN_VALIDITY`].
    fn still_good(&self) -> Option<aws_credential_types::Credentials> {
        let g = self.last_good.lock().ok()?;
        g.as_ref()
            .filter(|c| {
                c.expiry().is_none_or(|e| {
                    e.duration_since(std::time::SystemTime::now())
                        .is_ok_and(|left| left >= MIN_VALIDITY)
                })
            })
            .cloned()
    }

    /// While a failure is held: the last good session, else the failure.
    fn fast_path(&self) -> Option<provider::Result> {
        let e = self.held_failure()?;
        Some(
            self.still_good()
                .ok_or_else(|| CredentialsError::provider_error(e)),
        )
    }

    async fn fetch(&self) -> provider::Result {
        let _one = self.single.lock().await;
        if let Some(c) = self.fast_path() {
            return c;
        }
        let r = self.inner.provide_credentials().await;
        let outcome = match &r {
            Ok(_) => Outcome::Success,
            Err(e) if is_throttle_code(&self.role_error(e).code) => Outcome::Throttled,
            Err(_) => Outcome::Error,
        };
        for o in &self.observers {
            o.record("sts", "AssumeRole", outcome);
        }
        match r {
            Ok(c) => {
                if let Ok(mut g) = self.last_failure.lock() {
                    *g = None;
                }
                if let Ok(mut g) = self.last_good.lock() {
                    *g = Some(c.clone());
                }
                Ok(c)
            }
            Err(e) => {
                let err = self.role_error(&e);
                if let Ok(mut g) = self.last_failure.lock() {
                    *g = Some((Instant::now(), err.clone()));
                }
                // A renewal that failed while the session still holds: keep using it.
                self.still_good()
                    .ok_or_else(|| CredentialsError::provider_error(err))
            }
        }
    }

    /// STS's code and message from the provider's error.
    fn role_error(&self, e: &CredentialsError) -> RoleError {
        type StsError = aws_smithy_runtime_api::client::result::SdkError<
            aws_sdk_sts::operation::assume_role::AssumeRoleError,
            aws_smithy_runtime_api::http::Response,
        >;
        let sdk = std::error::Error::source(e).and_then(|s| s.downcast_ref::<StsError>());
        let (code, message) = match sdk {
            Some(aws_smithy_runtime_api::client::result::SdkError::ServiceError(s)) => (
                s.err().code().unwrap_or("ServiceError").to_string(),
                s.err().message().unwrap_or_default().to_string(),
            ),
            Some(aws_smithy_runtime_api::client::result::SdkError::TimeoutError(_)) => (
                "Timeout".to_string(),
                "no answer from STS within aws.operation_timeout / aws.read_timeout".to_string(),
            ),
            Some(aws_smithy_runtime_api::client::result::SdkError::DispatchFailure(d)) => (
                if d.is_timeout() {
                    "Timeout"
                } else {
                    "ConnectionError"
                }
                .to_string(),
                crate::errors::error_chain(e),
            ),
            Some(other) => ("SdkError".to_string(), crate::errors::error_chain(other)),
            None => (
                "CredentialsError".to_string(),
                crate::errors::error_chain(e),
            ),
        };
        RoleError {
            role_arn: self.role_arn.clone(),
            code,
            message,
        }
    }
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.load())
    }
}

/// The configuration of one watched account: `base` with the role's credentials behind a lazy
/// identity cache of its own. Every client built from it (or from a copy with another region)
/// shares that cache, so the account has one role session, renewed before it expires.
pub fn account_sdk_config(
    base: &aws_config::SdkConfig,
    role: Arc<RoleCredentials>,
    load_timeout: Duration,
) -> aws_config::SdkConfig {
    base.to_builder()
        .credentials_provider(SharedCredentialsProvider::new(SharedRole(role)))
        .identity_cache(
            aws_config::identity::IdentityCache::lazy()
                .buffer_time(RENEW_BEFORE_EXPIRY)
                .load_timeout(load_timeout)
                .build(),
        )
        .build()
}

/// [`RoleCredentials`] behind an `Arc` (kept by the account for `check` and health).
#[derive(Debug)]
struct SharedRole(Arc<RoleCredentials>);

impl ProvideCredentials for SharedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        self.0.provide_credentials()
    }
}

/// The [`RoleError`] in an error's source chain, if a role could not be assumed.
pub fn role_error_in<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a RoleError> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(r) = c.downcast_ref::<RoleError>() {
            return Some(r);
        }
        cur = c.source();
    }
    None
}
