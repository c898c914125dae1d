//! The one time type of AWS records ([`Millis`]).
//!
//! Each source keeps its records in its wire shape in its own `records.rs`
//! (`sources/*/records.rs`): its `aws.rs` fills them from SDK responses and the test fixtures
//! deserialize them from the JSON the AWS APIs send (timestamps as epoch seconds), so
//! conversion code never sees an SDK type and every fixture is a real API answer.

use serde::{Deserialize, Deserializer, Serialize};

/// Milliseconds since the Unix epoch: the one time type past the `aws` layer.
///
/// AWS sends epoch seconds as floats and moto's `…39.35` arrives as `…39.349999`, so every
/// timestamp is rounded to whole milliseconds before it is compared or hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Millis(pub i64);

impl Millis {
    /// Rounds epoch seconds (as AWS sends them) to milliseconds.
    pub fn from_epoch_secs(secs: f64) -> Self {
        Millis((secs * 1000.0).round() as i64)
    }

    /// Whole-second plus nanosecond parts, as the SDK's `DateTime` carries them; saturates
    /// for absurd times.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Millis(
            secs.saturating_mul(1000)
                .saturating_add((i64::from(nanos) + 500_000) / 1_000_000),
        )
    }

    /// Converts to a `SystemTime`; times before the epoch clamp to the epoch.
    pub fn to_system_time(self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.0.max(0) as u64)
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Millis(d.as_millis() as i64)
    }

    /// Seconds between `self` and a later time (0 when `later` is earlier).
    pub fn secs_until(self, later: Millis) -> f64 {
        later.0.saturating_sub(self.0).max(0) as f64 / 1000.0
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Millis::from_epoch_secs(f64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_times_saturate_instead_of_overflowing() {
        assert_eq!(
            Millis::from_secs_nanos(i64::MAX, 999_999_999),
            Millis(i64::MAX)
        );
        assert_eq!(Millis::from_secs_nanos(i64::MIN, 0), Millis(i64::MIN));
        assert_eq!(Millis::from_secs_nanos(2, 500_000), Millis(2001));
        assert_eq!(
            Millis(i64::MIN).secs_until(Millis(i64::MAX)),
            i64::MAX as f64 / 1000.0
        );
        assert_eq!(Millis(i64::MAX).secs_until(Millis(i64::MIN)), 0.0);
    }

    #[test]
    fn moto_float_timestamps_round_to_millis() {
        assert_eq!(
            Millis::from_epoch_secs(1_700_000_039.349_999),
            Millis(1_700_000_039_350)
        );
        assert_eq!(Millis::from_secs_nanos(1, 999_600_000), Millis(2000));
    }
}
