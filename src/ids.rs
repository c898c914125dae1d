//! Deterministic trace and span ids.
//!
//! An id is the first bytes of SHA-256 over a namespaced, `|`-delimited string, so re-polling,
//! a restart or a second bridge instance sends the very same ids (Tempo then de-duplicates):
//!
//! ```text
//! run key   = "v1|{kind}|{account}|{region}|{pipeline}|{run id}|{attempt}"
//! trace id  = sha256(run key)[0..16]
//! root span = sha256(run key + "|root")[0..8]
//! task span = sha256(run key + "|task|" + task run id)[0..8]
//! ```
//! `docs/ids.md` shows how to compute them by hand.

use crate::model::PipelineKind;
use opentelemetry::trace::{SpanId, TraceId};
use sha2::{Digest, Sha256};

/// The identity of one run attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunKey(String);

impl RunKey {
    pub fn new(
        kind: PipelineKind,
        account: &str,
        region: &str,
        pipeline: &str,
        run_id: &str,
        attempt: u32,
    ) -> Self {
        RunKey(format!(
            "v1|{kind}|{account}|{region}|{pipeline}|{run_id}|{attempt}"
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn trace_id(&self) -> TraceId {
        TraceId::from_bytes(first::<16>(&self.0))
    }

    pub fn root_span_id(&self) -> SpanId {
        SpanId::from_bytes(first::<8>(&format!("{}|root", self.0)))
    }

    pub fn task_span_id(&self, task_run_id: &str) -> SpanId {
        SpanId::from_bytes(first::<8>(&format!("{}|task|{task_run_id}", self.0)))
    }
}

fn first<const N: usize>(s: &str) -> [u8; N] {
    let digest = Sha256::digest(s.as_bytes());
    let mut out = [0u8; N];
    out.copy_from_slice(&digest[..N]);
    // An all-zero id is invalid in OpenTelemetry; SHA-256 yields one with negligible odds,
    // but never send it.
    if out.iter().all(|b| *b == 0) {
        out[N - 1] = 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_documented() {
        let k = RunKey::new(
            crate::sources::glue_job::KIND,
            "123456789012",
            "us-east-1",
            "orders-etl",
            "jr_abc",
            0,
        );
        assert_eq!(
            k.as_str(),
            "v1|glue-job|123456789012|us-east-1|orders-etl|jr_abc|0"
        );
        // Computed with coreutils, as docs/ids.md shows:
        // printf '%s' 'v1|glue-job|123456789012|us-east-1|orders-etl|jr_abc|0' | sha256sum | cut -c1-32
        assert_eq!(k.trace_id().to_string(), "7330257b6a2b8380d76e7eb733a64998");
        // printf '%s' '…|0|root' | sha256sum | cut -c1-16
        assert_eq!(k.root_span_id().to_string(), "4ae8917a3c67015e");
        // printf '%s' '…|0|task|7' | sha256sum | cut -c1-16
        assert_eq!(k.task_span_id("7").to_string(), "1ece8ffae4b61254");
    }

    #[test]
    fn delimiters_prevent_collisions() {
        let a = RunKey::new(crate::sources::glue_job::KIND, "1", "r", "ab", "c", 0);
        let b = RunKey::new(crate::sources::glue_job::KIND, "1", "r", "a", "bc", 0);
        assert_ne!(a.trace_id(), b.trace_id());
        assert_ne!(a.task_span_id("1"), a.task_span_id("2"));
    }
}
