//! The strategy trait: one step of a stream-processing pipeline.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use weir_core::{CommitRequest, Filterable, Message, RecordBatch};

use crate::{Progress, StrategyError};

/// What [`ProcessingStrategy::join`] returns: the commits of the work it
/// finished.
pub type JoinFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<CommitRequest>, StrategyError>> + Send + 'a>>;

/// The message a strategy receives: a payload, or the marker a filter left in
/// its place, plus the commit positions it stands for.
pub type Incoming<T> = Message<Filterable<T>>;

/// Why [`ProcessingStrategy::submit`] did not take a message.
#[derive(Debug)]
pub enum SubmitError<T> {
    /// The strategy is at capacity: here is the message back; submit it again
    /// after the strategy made progress.
    Rejected(Incoming<T>),
    /// Processing failed (an invalid message, a panic, a fatal task error).
    Failed(StrategyError),
}

impl<T> From<StrategyError> for SubmitError<T> {
    fn from(e: StrategyError) -> Self {
        SubmitError::Failed(e)
    }
}

/// One step of a pipeline: it takes messages, does something with them, and
/// usually hands results to the next step, which it owns.
///
/// The life of a strategy, driven by the [`StreamProcessor`](crate::StreamProcessor):
/// created for an assignment, then [`submit`](Self::submit) and
/// [`poll`](Self::poll) in a loop, then [`close`](Self::close) and
/// [`join`](Self::join) on revocation or shutdown (or
/// [`terminate`](Self::terminate) to abandon the work).
///
/// `submit` and `poll` never block: work that takes time runs on tokio tasks
/// or threads and is checked in `poll`; when it finishes it raises the
/// [`Progress`] handed to [`attach`](Self::attach), so the processor waits on
/// that signal rather than spinning.
///
/// Commit positions flow up as values: the last step
/// ([`CommitOffsets`](crate::CommitOffsets)) returns them from `poll` and
/// `join`, and every step passes its next step's positions along. A step
/// returns a position only once every message before it in that partition is
/// done.
pub trait ProcessingStrategy<T>: Send {
    /// Hands over the processor's progress signal. A step keeps a clone if it
    /// finishes work in the background or has deadlines, and passes it on to
    /// its next step.
    fn attach(&mut self, progress: &Progress);

    /// Offers a message. [`SubmitError::Rejected`] hands it back when the step
    /// is at capacity: the message is never dropped.
    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>>;

    /// Offers the messages in `queue`, in order, as [`submit`](Self::submit)
    /// would one by one: each message taken is removed from the front, and
    /// what the step is at capacity for stays in `queue`, first in line. An
    /// error ends the call (the message it is about was taken; the ones
    /// after it stay).
    ///
    /// The processor hands each batch read from the broker over this way.
    /// By default it calls `submit` for each message; a step that can do
    /// better with a run of messages (apply its function in one loop, record
    /// positions in one pass) overrides it.
    fn submit_all(&mut self, queue: &mut VecDeque<Incoming<T>>) -> Result<(), StrategyError> {
        while let Some(message) = queue.pop_front() {
            match self.submit(message) {
                Ok(()) => {}
                Err(SubmitError::Rejected(message)) => {
                    queue.push_front(message);
                    break;
                }
                Err(SubmitError::Failed(e)) => return Err(e),
            }
        }
        Ok(())
    }

    /// Offers the messages a consumer lends in `batch` (see
    /// [`Consumer::poll_batches`](weir_core::Consumer::poll_batches)), in
    /// order, as [`submit_all`](Self::submit_all) offers a queue: each
    /// message taken is advanced past, what the step is at capacity for
    /// stays in `batch`, and an error ends the call (the message it is
    /// about was taken).
    ///
    /// `None` declines, taking nothing: the step wants its messages owned,
    /// and the processor copies the batch into messages for `submit_all`.
    /// That is the default. A first step that only reads its payloads (a
    /// [`RunTask::borrowing`](crate::RunTask::borrowing), or
    /// [`CommitOffsets`](crate::CommitOffsets) alone) takes them by
    /// reference and spares each message a reference count on its bytes.
    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        let _ = batch;
        None
    }

    /// Checks on background work, forwards what finished, and returns the
    /// positions that may be committed now.
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError>;

    /// Accepts no more messages; work already submitted still finishes in
    /// `join`. A step with work of its own closes its next step in `join`,
    /// after forwarding that work; a step without closes it here.
    fn close(&mut self);

    /// Abandons all work now (nothing more is forwarded or committed).
    fn terminate(&mut self);

    /// Finishes the work submitted before [`close`](Self::close) (or gives up
    /// at `timeout`), and returns the positions that may be committed.
    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_>;
}

impl<T, S: ProcessingStrategy<T> + ?Sized> ProcessingStrategy<T> for Box<S> {
    fn attach(&mut self, progress: &Progress) {
        (**self).attach(progress)
    }

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        (**self).submit(message)
    }

    fn submit_all(&mut self, queue: &mut VecDeque<Incoming<T>>) -> Result<(), StrategyError> {
        (**self).submit_all(queue)
    }

    fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
        (**self).submit_batch(batch)
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        (**self).poll()
    }

    fn close(&mut self) {
        (**self).close()
    }

    fn terminate(&mut self) {
        (**self).terminate()
    }

    fn join(&mut self, timeout: Option<Duration>) -> JoinFuture<'_> {
        (**self).join(timeout)
    }
}

/// Splits a message into its positions and its payload, or hands back the
/// positions of a filtered one.
pub(crate) fn split<T>(message: Incoming<T>) -> Result<(Message<()>, T), Message<()>> {
    let mut payload = None;
    let meta = message.map(|f| payload = f.into_payload());
    match payload {
        Some(p) => Ok((meta, p)),
        None => Err(meta),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::testing::{Collect, Judge, Verdict, broker_msg};

    fn offsets<T>(queue: &VecDeque<Incoming<T>>) -> Vec<u64> {
        queue
            .iter()
            .filter_map(|m| m.position())
            .map(|(_, o)| o)
            .collect()
    }

    #[test]
    fn submitting_all_stops_at_capacity_and_keeps_the_rest_in_order() {
        let sink = Collect::with_capacity(2);
        let mut step = sink.clone();
        let mut queue: VecDeque<_> = (0..5).map(|o| broker_msg(0, o, o as u32)).collect();
        step.submit_all(&mut queue).unwrap();
        assert_eq!(sink.payloads(), vec![Some(0), Some(1)]);
        assert_eq!(
            offsets(&queue),
            [2, 3, 4],
            "the rejected message is first in line"
        );
        sink.drain();
        step.submit_all(&mut queue).unwrap();
        assert_eq!(offsets(&queue), [4]);
    }

    #[test]
    fn submitting_all_ends_at_a_failure_which_takes_its_message() {
        // Takes even payloads, refuses odd ones.
        let mut step = Judge::new(|m: &Incoming<u32>| match m.payload() {
            Filterable::Payload(p) if p % 2 == 1 => Verdict::Refuse(format!("odd {p}")),
            _ => Verdict::Take,
        });
        let mut queue: VecDeque<_> = [0, 2, 3, 4]
            .iter()
            .map(|&p| broker_msg(0, u64::from(p), p))
            .collect();
        let Err(StrategyError::Invalid(e)) = step.submit_all(&mut queue) else {
            panic!("expected the odd payload to fail")
        };
        assert_eq!((e.offset, e.reason.as_str()), (Some(3), "odd 3"));
        assert_eq!(step.taken, [0, 2]);
        assert_eq!(
            offsets(&queue),
            [4],
            "the failed message was taken, the next one stays"
        );
    }
}
