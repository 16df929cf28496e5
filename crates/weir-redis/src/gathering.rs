//! Gathering single `produce` calls into batches.
//!
//! A producer has at most one append of single calls on its way to the
//! server. Calls made meanwhile wait in a queue and go together in the next
//! append, so under load many calls share one round trip and one stream
//! entry per partition, and a lone call still goes at once. The appends run
//! in a task, so a caller that stops waiting (a cancelled `produce`) does not
//! stop the others' messages; its own may still be stored.

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
    /// An append task is running; it takes what waits when it is done.
    appending: bool,
}

impl Gathering {
    /// Queues one message and waits for its append.
    pub(crate) async fn produce(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let (reply, result) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            queue.waiting.push((destination, payload, reply));
            !std::mem::replace(&mut queue.appending, true)
        };
        if start {
            let gathering = Arc::clone(self);
            let shared = Arc::clone(shared);
            tokio::spawn(async move { gathering.append_waiting(&shared).await });
        }
        result.await.unwrap_or_else(|_| {
            Err(BrokerError::backend(
                "redis",
                "the append task ended without a reply",
            ))
        })
    }

    /// Appends what waits, batch after batch, until nothing does.
    async fn append_waiting(&self, shared: &Shared) {
        let mut early = EndedEarly(Some(self));
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

/// Should the append task end early (a panic, a runtime shutting down), the
/// calls waiting get an error rather than wait forever, and the next call
/// starts another task.
struct EndedEarly<'a>(Option<&'a Gathering>);

impl Drop for EndedEarly<'_> {
    fn drop(&mut self) {
        if let Some(gathering) = self.0 {
            let mut queue = gathering
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.appending = false;
            queue.waiting.clear();
        }
    }
}
