//! A job that is not unique nor delayed, sent with its queued record at
//! the same time: one round trip on Redis, for one job or for many.

use futures::future::join_all;
use weir_core::{Codec, Destination, Producer};

use super::{Placed, Ready};
use crate::events::{self, EventKind, TaskEvent};
use crate::{TaskBroker, TaskHandle, Tasks, records};

impl<B: TaskBroker, C: Codec + Clone> Tasks<B, C> {
    /// Whether `ready` may go with its queued record stored at the same
    /// time (see [`enqueue_at_once`](Tasks::enqueue_at_once)): a job that
    /// is not unique nor delayed, to a queue this client sent jobs to
    /// before, on a broker that stores a record only if none is.
    pub(super) fn goes_at_once(&self, ready: &Ready) -> bool {
        ready.start.is_none()
            && !ready.unique
            && self.if_absent() == Some(true)
            && self.reached(&ready.topic)
    }

    /// Enqueues `readies` (jobs that are not unique, each with its place
    /// in the caller's list) in one round trip: their queued records,
    /// stored only if none is, with their `queued` events, in one request,
    /// and the jobs in another, at the same time. A record stored only if
    /// none is can never replace one its worker wrote first. The events
    /// go before the jobs (on one Redis server, on the same connection),
    /// and a job's `started` needs its worker's own round trips after the
    /// job arrives. A job whose record fails to be stored while the job
    /// went is left to run: the caller is told of the failure, and the
    /// record appears when a worker starts it.
    pub(super) async fn enqueue_at_once(
        &self,
        producer: &B::Producer,
        readies: Vec<(usize, Box<Ready>)>,
    ) -> Vec<Placed<TaskHandle<B, C>>> {
        let mut enqueued = Vec::with_capacity(readies.len());
        let mut entries = Vec::with_capacity(readies.len());
        let mut queued = Vec::with_capacity(readies.len());
        let mut batch = Vec::with_capacity(readies.len());
        let mut going = Vec::with_capacity(readies.len());
        for (i, ready) in readies {
            match records::record_entry(&ready.record) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    enqueued.push((i, Err(e)));
                    continue;
                }
            }
            queued.extend(events::encode(&TaskEvent::of(
                EventKind::Queued,
                &ready.record,
            )));
            batch.push((
                Destination::Topic(ready.topic.clone()),
                ready.payload.clone(),
            ));
            going.push((i, ready));
        }
        if going.is_empty() {
            return enqueued;
        }
        let send = async {
            // One job goes as a single call, which gathers with others.
            if let [(destination, payload)] = &batch[..] {
                vec![producer.produce(destination.clone(), payload.clone()).await]
            } else {
                producer.produce_batch(batch).await
            }
        };
        let records = self.records();
        let (stored, sent) = tokio::join!(
            records.put_entries_if_absent_publishing(&entries, &queued, || match &going[..] {
                [(_, ready)] => format!(
                    "storing the record of task `{}` and publishing its event",
                    ready.record.id
                ),
                _ => format!(
                    "storing the queued records of {} tasks and publishing their events",
                    going.len()
                ),
            }),
            send
        );
        let mut store_errors = stored.err().map(|e| e.for_each_of(going.len()));
        // A job that went is delivered; one that did not is seen through
        // (its queue declared, or what it took freed), all at once.
        let mut failed = Vec::new();
        for ((i, ready), sent) in going.into_iter().zip(sent) {
            let stored = match store_errors.as_mut().and_then(Iterator::next) {
                Some(e) => Err(e),
                None => Ok(()),
            };
            match sent {
                Ok(_) => enqueued.push((i, stored.map(|()| self.handle_of(&ready.record)))),
                Err(e) => failed.push((i, ready, e, stored)),
            }
        }
        enqueued.extend(
            join_all(failed.into_iter().map(|(i, ready, e, stored)| async move {
                let delivered = self.deliver(&ready, Err(e)).await;
                (
                    i,
                    delivered
                        .and(stored)
                        .map(|()| self.handle_of(&ready.record)),
                )
            }))
            .await,
        );
        enqueued
    }
}
