//! The state a running queue's publishers, consumers and autoscaler share.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};

use crate::signal::Signal;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::dead_letter::ErasedSink;
use crate::metrics::{Load, Metrics};
use crate::queue::EventQueue;
use crate::{
    Collector, CollectorError, CollectorId, Delivery, Directory, Event, Failure, QueueStats,
    Results, Router, SimpleRouter,
};

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
    /// The router; `None` for the default [`SimpleRouter`], which the
    /// queue runs directly.
    pub(crate) router: Option<Box<dyn Router<P>>>,
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

/// Where an event goes, as the queue resolved its router's answer.
pub(crate) struct Routed<'a> {
    pub(crate) targets: Cow<'a, [CollectorId]>,
    pub(crate) unmatched: Vec<String>,
    /// Why the router gave no answer (it panicked).
    pub(crate) failure: Option<String>,
}

impl Routed<'_> {
    pub(crate) fn results<R>(
        &mut self,
        entries: Vec<(Arc<str>, Result<R, CollectorError>)>,
    ) -> Results<R> {
        let mut results = Results::new(entries, std::mem::take(&mut self.unmatched));
        if let Some(failure) = self.failure.take() {
            results = results.with_routing_failure(failure);
        }
        results
    }
}

impl<P: 'static, R> Shared<P, R> {
    /// Asks the router where an event goes. A panicking router delivers the
    /// event nowhere and says why; the consumer keeps running.
    pub(crate) fn route(&self, event: &Event<P>) -> Routed<'_> {
        let Some(router) = &self.router else {
            return self.route_simply(event);
        };
        let asked =
            std::panic::catch_unwind(AssertUnwindSafe(|| router.route(event, &self.directory)));
        match asked {
            Ok(route) => {
                let (targets, unmatched) = route.resolve(&self.directory);
                Routed {
                    targets,
                    unmatched,
                    failure: None,
                }
            }
            Err(panic) => {
                let message = crate::error::panic_message(&*panic);
                tracing::error!(%message, "router panicked; event delivered nowhere");
                Routed {
                    targets: Cow::Borrowed(&[]),
                    unmatched: Vec::new(),
                    failure: Some(format!("router panicked: {message}")),
                }
            }
        }
    }

    /// The default router's answer, without the trait object and the panic
    /// guard (it cannot panic); a broadcast borrows the directory's list.
    fn route_simply(&self, event: &Event<P>) -> Routed<'_> {
        let (targets, unmatched) = match event.delivery() {
            Delivery::Broadcast => (Cow::Borrowed(self.directory.all()), Vec::new()),
            _ => SimpleRouter
                .route(event, &self.directory)
                .resolve(&self.directory),
        };
        Routed {
            targets,
            unmatched,
            failure: None,
        }
    }

    /// Answers an event that will not be processed with a
    /// [`Failure::ShutDown`] error per target, and gives its payload back.
    pub(crate) fn abandon(&self, envelope: Envelope<P, R>) -> P {
        let mut routed = self.route(&envelope.event);
        let entries = routed
            .targets
            .iter()
            .filter_map(|&id| self.directory.key_arc(id))
            .map(|key| {
                let error = CollectorError::new(Arc::clone(key), Failure::ShutDown, 0);
                (Arc::clone(key), Err(error))
            })
            .collect();
        if let Some(reply) = envelope.reply {
            // The publisher may have dropped its handle.
            let _ = reply.send(routed.results(entries));
        }
        envelope.event.into_payload()
    }
}
