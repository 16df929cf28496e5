//! The handle a publisher gets for each event it sent.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::Results;

/// A sent event's pending [`Results`]: `.await` it, or look without waiting
/// with [`try_result`](Self::try_result). Dropping it is fire-and-forget: the
/// event is still processed.
#[derive(Debug)]
#[must_use = "an event handle does nothing unless awaited or polled; drop it for fire-and-forget"]
pub struct EventHandle<R> {
    rx: oneshot::Receiver<Results<R>>,
    taken: bool,
}

impl<R> EventHandle<R> {
    pub(crate) fn new(rx: oneshot::Receiver<Results<R>>) -> Self {
        Self { rx, taken: false }
    }

    /// The results if the event is done, without waiting. Returns them once;
    /// later calls (and calls before the event is done) return `None`.
    pub fn try_result(&mut self) -> Option<Results<R>> {
        if self.taken {
            return None;
        }
        let out = match self.rx.try_recv() {
            Ok(results) => results,
            Err(oneshot::error::TryRecvError::Empty) => return None,
            Err(oneshot::error::TryRecvError::Closed) => Results::abandoned(),
        };
        self.taken = true;
        Some(out)
    }

    /// Whether the results are ready (or were already taken).
    pub fn is_done(&self) -> bool {
        self.taken || !self.rx.is_empty() || self.rx.is_terminated()
    }
}

impl<R> Future for EventHandle<R> {
    type Output = Results<R>;

    /// Resolves to the results. Polling again after they were taken (by the
    /// future or by `try_result`) resolves to an abandoned, empty list.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Results<R>> {
        if self.taken {
            return Poll::Ready(Results::abandoned());
        }
        let out = match Pin::new(&mut self.rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(results)) => results,
            Poll::Ready(Err(_)) => Results::abandoned(),
        };
        self.taken = true;
        Poll::Ready(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn try_result_then_await() {
        let (tx, rx) = oneshot::channel();
        let mut handle = EventHandle::<u8>::new(rx);
        assert!(handle.try_result().is_none());
        assert!(!handle.is_done());
        assert!(tx.send(Results::new(Vec::new(), Vec::new())).is_ok());
        assert!(handle.is_done());
        let results = handle.try_result();
        assert!(results.is_some_and(|r| !r.is_abandoned()));
        assert!(handle.try_result().is_none());
        assert!(handle.await.is_abandoned());
    }

    #[tokio::test]
    async fn a_dropped_sender_resolves_abandoned() {
        let (tx, rx) = oneshot::channel::<Results<u8>>();
        drop(tx);
        assert!(EventHandle::new(rx).await.is_abandoned());
    }
}
