//! How long a failed attempt waits before the next one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The wait before retry `n` (1 for the first retry), as in Repid:
/// exponential by default, or any function of the retry number.
///
/// Exponential: `min_backoff × multiplier^min(n - 1, max_exponent)`, at most
/// `max_backoff`. Defaults: 1 s, 5, 15 and one day (Repid's), so 1 s, 5 s,
/// 25 s, ... The wait is spent in the broker's delayed delivery, never in a
/// worker: a job waiting for its retry holds no worker slot.
///
/// ```
/// use std::time::Duration;
/// use weir_tasks::RetryPolicy;
///
/// let p = RetryPolicy::exponential()
///     .min_backoff(Duration::from_secs(2))
///     .multiplier(3)
///     .max_backoff(Duration::from_secs(60));
/// assert_eq!(p.backoff(1), Duration::from_secs(2));
/// assert_eq!(p.backoff(2), Duration::from_secs(6));
/// assert_eq!(p.backoff(9), Duration::from_secs(60));
///
/// let linear = RetryPolicy::from_fn(|n| Duration::from_secs(100 * u64::from(n)));
/// assert_eq!(linear.backoff(3), Duration::from_secs(300));
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Exponential {
        min: Duration,
        max: Duration,
        multiplier: u32,
        max_exponent: u32,
    },
    Custom(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
}

impl RetryPolicy {
    /// Exponential backoff with Repid's defaults (1 s × 5ⁿ⁻¹, up to a day).
    pub fn exponential() -> Self {
        RetryPolicy {
            kind: Kind::Exponential {
                min: Duration::from_secs(1),
                max: Duration::from_secs(86_400),
                multiplier: 5,
                max_exponent: 15,
            },
        }
    }

    /// The same wait before every retry.
    pub fn fixed(wait: Duration) -> Self {
        RetryPolicy::from_fn(move |_| wait)
    }

    /// Any function of the retry number (1 for the first retry).
    pub fn from_fn(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Self {
        RetryPolicy {
            kind: Kind::Custom(Arc::new(f)),
        }
    }

    fn exp(mut self, set: impl FnOnce(&mut Duration, &mut Duration, &mut u32, &mut u32)) -> Self {
        if let Kind::Exponential {
            min,
            max,
            multiplier,
            max_exponent,
        } = &mut self.kind
        {
            set(min, max, multiplier, max_exponent);
        }
        self
    }

    /// The first retry's wait (exponential only; default 1 s).
    pub fn min_backoff(self, d: Duration) -> Self {
        self.exp(|min, _, _, _| *min = d)
    }

    /// The longest wait (exponential only; default one day).
    pub fn max_backoff(self, d: Duration) -> Self {
        self.exp(|_, max, _, _| *max = d)
    }

    /// The factor between two retries' waits (exponential only; default 5).
    pub fn multiplier(self, m: u32) -> Self {
        self.exp(|_, _, mul, _| *mul = m)
    }

    /// The largest exponent (exponential only; default 15).
    pub fn max_exponent(self, e: u32) -> Self {
        self.exp(|_, _, _, exp| *exp = e)
    }

    /// The wait before retry `n` (1 for the first).
    pub fn backoff(&self, n: u32) -> Duration {
        match &self.kind {
            Kind::Exponential {
                min,
                max,
                multiplier,
                max_exponent,
            } => {
                let exponent = n.saturating_sub(1).min(*max_exponent);
                let factor = multiplier.checked_pow(exponent).unwrap_or(u32::MAX);
                min.checked_mul(factor).unwrap_or(*max).min(*max)
            }
            Kind::Custom(f) => f(n),
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::exponential()
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Exponential {
                min,
                max,
                multiplier,
                max_exponent,
            } => f
                .debug_struct("Exponential")
                .field("min_backoff", min)
                .field("max_backoff", max)
                .field("multiplier", multiplier)
                .field("max_exponent", max_exponent)
                .finish(),
            Kind::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_defaults_grow_by_five_up_to_a_day() {
        let p = RetryPolicy::exponential();
        let waits: Vec<u64> = (1..=4).map(|n| p.backoff(n).as_secs()).collect();
        assert_eq!(waits, vec![1, 5, 25, 125]);
        assert_eq!(p.backoff(40), Duration::from_secs(86_400));
        assert_eq!(p.backoff(0), Duration::from_secs(1));
    }
}
