//! The sending side of a running queue.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::queue::PushError;
use crate::shared::{Envelope, Shared};
use crate::{Event, EventHandle, QueueStats, Results, SendError, TrySendError};

/// Sends events into a running [`CollectorQueue`](crate::CollectorQueue).
/// Cheap to clone; every clone feeds the same queue.
///
/// Each accepted event gets an [`EventHandle`] for its results. The queue is
/// bounded: [`send`](Self::send) waits for room, [`try_send`](Self::try_send)
/// hands the event back when full.
pub struct Publisher<P, R> {
    shared: Arc<Shared<P, R>>,
}

impl<P, R> Clone for Publisher<P, R> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<P, R> fmt::Debug for Publisher<P, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("stats", &self.shared.stats())
            .finish()
    }
}

impl<P, R> Publisher<P, R> {
    pub(crate) fn new(shared: Arc<Shared<P, R>>) -> Self {
        Self { shared }
    }

    fn envelope(
        &self,
        event: Event<P>,
        reply: Option<oneshot::Sender<Results<R>>>,
    ) -> (Envelope<P, R>, i64) {
        let priority = event.priority().unwrap_or(self.shared.default_priority);
        let envelope = Envelope {
            event,
            accepted: Instant::now(),
            reply,
        };
        (envelope, priority)
    }

    fn accepted(&self, depth: usize) {
        self.shared.load.accepted.fetch_add(1, Ordering::Relaxed);
        self.shared.metrics.accepted.increment(1);
        self.shared.metrics.depth.set(depth as f64);
    }

    async fn push(
        &self,
        event: Event<P>,
        reply: Option<oneshot::Sender<Results<R>>>,
    ) -> Result<(), SendError<P>> {
        let (envelope, priority) = self.envelope(event, reply);
        // Room right away is the common case: no waiting future is built.
        let depth = match self.shared.queue.try_push(envelope, priority) {
            Ok(depth) => depth,
            Err(PushError::Closed(envelope)) => return Err(SendError(envelope.event)),
            Err(PushError::Full(envelope)) => {
                match self.shared.queue.push(envelope, priority).await {
                    Ok(depth) => depth,
                    Err(envelope) => return Err(SendError(envelope.event)),
                }
            }
        };
        self.accepted(depth);
        Ok(())
    }

    fn try_push(
        &self,
        event: Event<P>,
        reply: Option<oneshot::Sender<Results<R>>>,
    ) -> Result<(), TrySendError<P>> {
        let (envelope, priority) = self.envelope(event, reply);
        match self.shared.queue.try_push(envelope, priority) {
            Ok(depth) => {
                self.accepted(depth);
                Ok(())
            }
            Err(PushError::Full(envelope)) => Err(TrySendError::Full(envelope.event)),
            Err(PushError::Closed(envelope)) => Err(TrySendError::Closed(envelope.event)),
        }
    }

    /// Sends an event (or a bare payload, which is broadcast), waiting while
    /// the queue is full; the handle resolves to every target's result.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_collector::{BoxError, Collector, CollectorQueue, Context, Event};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let shout = Collector::builder("shout").topics(["text"])
    ///     .processor(|s: String, _: Context<()>| async move { Ok::<_, BoxError>(s.to_uppercase()) });
    /// let running = CollectorQueue::builder().collector(shout).build()?.start().await?;
    /// let handle = running.publisher().send(Event::new("hi".to_owned()).to_topics(["text"])).await?;
    /// assert_eq!(handle.await.get("shout").and_then(|r| r.as_ref().ok()).map(String::as_str), Some("HI"));
    /// running.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SendError`] when the queue is shut down; it hands the event back.
    pub async fn send(&self, event: impl Into<Event<P>>) -> Result<EventHandle<R>, SendError<P>> {
        let (reply, rx) = oneshot::channel();
        self.push(event.into(), Some(reply)).await?;
        Ok(EventHandle::new(rx))
    }

    /// Sends an event without waiting; a full or shut-down queue hands it back.
    pub fn try_send(&self, event: impl Into<Event<P>>) -> Result<EventHandle<R>, TrySendError<P>> {
        let (reply, rx) = oneshot::channel();
        self.try_push(event.into(), Some(reply))?;
        Ok(EventHandle::new(rx))
    }

    /// Sends an event whose results nobody will read, waiting while the
    /// queue is full: cheaper fire-and-forget than dropping the handle of
    /// [`send`](Self::send), as no results are collected.
    pub async fn send_detached(&self, event: impl Into<Event<P>>) -> Result<(), SendError<P>> {
        self.push(event.into(), None).await
    }

    /// [`send_detached`](Self::send_detached) without waiting.
    pub fn try_send_detached(&self, event: impl Into<Event<P>>) -> Result<(), TrySendError<P>> {
        self.try_push(event.into(), None)
    }

    /// Whether the queue stopped accepting events.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }

    /// The queue's current load.
    pub fn stats(&self) -> QueueStats {
        self.shared.stats()
    }
}
