//! A consumer's pause after a handler said "rate limited".

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Shared by every handler call of one consumer: once a handler reports a
/// rate limit, no call starts before the pause ends (the calls already
/// running finish). Each waiting message keeps its place, so none is lost
/// and none counts as a failure.
#[derive(Clone, Debug, Default)]
pub(crate) struct RateGate {
    until: Arc<Mutex<Option<Instant>>>,
}

impl RateGate {
    /// Closes the gate for `d` from now (or longer, if already closed longer).
    pub(crate) fn pause_for(&self, d: Duration) {
        let until = Instant::now() + d;
        let mut g = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if g.is_none_or(|u| u < until) {
            *g = Some(until);
        }
    }

    /// Resolves once the gate is open.
    pub(crate) async fn open(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(PoisonError::into_inner);
            match until {
                Some(u) if u > Instant::now() => tokio::time::sleep_until(u).await,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_the_longest_pause() {
        let gate = RateGate::default();
        let t0 = Instant::now();
        gate.open().await;
        assert_eq!(t0.elapsed(), Duration::ZERO);
        gate.pause_for(Duration::from_secs(2));
        gate.pause_for(Duration::from_secs(1));
        gate.open().await;
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
    }
}
