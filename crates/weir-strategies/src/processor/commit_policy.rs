//! When the processor commits: by elapsed time and/or message count.

use std::time::Duration;

use tokio::time::Instant;

/// When the [`StreamProcessor`](crate::StreamProcessor) commits the positions
/// its strategies returned.
///
/// A commit happens when either limit is reached (whichever is set), and
/// always when a strategy is joined (revocation, shutdown). Committing less
/// often is faster; after a crash, at most the uncommitted tail is processed
/// again.
///
/// ```
/// use std::time::Duration;
/// use weir_strategies::CommitPolicy;
/// let policy = CommitPolicy::every(Duration::from_secs(1)).or_after_messages(10_000);
/// # let _ = policy;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitPolicy {
    interval: Option<Duration>,
    messages: Option<u64>,
}

impl Default for CommitPolicy {
    /// Once a second.
    fn default() -> Self {
        CommitPolicy::every(Duration::from_secs(1))
    }
}

impl CommitPolicy {
    /// Commits once `interval` passed since the last commit.
    pub fn every(interval: Duration) -> Self {
        CommitPolicy {
            interval: Some(interval),
            messages: None,
        }
    }

    /// Commits after every `n` messages (at least 1).
    pub fn after_messages(n: u64) -> Self {
        CommitPolicy {
            interval: None,
            messages: Some(n.max(1)),
        }
    }

    /// Commits whenever anything is ready (every loop of the processor).
    pub fn immediately() -> Self {
        CommitPolicy::after_messages(1).or_every(Duration::ZERO)
    }

    /// Also commits after `n` messages.
    pub fn or_after_messages(mut self, n: u64) -> Self {
        self.messages = Some(n.max(1));
        self
    }

    /// Also commits once `interval` passed.
    pub fn or_every(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// Whether to commit now, `messages` after the last commit made at `last`.
    pub(crate) fn is_due(&self, last: Instant, messages: u64, now: Instant) -> bool {
        self.interval.is_some_and(|i| now >= last + i)
            || self.messages.is_some_and(|n| messages >= n)
    }

    /// When the time limit falls due after a commit at `last`.
    pub(crate) fn next_due(&self, last: Instant) -> Option<Instant> {
        self.interval.map(|i| last + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn due_by_time_or_by_count() {
        let now = Instant::now();
        let p = CommitPolicy::every(Duration::from_millis(500)).or_after_messages(100);
        assert!(!p.is_due(now, 99, now));
        assert!(p.is_due(now, 100, now));
        assert!(p.is_due(now, 0, now + Duration::from_millis(500)));
        assert_eq!(p.next_due(now), Some(now + Duration::from_millis(500)));
        let count_only = CommitPolicy::after_messages(0);
        assert!(count_only.is_due(now, 1, now));
        assert!(!count_only.is_due(now, 0, now + Duration::from_secs(3600)));
        assert_eq!(count_only.next_due(now), None);
    }
}
