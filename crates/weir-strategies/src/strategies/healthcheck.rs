//! Healthcheck: touch a file while the pipeline is being polled.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use weir_core::CommitRequest;

use crate::{Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError};

/// Touches a file (creates it, or updates its modification time) at most once
/// a second whenever the processor polls the pipeline, so a liveness probe
/// can check the consumer loop is alive. Passes everything to `next`.
///
/// ```
/// use weir_strategies::{CommitOffsets, Healthcheck};
/// let step = Healthcheck::new("/tmp/consumer-alive", CommitOffsets::new());
/// # let _ = step;
/// ```
pub struct Healthcheck<N> {
    path: PathBuf,
    interval: Duration,
    last: Option<Instant>,
    next: N,
}

impl<N> Healthcheck<N> {
    /// Touches `path`, then forwards to `next`.
    pub fn new(path: impl Into<PathBuf>, next: N) -> Self {
        Healthcheck {
            path: path.into(),
            interval: Duration::from_secs(1),
            last: None,
            next,
        }
    }

    fn touch(&mut self) {
        let now = Instant::now();
        if self.last.is_some_and(|l| now < l + self.interval) {
            return;
        }
        self.last = Some(now);
        let touched = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|f| f.set_modified(SystemTime::now()));
        if let Err(e) = touched {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot touch the healthcheck file");
        }
    }
}

impl<T, N: ProcessingStrategy<T>> ProcessingStrategy<T> for Healthcheck<N> {
    fn attach(&mut self, progress: &Progress) {
        self.next.attach(progress);
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        self.next.submit(message)
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        self.touch();
        self.next.poll()
    }

    fn close(&mut self) {
        self.next.close();
    }

    fn terminate(&mut self) {
        self.next.terminate();
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        self.next.join(timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Noop;

    #[tokio::test(start_paused = true)]
    async fn touches_at_most_once_a_second() {
        let path = std::env::temp_dir().join(format!("weir-health-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut h = Healthcheck::new(&path, Noop);
        ProcessingStrategy::<u8>::poll(&mut h).unwrap();
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
        tokio::time::advance(Duration::from_millis(999)).await;
        ProcessingStrategy::<u8>::poll(&mut h).unwrap();
        assert!(!path.exists(), "not again within the second");
        tokio::time::advance(Duration::from_millis(1)).await;
        ProcessingStrategy::<u8>::poll(&mut h).unwrap();
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
    }
}
