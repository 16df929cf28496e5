//! Messages a step produced but its next step has not taken yet.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;
use weir_core::CommitRequest;

use crate::{Incoming, ProcessingStrategy, Progress, StrategyError, SubmitError};

/// Outgoing messages, in order, waiting for the next step to accept them.
#[derive(Debug)]
pub(crate) struct Outbox<U> {
    queue: VecDeque<Incoming<U>>,
}

impl<U> Default for Outbox<U> {
    fn default() -> Self {
        Outbox {
            queue: VecDeque::new(),
        }
    }
}

impl<U> Outbox<U> {
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn clear(&mut self) {
        self.queue.clear();
    }

    /// Sends `message` now if nothing waits before it; queues it otherwise or
    /// when the next step rejects it.
    #[inline]
    pub(crate) fn send<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        message: Incoming<U>,
    ) -> Result<(), StrategyError> {
        if !self.queue.is_empty() {
            self.queue.push_back(message);
            return self.flush(next);
        }
        match next.submit(message) {
            Ok(()) => Ok(()),
            Err(SubmitError::Rejected(m)) => {
                self.queue.push_back(m);
                Ok(())
            }
            Err(SubmitError::Failed(e)) => Err(e),
        }
    }

    /// Submits queued messages in order until the next step rejects one.
    #[inline]
    pub(crate) fn flush<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
    ) -> Result<(), StrategyError> {
        if self.queue.is_empty() {
            return Ok(());
        }
        next.submit_all(&mut self.queue)
    }

    /// Takes the queue's buffer to fill, when the queue is empty (no copy).
    #[inline]
    pub(crate) fn take_empty(&mut self) -> Option<Vec<Incoming<U>>> {
        self.queue
            .is_empty()
            .then(|| Vec::from(std::mem::take(&mut self.queue)))
    }

    /// Puts back a buffer taken by [`take_empty`](Self::take_empty), filled.
    #[inline]
    pub(crate) fn put(&mut self, filled: Vec<Incoming<U>>) {
        self.queue = filled.into();
    }

    /// Flushes everything into `next`, polling it and waiting for progress in
    /// between, until empty or `deadline`. Returns the commits `next` made.
    pub(crate) async fn drain<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        progress: &Progress,
        deadline: Option<Instant>,
    ) -> Result<Option<CommitRequest>, StrategyError> {
        let mut commits = None;
        loop {
            self.flush(next)?;
            commits = CommitRequest::merge_opt(commits, next.poll()?);
            if self.queue.is_empty() {
                return Ok(commits);
            }
            if !wait(progress, deadline).await {
                self.queue.clear();
                return Ok(commits);
            }
        }
    }
}

/// The end of every `join` that owns a next step: close it, join it with
/// what is left of `deadline`, and merge its commits into this step's own.
pub(crate) async fn join_next<U, N: ProcessingStrategy<U> + ?Sized>(
    next: &mut N,
    deadline: Option<Instant>,
    commits: Option<CommitRequest>,
) -> Result<Option<CommitRequest>, StrategyError> {
    next.close();
    let rest = next.join(remaining(deadline)).await?;
    Ok(CommitRequest::merge_opt(commits, rest))
}

/// The instant `timeout` from now.
pub(crate) fn deadline_after(timeout: Option<Duration>) -> Option<Instant> {
    timeout.map(|t| Instant::now() + t)
}

/// What is left of a deadline, as a timeout.
pub(crate) fn remaining(deadline: Option<Instant>) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(Instant::now()))
}

/// Waits for progress; false once the deadline passed.
pub(crate) async fn wait(progress: &Progress, deadline: Option<Instant>) -> bool {
    match deadline {
        Some(d) if Instant::now() >= d => false,
        Some(d) => {
            tokio::select! {
                () = progress.wait() => true,
                () = tokio::time::sleep_until(d) => Instant::now() < d,
            }
        }
        None => {
            progress.wait().await;
            true
        }
    }
}
