//! The state a running queue's publishers, consumers and autoscaler share.

use std::sync::{Arc, Mutex, PoisonError};

use crate::signal::Signal;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::dead_letter::ErasedSink;
use crate::metrics::{Load, Metrics};
use crate::queue::EventQueue;
use crate::{Collector, CollectorError, Directory, Event, Failure, QueueStats, Results, Router};

/// An accepted event on its way through the queue.
pub(crate) struct Envelope<P, R> {
    pub(crate) event: Event<P>,
    pub(crate) accepted: Instant,
    /// Where the results go; `None` for a detached send.
    pub(crate) reply: Option<oneshot::Sender<Results<R>>>,
}

pub(crate) struct Shared<P, R> {
    pub(crate) collectors: Vec<Collector<P, R>>,
    pub(crate) directory: Directory,
    pub(crate) router: Box<dyn Router<P>>,
    pub(crate) queue: EventQueue<Envelope<P, R>>,
    pub(crate) default_priority: i64,
    pub(crate) load: Load,
    pub(crate) metrics: Metrics,
    pub(crate) dead_letter: Option<Box<dyn ErasedSink<P>>>,
    /// Cancelled when the drain timeout ran out: in-flight attempts stop.
    pub(crate) hard_stop: Signal,
    /// Payloads whose processing the hard stop cut off.
    pub(crate) interrupted: Mutex<Vec<P>>,
    /// Payloads a consumer had taken but not started when it stopped.
    pub(crate) unprocessed: Mutex<Vec<P>>,
    /// How many events a consumer takes at once at most.
    pub(crate) batch: usize,
}

impl<P, R> Shared<P, R> {
    pub(crate) fn stats(&self) -> QueueStats {
        use std::sync::atomic::Ordering::Relaxed;
        QueueStats {
            depth: self.queue.len(),
            consumers: self.load.consumers.load(Relaxed),
            busy: self.load.busy.load(Relaxed),
            accepted: self.load.accepted.load(Relaxed),
            completed: self.load.completed.load(Relaxed),
        }
    }

    pub(crate) fn push_interrupted(&self, payload: P) {
        self.interrupted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(payload);
    }

    pub(crate) fn take_unprocessed(&self) -> Vec<P> {
        std::mem::take(
            &mut *self
                .unprocessed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    pub(crate) fn push_unprocessed(&self, payload: P) {
        self.unprocessed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(payload);
    }

    pub(crate) fn take_interrupted(&self) -> Vec<P> {
        std::mem::take(
            &mut *self
                .interrupted
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl<P: 'static, R> Shared<P, R> {
    /// Answers an event that will not be processed with a
    /// [`Failure::ShutDown`] error per target, and gives its payload back.
    pub(crate) fn abandon(&self, envelope: Envelope<P, R>) -> P {
        let route = self.router.route(&envelope.event, &self.directory);
        let (targets, unmatched) = route.resolve(&self.directory);
        let entries = targets
            .iter()
            .filter_map(|&id| self.directory.key_arc(id))
            .map(|key| {
                let error = CollectorError::new(Arc::clone(key), Failure::ShutDown, 0);
                (Arc::clone(key), Err(error))
            })
            .collect();
        if let Some(reply) = envelope.reply {
            // The publisher may have dropped its handle.
            let _ = reply.send(Results::new(entries, unmatched));
        }
        envelope.event.into_payload()
    }
}
