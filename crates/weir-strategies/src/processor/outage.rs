//! How long the broker has been failing, and how long to wait before the
//! next attempt.

use std::time::Duration;

use tokio::time::Instant;

/// The first wait after a failure; each further failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Tracks one broker call failing with transient errors: since when, and
/// the backoff (exponential, capped) before the next attempt. The outage
/// ends at the first success ([`Outage::recovered`]).
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    attempts: u32,
}

impl Outage {
    /// No outage yet: the next failure starts one.
    pub fn new() -> Self {
        Outage {
            since: None,
            attempts: 0,
        }
    }

    /// The call failed at `now`: how long to wait before trying again, or
    /// `None` once it has been failing for `limit` or longer.
    pub fn failed(&mut self, now: Instant, limit: Duration) -> Option<Duration> {
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) >= limit {
            return None;
        }
        let backoff = FIRST_BACKOFF
            .saturating_mul(1 << self.attempts.min(16))
            .min(MAX_BACKOFF);
        self.attempts += 1;
        Some(backoff)
    }

    /// How long the call has been failing.
    pub fn lasted(&self, now: Instant) -> Duration {
        self.since
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Whether the call is failing now.
    pub fn is_active(&self) -> bool {
        self.since.is_some()
    }

    /// The call succeeded: the outage is over.
    pub fn recovered(&mut self) {
        self.since = None;
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backs_off_exponentially_up_to_a_cap_then_gives_up() {
        let limit = Duration::from_secs(10);
        let mut o = Outage::new();
        let t0 = Instant::now();
        let waits: Vec<_> = (0..6).map(|_| o.failed(t0, limit).unwrap()).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            waits,
            [ms(100), ms(200), ms(400), ms(800), ms(1600), ms(2000)]
        );
        assert_eq!(o.lasted(t0 + ms(9999)), ms(9999));
        assert!(o.failed(t0 + ms(9999), limit).is_some());
        assert_eq!(o.failed(t0 + limit, limit), None);
        o.recovered();
        assert!(!o.is_active());
        assert_eq!(o.failed(t0 + limit, limit), Some(ms(100)), "a new outage");
    }
}
