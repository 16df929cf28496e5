//! Enqueueing: a job's unique id taken, its queued record stored, its
//! message sent (now, or to the delayed store), its `queued` event
//! published. A job that is not unique goes with its record at once
//! (`at_once.rs`); many jobs at once share each round trip (`bulk.rs`).

mod at_once;
mod bulk;

use std::time::SystemTime;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;
use weir_core::{BrokerError, Codec, Destination, Payload, Producer};

use crate::actor::Enqueuer;
use crate::events::{self, EventKind, TaskEvent};
use crate::job::{Encoded, Start};
use crate::queue::level_topic;
use crate::{
    Duplicates, Job, JobMessage, TaskBroker, TaskError, TaskHandle, TaskId, TaskRecord, TaskState,
    Tasks, later, unique,
};

impl<B: TaskBroker, C: Codec + Clone> Tasks<B, C> {
    /// Enqueues `job`; its handle tells its state and awaits its result.
    ///
    /// # Errors
    ///
    /// The job's arguments do not encode, its queue is not declared (and
    /// the client does not auto-declare), its unique id is taken (unless
    /// duplicates are ignored), or the broker failed.
    pub async fn enqueue<A: Serialize>(&self, job: Job<A>) -> Result<TaskHandle<B, C>, TaskError> {
        let encoded = job.encode(self.codec())?;
        self.enqueue_encoded(encoded).await
    }

    pub(crate) async fn enqueue_encoded(
        &self,
        encoded: Encoded,
    ) -> Result<TaskHandle<B, C>, TaskError> {
        let ready = match self.stage(encoded).await? {
            Staged::Existing(handle) => return Ok(handle),
            Staged::Ready(ready) => ready,
        };
        // A job that is not unique has a new id: no record of it exists
        // but the ones the worker that runs it writes, so its queued
        // record may go at the same time as the job.
        if self.goes_at_once(&ready) {
            let producer = self.producer().await?;
            let mut enqueued = Box::pin(self.enqueue_at_once(producer, vec![(0, ready)])).await;
            return match enqueued.pop() {
                Some((_, r)) => r,
                None => Err(TaskError::Broker {
                    doing: "enqueueing a task".to_owned(),
                    source: BrokerError::backend("weir-tasks", "the task was lost on its way"),
                }),
            };
        }
        let queued = TaskEvent::of(EventKind::Queued, &ready.record);
        // To a queue that took jobs before, the `queued` event goes out
        // with the record, before the job: one round trip less, and still
        // ahead of the job's `started`. Should the job fail to go after all
        // (an outage, the queue deleted since), the event has announced a
        // job that the caller is told did not go.
        let early = ready.start.is_none() && self.reached(&ready.topic);
        let stored = if early {
            let (stored, ()) = tokio::join!(
                self.store_queued_record(&ready),
                events::publish(self.broker(), &queued)
            );
            stored
        } else {
            self.store_queued_record(&ready).await
        };
        if let Err(e) = stored {
            self.abandon(&ready).await;
            return Err(e);
        }
        let sent = match ready.start {
            Some(_) => self.send_later(&ready).await,
            None => match self.producer().await {
                Ok(p) => p
                    .produce(
                        Destination::Topic(ready.topic.clone()),
                        ready.payload.clone(),
                    )
                    .await
                    .map(|_| ()),
                Err(e) => {
                    self.abandon(&ready).await;
                    return Err(e);
                }
            },
        };
        self.deliver(&ready, sent).await?;
        if !early {
            if ready.start.is_none() {
                self.note_reached([&ready.topic]);
            }
            events::publish(self.broker(), &queued).await;
        }
        Ok(self.handle_of(&ready.record))
    }

    /// Stores the queued record of `ready` before its job goes: only if
    /// none is stored for a job that is not unique (learning whether the
    /// broker can), plainly for a unique one, whose id may have held an
    /// ended run.
    async fn store_queued_record(&self, ready: &Ready) -> Result<(), TaskError> {
        let records = self.records();
        if ready.unique || self.if_absent() == Some(false) {
            return records.put(&ready.record).await;
        }
        match records.put_if_absent(&ready.record).await {
            Ok(_) => {
                self.note_if_absent(true);
                Ok(())
            }
            Err(TaskError::Broker {
                source: BrokerError::Unsupported { .. },
                ..
            }) => {
                self.note_if_absent(false);
                records.put(&ready.record).await
            }
            Err(e) => Err(e),
        }
    }

    fn handle_of(&self, record: &TaskRecord) -> TaskHandle<B, C> {
        TaskHandle::new(self.clone(), record.id.clone(), Some(record.run))
    }

    /// Takes a unique id and makes the message and its queued record.
    async fn stage(&self, encoded: Encoded) -> Result<Staged<B, C>, TaskError> {
        let start = encoded.start;
        let message = message_of(encoded);
        if message.unique
            && !unique::take(
                self.broker(),
                &message.queue,
                &message.id,
                self.config().record_ttl,
            )
            .await?
        {
            return match self.config().duplicates {
                Duplicates::Refuse => Err(TaskError::Duplicate {
                    id: message.id,
                    actor: message.actor,
                }),
                Duplicates::Ignore => Ok(Staged::Existing(self.handle(message.id))),
            };
        }
        ready_of(message, start).map(Staged::Ready)
    }

    async fn send_later(&self, ready: &Ready) -> Result<(), BrokerError> {
        let due = match ready.start {
            Some(Start::At(at)) => at,
            Some(Start::After(d)) => SystemTime::now() + d,
            None => SystemTime::now(),
        };
        later::produce_at(self.broker(), &ready.topic, ready.payload.clone(), due).await
    }

    /// Frees what a failed enqueue took.
    async fn abandon(&self, ready: &Ready) {
        if ready.unique {
            let _ = unique::free(self.broker(), &ready.record.queue, &ready.record.id).await;
        }
    }

    /// Sees a sent job through: a queue that did not exist is declared
    /// and the job sent again if the client auto-declares; a job that
    /// could not be sent frees what it took, and its error names the queue.
    async fn deliver(&self, ready: &Ready, sent: Result<(), BrokerError>) -> Result<(), TaskError> {
        let queue = ready.record.queue.clone();
        let sent = match sent {
            Err(BrokerError::UnknownTopic { .. }) if self.config().auto_declare => {
                self.queue(queue.as_str()).declare().await?;
                match ready.start {
                    None => self
                        .producer()
                        .await?
                        .produce(
                            Destination::Topic(ready.topic.clone()),
                            ready.payload.clone(),
                        )
                        .await
                        .map(|_| ()),
                    Some(_) => self.send_later(ready).await,
                }
            }
            other => other,
        };
        let Err(e) = sent else {
            return Ok(());
        };
        self.abandon(ready).await;
        Err(match e {
            BrokerError::UnknownTopic { .. } => TaskError::UndeclaredQueue { queue },
            e => TaskError::Broker {
                doing: format!("enqueueing task `{}` on queue `{queue}`", ready.record.id),
                source: e,
            },
        })
    }
}

/// What became of one job of a bulk call, with its place in the call.
type Placed<T> = (usize, Result<T, TaskError>);

/// A job on its way in.
enum Staged<B: TaskBroker, C> {
    /// A unique job already there (duplicates ignored).
    Existing(TaskHandle<B, C>),
    /// To be recorded and sent.
    Ready(Box<Ready>),
}

struct Ready {
    unique: bool,
    topic: weir_core::Topic,
    payload: Payload,
    start: Option<Start>,
    record: TaskRecord,
}

/// The first attempt's message of a job.
pub(crate) fn message_of(e: Encoded) -> JobMessage {
    let unique = e.id.is_some();
    JobMessage {
        id: e.id.unwrap_or_else(TaskId::random),
        actor: e.actor,
        queue: e.queue,
        args: e.args,
        priority: e.priority,
        attempt: 1,
        retries: e.retries,
        timeout: e.timeout,
        parent: e.parent,
        queued_at: SystemTime::now(),
        unique,
        run: TaskId::nonce(),
        errors: Vec::new(),
        dead_reason: None,
    }
}

/// The message of a job whose unique id (if any) is taken, made ready to
/// go: its payload and its queued record.
fn ready_of(message: JobMessage, start: Option<Start>) -> Result<Box<Ready>, TaskError> {
    let payload = message.to_payload().map_err(|source| TaskError::Corrupt {
        id: message.id.clone(),
        what: "message",
        source,
    })?;
    Ok(Box::new(Ready {
        unique: message.unique,
        topic: level_topic(&message.queue, message.priority),
        payload,
        start,
        record: queued_record(&message),
    }))
}

/// The record of a job just enqueued.
pub(crate) fn queued_record(m: &JobMessage) -> TaskRecord {
    TaskRecord {
        id: m.id.clone(),
        actor: m.actor.clone(),
        queue: m.queue.clone(),
        state: TaskState::Queued,
        run: m.run,
        attempt: m.attempt.saturating_sub(1),
        queued_at: m.queued_at,
        started_at: None,
        finished_at: None,
        worker: None,
        result: None,
        error: m.errors.last().cloned(),
        errors: m.errors.clone(),
        parent: m.parent.clone(),
    }
}

impl<B: TaskBroker, C: Codec + Clone> Enqueuer for Tasks<B, C> {
    fn enqueue(&self, job: Encoded) -> BoxFuture<'static, Result<TaskId, TaskError>> {
        let tasks = self.clone();
        async move { tasks.enqueue_encoded(job).await.map(|h| h.id().clone()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use weir_core::MsgPack;
    use weir_memory::MemoryBroker;

    use super::*;

    /// A job that is not unique has its queued record stored at the same
    /// time as it goes; a record its worker wrote first stays.
    #[tokio::test]
    async fn a_queued_record_sent_with_its_job_never_replaces_the_workers() {
        let tasks = Tasks::new(MemoryBroker::new());
        tasks.queue("default").declare().await.expect("declare");
        assert_eq!(tasks.if_absent(), None, "not known before an enqueue");
        tasks
            .enqueue(Job::new("noop").args(1))
            .await
            .expect("enqueue");
        assert_eq!(tasks.if_absent(), Some(true), "the memory broker can");
        let encoded = Job::new("noop").args(2).encode(&MsgPack).expect("encodes");
        let Ok(Staged::Ready(ready)) = tasks.stage(encoded).await else {
            panic!("a job that is not unique is ready at once");
        };
        // Its worker started it before its queued record landed.
        let mut started = ready.record.clone();
        started.state = TaskState::Started;
        started.attempt = 1;
        tasks.records().put(&started).await.expect("put");
        let producer = tasks.producer().await.expect("producer");
        let mut enqueued = tasks.enqueue_at_once(producer, vec![(0, ready)]).await;
        let Some((0, Ok(handle))) = enqueued.pop() else {
            panic!("enqueued");
        };
        assert_eq!(handle.state().await.expect("state"), TaskState::Started);
    }
}
