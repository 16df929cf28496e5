//! A one-shot stop signal that is cheap to check on every event.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

/// A cancellation token with a lock-free check: consumers test it once per
/// event, which `CancellationToken::is_cancelled` (a mutex) would make
/// contended.
#[derive(Clone, Default)]
pub(crate) struct Signal {
    fired: Arc<AtomicBool>,
    token: CancellationToken,
}

impl Signal {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.token.cancel();
    }

    pub(crate) fn is_fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Resolves once fired.
    pub(crate) async fn fired(&self) {
        self.token.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fired_is_seen_by_clones_and_waiters() {
        let signal = Signal::new();
        let clone = signal.clone();
        let waiter = tokio::spawn(async move { clone.fired().await });
        assert!(!signal.is_fired());
        signal.fire();
        assert!(signal.is_fired());
        assert!(waiter.await.is_ok());
    }
}
