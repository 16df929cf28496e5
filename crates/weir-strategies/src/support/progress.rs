//! The signal strategies raise when they make progress, so the processor
//! waits on it instead of sleeping.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;
use tokio::time::Instant;

/// A wake-up shared by the [`StreamProcessor`](crate::StreamProcessor) and its
/// strategies.
///
/// Work that finishes in the background (a spawned task, a blocking job, a
/// produce) calls [`notify`](Progress::notify); a strategy with a timer (a
/// batch that must flush at a deadline) calls [`wake_at`](Progress::wake_at).
/// The processor, when idle or backpressured, waits for either instead of
/// spinning or sleeping for a fixed time. Clones share one signal.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use weir_strategies::Progress;
/// let progress = Progress::new();
/// let worker = progress.clone();
/// tokio::spawn(async move { worker.notify() });
/// progress.notified().await; // returns once the worker signalled
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    notify: Notify,
    deadline: Mutex<Option<Instant>>,
}

impl Progress {
    /// A fresh signal.
    pub fn new() -> Self {
        Progress::default()
    }

    /// Signals that something finished. A signal raised while nobody waits is
    /// kept for the next waiter, so no wake-up is lost.
    pub fn notify(&self) {
        self.inner.notify.notify_one();
    }

    /// Waits for the next signal.
    pub async fn notified(&self) {
        self.inner.notify.notified().await;
    }

    /// Asks to be polled again no later than `deadline` (the earliest of all
    /// requests wins).
    pub fn wake_at(&self, deadline: Instant) {
        let mut d = self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if d.is_none_or(|current| deadline < current) {
            *d = Some(deadline);
        }
    }

    /// The earliest requested deadline, if any.
    pub fn deadline(&self) -> Option<Instant> {
        *self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets a deadline that has passed (strategies ask again from `poll` if
    /// they still need one).
    pub fn clear_due(&self, now: Instant) {
        let mut d = self
            .inner
            .deadline
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if d.is_some_and(|d| d <= now) {
            *d = None;
        }
    }

    /// Waits for a signal or the requested deadline, whichever comes first
    /// (a deadline already passed is forgotten first, see [`clear_due`](Self::clear_due)).
    pub async fn wait(&self) {
        self.clear_due(Instant::now());
        match self.deadline() {
            Some(d) => {
                tokio::select! {
                    () = self.notified() => {}
                    () = tokio::time::sleep_until(d) => {}
                }
            }
            None => self.notified().await,
        }
    }
}

/// Calls [`Progress::notify`] when dropped: spawned work holds one so the
/// processor wakes even if the work panics.
#[derive(Debug)]
pub(crate) struct NotifyOnDrop(pub(crate) Progress);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn earliest_deadline_wins_and_clears_when_due() {
        let p = Progress::new();
        let now = Instant::now();
        p.wake_at(now + Duration::from_secs(5));
        p.wake_at(now + Duration::from_secs(2));
        p.wake_at(now + Duration::from_secs(9));
        assert_eq!(p.deadline(), Some(now + Duration::from_secs(2)));
        p.clear_due(now + Duration::from_secs(1));
        assert!(p.deadline().is_some());
        p.wait().await;
        assert_eq!(Instant::now(), now + Duration::from_secs(2));
        p.clear_due(Instant::now());
        assert_eq!(p.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_before_the_wait_is_kept() {
        let p = Progress::new();
        drop(NotifyOnDrop(p.clone()));
        tokio::time::timeout(Duration::from_secs(1), p.notified())
            .await
            .expect("the stored signal wakes the waiter");
    }
}
