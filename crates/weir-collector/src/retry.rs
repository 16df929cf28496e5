//! How often a collector retries a failed event, and how long it waits between.

use std::time::Duration;

/// A collector's retry policy: how many attempts an event gets, and the
/// exponential backoff between them.
///
/// Every failure counts (an error, a panic, a timeout). The consumer that took
/// the event waits out the backoff on the tokio clock, so it stays busy and the
/// autoscaler sees it.
///
/// ```
/// use std::time::Duration;
/// use weir_collector::RetryPolicy;
///
/// let policy = RetryPolicy::exponential(4, Duration::from_millis(100))
///     .with_max_backoff(Duration::from_millis(250));
/// assert_eq!(policy.backoff(1), Duration::from_millis(100));
/// assert_eq!(policy.backoff(2), Duration::from_millis(200));
/// assert_eq!(policy.backoff(3), Duration::from_millis(250));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    multiplier: f64,
    max_backoff: Duration,
}

impl RetryPolicy {
    /// One attempt, no retry (the default).
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            multiplier: 1.0,
            max_backoff: Duration::ZERO,
        }
    }

    /// Up to `max_attempts` attempts (at least one), waiting `initial_backoff`
    /// after the first failure and doubling after each further one, up to 30 s.
    pub fn exponential(max_attempts: u32, initial_backoff: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff,
            multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
        }
    }

    /// Sets the factor the backoff grows by after each failure (at least 1).
    #[must_use]
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// Caps the backoff.
    #[must_use]
    pub fn with_max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// The number of attempts an event gets.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// How long to wait after the `failed_attempt`-th failure (1-based).
    pub fn backoff(&self, failed_attempt: u32) -> Duration {
        let exponent = failed_attempt.saturating_sub(1).min(64);
        let factor = self.multiplier.powi(i32::try_from(exponent).unwrap_or(64));
        let secs = self.initial_backoff.as_secs_f64() * factor;
        if secs >= self.max_backoff.as_secs_f64() {
            return self.max_backoff;
        }
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn none_makes_one_attempt() {
        assert_eq!(RetryPolicy::none().max_attempts(), 1);
        assert_eq!(
            RetryPolicy::exponential(0, Duration::ZERO).max_attempts(),
            1
        );
    }

    proptest! {
        #[test]
        fn backoff_grows_and_stays_capped(
            initial_ms in 0u64..10_000,
            cap_ms in 0u64..60_000,
            multiplier in 1.0f64..4.0,
            attempt in 1u32..200,
        ) {
            let policy = RetryPolicy::exponential(5, Duration::from_millis(initial_ms))
                .with_multiplier(multiplier)
                .with_max_backoff(Duration::from_millis(cap_ms));
            let this = policy.backoff(attempt);
            let next = policy.backoff(attempt + 1);
            prop_assert!(this <= Duration::from_millis(cap_ms));
            prop_assert!(next >= this);
        }
    }
}
