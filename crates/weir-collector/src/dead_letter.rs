//! Where events go whose every attempt failed.

use std::future::Future;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use crate::CollectorError;

/// An event a collector gave up on: the payload and the last failure (which
/// names the collector and the number of attempts).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeadLetter<P> {
    /// The payload as the collector received it.
    pub payload: P,
    /// Why the last attempt failed.
    pub error: CollectorError,
}

/// Receives [`DeadLetter`]s: one for each collector that exhausted its
/// attempts on an event. The failure is also in the event's results; the sink
/// is where the payload goes to be kept or retried later.
///
/// Implemented for tokio `mpsc` senders (a full bounded channel makes the
/// consumer wait; a closed one drops the letter with a warning).
pub trait DeadLetterSink<P>: Send + Sync + 'static {
    /// Takes one dead letter.
    fn dead_letter(&self, letter: DeadLetter<P>) -> impl Future<Output = ()> + Send;
}

impl<P: Send + 'static> DeadLetterSink<P> for mpsc::Sender<DeadLetter<P>> {
    async fn dead_letter(&self, letter: DeadLetter<P>) {
        if let Err(mpsc::error::SendError(letter)) = self.send(letter).await {
            tracing::warn!(collector = %letter.error.key, "dead-letter channel closed, letter dropped");
        }
    }
}

impl<P: Send + 'static> DeadLetterSink<P> for mpsc::UnboundedSender<DeadLetter<P>> {
    async fn dead_letter(&self, letter: DeadLetter<P>) {
        if let Err(mpsc::error::SendError(letter)) = self.send(letter) {
            tracing::warn!(collector = %letter.error.key, "dead-letter channel closed, letter dropped");
        }
    }
}

/// A sink with its type erased, as the queue keeps it.
pub(crate) trait ErasedSink<P>: Send + Sync {
    fn send(&self, letter: DeadLetter<P>) -> BoxFuture<'_, ()>;
}

impl<P, S> ErasedSink<P> for S
where
    S: DeadLetterSink<P>,
    P: Send + 'static,
{
    fn send(&self, letter: DeadLetter<P>) -> BoxFuture<'_, ()> {
        Box::pin(self.dead_letter(letter))
    }
}
