//! How long the processor has held a rejected message, and when to pause.

use std::time::Duration;

use tokio::time::Instant;

/// Tracks backpressure: since when the strategy refuses the held message,
/// and whether the partitions are paused because of it.
#[derive(Debug)]
pub(crate) struct Backpressure {
    pause_after: Duration,
    since: Option<Instant>,
    paused: bool,
}

impl Backpressure {
    pub(crate) fn new(pause_after: Duration) -> Self {
        Backpressure {
            pause_after,
            since: None,
            paused: false,
        }
    }

    /// The strategy refused a message (the first refusal starts the clock).
    pub(crate) fn rejected(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }

    /// The held message was accepted: returns whether the partitions are to
    /// be resumed, and how long the backpressure lasted.
    pub(crate) fn accepted(&mut self, now: Instant) -> (bool, Option<Duration>) {
        let lasted = self.since.take().map(|s| now - s);
        let resume = std::mem::take(&mut self.paused);
        (resume, lasted)
    }

    /// When the partitions are to be paused, if not yet.
    pub(crate) fn pause_at(&self) -> Option<Instant> {
        match (self.since, self.paused) {
            (Some(s), false) => Some(s + self.pause_after),
            _ => None,
        }
    }

    /// Whether pausing is due now; marks the partitions paused if so.
    pub(crate) fn should_pause(&mut self, now: Instant) -> bool {
        if self.pause_at().is_some_and(|at| now >= at) {
            self.paused = true;
            true
        } else {
            false
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    pub(crate) fn is_active(&self) -> bool {
        self.since.is_some()
    }

    /// Forgets the held message (it was dropped for a rebalance).
    pub(crate) fn reset(&mut self) -> bool {
        self.since = None;
        std::mem::take(&mut self.paused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_after_the_threshold_and_resumes_on_acceptance() {
        let mut b = Backpressure::new(Duration::from_secs(1));
        let t0 = Instant::now();
        b.rejected(t0);
        b.rejected(t0 + Duration::from_millis(300)); // the clock does not restart
        assert!(!b.should_pause(t0 + Duration::from_millis(999)));
        assert!(b.should_pause(t0 + Duration::from_secs(1)));
        assert!(b.is_paused());
        assert_eq!(b.pause_at(), None);
        let (resume, lasted) = b.accepted(t0 + Duration::from_secs(3));
        assert!(resume);
        assert_eq!(lasted, Some(Duration::from_secs(3)));
        assert!(!b.is_active());
    }
}
