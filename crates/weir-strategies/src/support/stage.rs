//! The life of a step that does work of its own, written once.
//!
//! Every such step (Unfold, Reduce, RunTaskAsync, RunTaskBlocking, Produce;
//! RunTask follows the same rules with fields of its own, for speed) owns
//! its next step, knows whether it was closed, holds the processor's
//! progress signal, and keeps work the next step has not taken
//! yet: an [`Outbox`] of finished messages, or [`Ordered`] background work.
//! The rules around that are the same for all of them, so they live here:
//!
//! - `submit` on a closed step fails with [`StrategyError::Closed`]; on a
//!   full one it first forwards what it can, then hands the message back
//!   ([`Stage::has_room`]). A failure met while forwarding is kept for the
//!   next `poll` ([`Deferred`]), and the message goes back.
//! - `poll` reports a kept failure first; then it forwards what finished,
//!   and polls the next step.
//! - `close` only marks the step closed: the next step may still receive
//!   this step's work, so it is closed in `join`, after that work went out.
//! - `terminate` drops the work and terminates the next step.
//! - `join` forwards every piece of work (or gives up at the timeout),
//!   then closes and joins the next step with what is left of the time,
//!   and returns the commits of both.
//!
//! A step holds a [`Stage`] and writes only what is its own: what it does
//! with a message.

use std::time::Duration;

use tokio::time::Instant;
use weir_core::CommitRequest;

use crate::support::deferred::Deferred;
use crate::support::ordered::Ordered;
use crate::support::outbox::{Outbox, deadline_after, join_next};
use crate::{ProcessingStrategy, Progress, StrategyError};

/// Work a step made that its next step has not taken yet.
pub(crate) trait Pending<U> {
    /// How many messages are held.
    fn held(&self) -> usize;

    /// Forwards what is ready, in order, until the next step rejects.
    fn forward<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
    ) -> Result<(), StrategyError>;

    /// Forwards everything, waiting on `progress` in between, until done or
    /// `deadline`; returns the commits the next step made meanwhile.
    fn finish<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        progress: &Progress,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Option<CommitRequest>, StrategyError>> + Send;

    /// Drops everything (and cancels what still runs).
    fn clear(&mut self);
}

impl<U: Send> Pending<U> for Outbox<U> {
    #[inline]
    fn held(&self) -> usize {
        self.len()
    }

    #[inline]
    fn forward<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
    ) -> Result<(), StrategyError> {
        self.flush(next)
    }

    fn finish<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        progress: &Progress,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Option<CommitRequest>, StrategyError>> + Send {
        self.drain(next, progress, deadline)
    }

    fn clear(&mut self) {
        Outbox::clear(self);
    }
}

impl<U: Send> Pending<U> for Ordered<U> {
    #[inline]
    fn held(&self) -> usize {
        self.len()
    }

    #[inline]
    fn forward<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
    ) -> Result<(), StrategyError> {
        self.advance(next)
    }

    fn finish<N: ProcessingStrategy<U> + ?Sized>(
        &mut self,
        next: &mut N,
        progress: &Progress,
        deadline: Option<Instant>,
    ) -> impl Future<Output = Result<Option<CommitRequest>, StrategyError>> + Send {
        Ordered::finish(self, next, progress, deadline)
    }

    fn clear(&mut self) {
        Ordered::clear(self);
    }
}

/// A step's next step, its pending work, its closed state and the progress
/// signal, with the rules every step follows (see the module doc).
pub(crate) struct Stage<W, N> {
    /// The work the next step has not taken yet.
    pub(crate) work: W,
    /// The step this one feeds.
    pub(crate) next: N,
    /// The processor's progress signal (a private one until attached).
    pub(crate) progress: Progress,
    closed: bool,
    /// A failure met while making room, for the next `poll` or `join`.
    failed: Deferred,
}

impl<W: Default, N> Stage<W, N> {
    pub(crate) fn new(next: N) -> Self {
        Stage {
            work: W::default(),
            next,
            progress: Progress::new(),
            closed: false,
            failed: Deferred::default(),
        }
    }
}

impl<W, N> Stage<W, N> {
    /// Keeps the processor's progress signal and hands it to the next step.
    pub(crate) fn attach<U>(&mut self, progress: &Progress)
    where
        N: ProcessingStrategy<U>,
    {
        self.progress = progress.clone();
        self.next.attach(progress);
    }

    /// Whether the step may take one more message: it must be open, and
    /// hold fewer than `limit` messages after forwarding what it could. The
    /// caller hands the message back when there is no room; it is not
    /// passed in, so that checking never moves it.
    #[inline]
    pub(crate) fn has_room<U>(&mut self, limit: usize) -> Result<bool, StrategyError>
    where
        W: Pending<U>,
        N: ProcessingStrategy<U>,
    {
        if !self.closed && self.takes(limit) {
            return Ok(true);
        }
        self.make_room(limit)
    }

    /// Whether the step holds fewer than `limit` messages and no failure
    /// waits for `poll`.
    #[inline]
    fn takes<U>(&self, limit: usize) -> bool
    where
        W: Pending<U>,
    {
        self.work.held() < limit && !self.failed.is_waiting()
    }

    /// The rare path of [`has_room`](Self::has_room), kept out of line so
    /// that every step's `submit` stays small: a closed step, or a full one
    /// that forwards what it can first.
    #[cold]
    #[inline(never)]
    fn make_room<U>(&mut self, limit: usize) -> Result<bool, StrategyError>
    where
        W: Pending<U>,
        N: ProcessingStrategy<U>,
    {
        if self.closed {
            return Err(StrategyError::Closed);
        }
        let Stage {
            work,
            next,
            progress,
            failed,
            ..
        } = self;
        failed.make_room(progress, || work.forward(next));
        Ok(self.takes(limit))
    }

    /// Reports a failure kept while making room, if any (every `poll` and
    /// `join` of a step starts with it).
    #[inline]
    pub(crate) fn report_failure(&mut self) -> Result<(), StrategyError> {
        self.failed.report()
    }

    /// Forwards what finished, then polls the next step.
    #[inline]
    pub(crate) fn poll<U>(&mut self) -> Result<Option<CommitRequest>, StrategyError>
    where
        W: Pending<U>,
        N: ProcessingStrategy<U>,
    {
        self.failed.report()?;
        self.work.forward(&mut self.next)?;
        self.next.poll()
    }

    /// Takes no more messages. The next step stays open until `join` has
    /// forwarded this step's work.
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Drops the work and terminates the next step.
    pub(crate) fn terminate<U>(&mut self)
    where
        W: Pending<U>,
        N: ProcessingStrategy<U>,
    {
        self.closed = true;
        self.work.clear();
        self.next.terminate();
    }

    /// Forwards all work (or gives up at `timeout`), then closes and joins
    /// the next step with what is left of the time.
    pub(crate) async fn join<U>(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<CommitRequest>, StrategyError>
    where
        W: Pending<U>,
        N: ProcessingStrategy<U>,
    {
        self.failed.report()?;
        let deadline = deadline_after(timeout);
        let commits = self
            .work
            .finish(&mut self.next, &self.progress, deadline)
            .await?;
        join_next(&mut self.next, deadline, commits).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg};

    type OutboxStage = Stage<Outbox<u32>, Collect<u32>>;

    #[test]
    fn a_closed_stage_refuses_messages() {
        let mut s = OutboxStage::new(Collect::new());
        s.close();
        assert!(matches!(s.has_room(1), Err(StrategyError::Closed)));
    }

    #[test]
    fn a_full_stage_forwards_first_then_says_there_is_no_room() {
        let sink = Collect::with_capacity(1);
        let mut s = OutboxStage::new(sink.clone());
        s.work.send(&mut s.next, broker_msg(0, 0, 1)).unwrap();
        s.work.send(&mut s.next, broker_msg(0, 1, 2)).unwrap(); // held: the sink is full
        assert!(!s.has_room(1).unwrap(), "the held message could not go");
        sink.drain();
        assert!(s.has_room(1).unwrap(), "room once forwarded");
        assert_eq!(sink.payloads(), vec![Some(1), Some(2)]);
    }

    #[tokio::test]
    async fn join_forwards_the_work_then_closes_and_joins_the_next_step() {
        let sink = Collect::new();
        let mut s = OutboxStage::new(sink.clone());
        s.work.send(&mut s.next, broker_msg(0, 4, 1)).unwrap();
        s.close();
        assert!(!sink.was_closed(), "closing waits for join");
        let commits = s.join(None).await.unwrap();
        assert!(sink.was_closed() && sink.was_joined());
        assert_eq!(
            commits.and_then(|c| c.get(&crate::testing::part(0))),
            Some(5)
        );
    }

    #[test]
    fn terminate_drops_the_work_and_terminates_the_next_step() {
        let sink = Collect::with_capacity(0);
        let mut s = OutboxStage::new(sink.clone());
        s.work.send(&mut s.next, broker_msg(0, 0, 1)).unwrap();
        s.terminate();
        assert_eq!(s.work.held(), 0);
        assert!(sink.was_terminated());
    }
}
