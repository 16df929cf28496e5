//! Gathering single `produce` calls into batches.
//!
//! A producer has at most one append of single calls on its way to the
//! server. A lone call appends its message itself, at once. Calls made while
//! an append is on its way wait in a queue and go together in the next
//! append, so under load many calls share one round trip and one stream
//! entry per partition. The queue's appends run in a task, so a caller that
//! stops waiting (a cancelled `produce`) does not stop the others' messages;
//! its own may still be stored. A lone call that ends (or is cancelled) with
//! calls queued behind it hands them to that task.
//!
//! Appending a lone call in the caller, not in a task, spares it a hand-off
//! between threads: on a multi-threaded runtime the spawned task ran on
//! another thread, which had to be woken for it, and woke the caller again
//! with the reply.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;
use weir_core::{BrokerError, Destination, Payload, Produced};

use crate::append::append;
use crate::broker::Shared;

type Reply = oneshot::Sender<Result<Produced, BrokerError>>;

/// The queue of single calls waiting for the next append.
#[derive(Debug, Default)]
pub(crate) struct Gathering {
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<(Destination, Payload, Reply)>,
    /// An append is on its way (a lone call's, or the task's); what waits
    /// goes in the task's next one.
    appending: bool,
}

/// A call's turn: appending its message itself, or waiting in the queue.
enum Turn {
    Lone(Destination, Payload),
    Queued(oneshot::Receiver<Result<Produced, BrokerError>>),
}

impl Gathering {
    /// Appends one message: at once when no append is on its way, else
    /// with the calls queued behind it.
    pub(crate) async fn produce(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let turn = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            if queue.appending {
                let (reply, result) = oneshot::channel();
                queue.waiting.push((destination, payload, reply));
                Turn::Queued(result)
            } else {
                queue.appending = true;
                Turn::Lone(destination, payload)
            }
        };
        let result = match turn {
            Turn::Queued(result) => result,
            Turn::Lone(destination, payload) => {
                let _hand_over = HandOver {
                    gathering: self,
                    shared,
                };
                return append(shared, vec![(destination, payload)])
                    .await
                    .pop()
                    .unwrap_or_else(|| {
                        Err(BrokerError::backend("redis", "an append without a reply"))
                    });
            }
        };
        result.await.unwrap_or_else(|_| {
            Err(BrokerError::backend(
                "redis",
                "the append task ended without a reply",
            ))
        })
    }

    /// Appends what waits, batch after batch, until nothing does. `early`
    /// is armed before the task is spawned, so a task dropped before it
    /// first runs (its runtime shutting down) still releases the queue.
    async fn append_waiting(&self, shared: &Shared, mut early: EndedEarly) {
        loop {
            let waiting = {
                let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if queue.waiting.is_empty() {
                    queue.appending = false;
                    early.0 = None;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let (batch, replies): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .map(|(destination, payload, reply)| ((destination, payload), reply))
                .unzip();
            for (reply, result) in replies.into_iter().zip(append(shared, batch).await) {
                // A caller that stopped waiting needs no reply.
                let _ = reply.send(result);
            }
        }
    }
}

/// When a lone call's own append ends (or the call is cancelled), the calls
/// queued behind it go to a task that appends them; with none, the next
/// call appends at once.
struct HandOver<'a> {
    gathering: &'a Arc<Gathering>,
    shared: &'a Arc<Shared>,
}

impl Drop for HandOver<'_> {
    fn drop(&mut self) {
        let mut queue = self
            .gathering
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if queue.waiting.is_empty() {
            queue.appending = false;
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                drop(queue);
                let gathering = Arc::clone(self.gathering);
                let shared = Arc::clone(self.shared);
                let early = EndedEarly(Some(Arc::clone(&gathering)));
                runtime.spawn(async move { gathering.append_waiting(&shared, early).await });
            }
            // No runtime to append on (it is shutting down): the calls
            // waiting get an error rather than wait forever.
            Err(_) => {
                queue.appending = false;
                queue.waiting.clear();
            }
        }
    }
}

/// Should the append task end early (a panic, a runtime shutting down), the
/// calls waiting get an error rather than wait forever, and the next call
/// appends at once.
struct EndedEarly(Option<Arc<Gathering>>);

impl Drop for EndedEarly {
    fn drop(&mut self) {
        if let Some(gathering) = &self.0 {
            let mut queue = gathering
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.appending = false;
            queue.waiting.clear();
        }
    }
}
