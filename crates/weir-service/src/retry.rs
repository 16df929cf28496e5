//! How often and how patiently a failed handler is tried again.

use std::time::Duration;

use crate::ServiceError;

/// Retries for a handler that returned [`HandlerError::Failed`](crate::HandlerError::Failed):
/// up to `max_attempts` attempts in all, waiting `initial_backoff` after the
/// first failure, multiplied by `multiplier` after each further one, at most
/// `max_backoff`. After the last attempt the message is dead-lettered.
///
/// ```
/// use std::time::Duration;
/// use weir_service::RetryPolicy;
/// let policy = RetryPolicy::builder()
///     .max_attempts(4)
///     .initial_backoff(Duration::from_millis(50))
///     .max_backoff(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(policy.backoff(1), Duration::from_millis(50));
/// assert_eq!(policy.backoff(3), Duration::from_millis(200));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    multiplier: f64,
}

impl Default for RetryPolicy {
    /// Five attempts, 100 ms doubling up to 10 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
        }
    }
}

impl RetryPolicy {
    /// A builder starting from the defaults (five attempts, 100 ms doubling up to 10 s).
    pub fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::default(),
        }
    }

    /// One attempt: a failure is dead-lettered at once.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after the `failures`-th failure (1 for the first).
    pub fn backoff(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        if !secs.is_finite() || secs >= self.max_backoff.as_secs_f64() {
            return self.max_backoff;
        }
        Duration::from_secs_f64(secs)
    }
}

/// Builds a [`RetryPolicy`].
#[derive(Clone, Debug)]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl RetryPolicyBuilder {
    /// Attempts in all, the first included (default 5; at least 1).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.policy.max_attempts = n;
        self
    }

    /// The wait after the first failure (default 100 ms).
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.policy.initial_backoff = d;
        self
    }

    /// The longest wait (default 10 s).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.policy.max_backoff = d;
        self
    }

    /// The factor between two waits (default 2; at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.policy.multiplier = m;
        self
    }

    /// The policy.
    ///
    /// # Errors
    ///
    /// [`ServiceError::InvalidConfig`] for no attempts at all, or a
    /// multiplier below 1 (or not a number).
    pub fn build(self) -> Result<RetryPolicy, ServiceError> {
        let p = self.policy;
        if p.max_attempts == 0 {
            return Err(ServiceError::InvalidConfig(
                "a retry policy needs at least 1 attempt".into(),
            ));
        }
        if p.multiplier.is_nan() || p.multiplier < 1.0 {
            return Err(ServiceError::InvalidConfig(format!(
                "a retry multiplier must be at least 1, not {}",
                p.multiplier
            )));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_at_the_cap() {
        let p = RetryPolicy::default();
        let ms = Duration::from_millis;
        let waits: Vec<_> = (1..=9).map(|n| p.backoff(n)).collect();
        assert_eq!(
            waits,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1600),
                ms(3200),
                ms(6400),
                ms(10_000),
                ms(10_000)
            ]
        );
        assert_eq!(p.backoff(u32::MAX), ms(10_000));
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(RetryPolicy::builder().max_attempts(0).build().is_err());
        assert!(RetryPolicy::builder().multiplier(0.5).build().is_err());
        assert!(RetryPolicy::builder().multiplier(f64::NAN).build().is_err());
    }
}
