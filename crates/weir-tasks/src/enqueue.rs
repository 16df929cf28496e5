//! Enqueueing: a job's unique id taken, its queued record stored, its
//! message sent (now, or to the delayed store), its `queued` event
//! published. Many jobs at once share each of these round trips.

use std::time::SystemTime;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use serde::Serialize;
use weir_core::{BrokerError, Codec, Destination, Payload, Producer};

use crate::actor::Enqueuer;
use crate::events::{self, EVENT_CHANNEL, EventKind, TaskEvent};
use crate::job::{Encoded, Start};
use crate::queue::level_topic;
use crate::records;
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

    /// Enqueues many jobs at once. On Redis, jobs that are not unique,
    /// not delayed, and go to queues this client sent jobs to before, go
    /// in one round trip whatever their number: their queued records and
    /// events in one pipeline, the jobs in one batch, at the same time.
    /// The others take three: their queued records in one write, the jobs
    /// to run now in one batch, their `queued` events in one publish (plus
    /// one call per unique id, and one per delayed job). One result per
    /// job, in order; the outer error is for what fails them all (no
    /// producer, a queue that cannot be declared).
    ///
    /// # Errors
    ///
    /// Per job, as [`enqueue`](Tasks::enqueue).
    pub async fn enqueue_many<A: Serialize>(
        &self,
        jobs: impl IntoIterator<Item = Job<A>>,
    ) -> Result<Vec<Result<TaskHandle<B, C>, TaskError>>, TaskError> {
        let prepared: Vec<Result<Encoded, TaskError>> =
            jobs.into_iter().map(|j| j.encode(self.codec())).collect();
        let producer = self.producer().await?;
        if self.config().auto_declare {
            let mut queues: Vec<&str> = prepared
                .iter()
                .filter_map(|e| e.as_ref().ok().map(|e| e.queue.as_str()))
                .collect();
            queues.sort_unstable();
            queues.dedup();
            for q in queues {
                self.queue(q).declare().await?;
            }
        }
        // A job that is not unique is ready at once; a unique one takes
        // its id first, all of them at the same time.
        let mut staged = Vec::with_capacity(prepared.len());
        let mut unique = Vec::new();
        for (i, e) in prepared.into_iter().enumerate() {
            match e {
                Ok(e) if e.id.is_some() => unique.push((i, e)),
                e => staged.push((
                    i,
                    e.and_then(|e| {
                        let start = e.start;
                        ready_of(message_of(e), start).map(Staged::Ready)
                    }),
                )),
            }
        }
        staged.extend(
            join_all(
                unique
                    .into_iter()
                    .map(|(i, e)| async move { (i, self.stage(e).await) }),
            )
            .await,
        );
        self.learn_if_absent(staged.iter().map(|(_, s)| s)).await;
        let mut at_once = Vec::new();
        let mut in_turn = Vec::new();
        for (i, s) in staged {
            match s {
                Ok(Staged::Ready(ready)) if self.goes_at_once(&ready) => at_once.push((i, ready)),
                s => in_turn.push((i, s)),
            }
        }
        let (at_once, in_turn) = tokio::join!(
            self.enqueue_at_once(producer, at_once),
            self.enqueue_in_turn(producer, in_turn)
        );
        let mut enqueued: Vec<_> = at_once.into_iter().chain(in_turn).collect();
        enqueued.sort_unstable_by_key(|(i, _)| *i);
        Ok(enqueued.into_iter().map(|(_, r)| r).collect())
    }

    /// Enqueues the staged jobs `staged` (each with its place in the
    /// caller's list) in three round trips: their records, then the jobs
    /// to run now, then their events.
    async fn enqueue_in_turn(
        &self,
        producer: &B::Producer,
        staged: Vec<Placed<Staged<B, C>>>,
    ) -> Vec<Placed<TaskHandle<B, C>>> {
        if staged.is_empty() {
            return Vec::new();
        }
        let (places, mut staged): (Vec<usize>, Vec<_>) = staged.into_iter().unzip();
        self.store_queued(&mut staged).await;

        // The jobs to run now: one batch.
        let mut batch = Vec::new();
        let mut slots = Vec::new();
        for (i, s) in staged.iter().enumerate() {
            if let Ok(Staged::Ready(ready)) = s
                && ready.start.is_none()
            {
                batch.push((
                    Destination::Topic(ready.topic.clone()),
                    ready.payload.clone(),
                ));
                slots.push(i);
            }
        }
        let mut sent: Vec<Option<Result<(), BrokerError>>> = staged.iter().map(|_| None).collect();
        if !batch.is_empty() {
            for (i, r) in slots.iter().zip(producer.produce_batch(batch).await) {
                sent[*i] = Some(r.map(|_| ()));
            }
            self.note_reached(
                staged
                    .iter()
                    .zip(&sent)
                    .filter_map(|(s, sent)| match (s, sent) {
                        (Ok(Staged::Ready(ready)), Some(Ok(()))) => Some(&ready.topic),
                        _ => None,
                    }),
            );
        }
        let delivered = join_all(staged.into_iter().zip(sent).map(|(s, sent)| async move {
            match s? {
                Staged::Existing(handle) => Ok((handle, None)),
                Staged::Ready(ready) => {
                    let sent = match sent {
                        Some(r) => r,
                        None => self.send_later(&ready).await,
                    };
                    self.deliver(&ready, sent).await?;
                    let event = events::encode(&TaskEvent::of(EventKind::Queued, &ready.record));
                    Ok((self.handle_of(&ready.record), event))
                }
            }
        }))
        .await;
        let queued: Vec<Bytes> = delivered
            .iter()
            .filter_map(|d| d.as_ref().ok().and_then(|(_, e)| e.clone()))
            .collect();
        if !queued.is_empty()
            && let Err(e) = self.broker().publish_many(EVENT_CHANNEL, &queued).await
        {
            tracing::warn!(
                error = &e as &(dyn std::error::Error + 'static),
                events = queued.len(),
                "cannot publish the queued events of enqueued jobs"
            );
        }
        places
            .into_iter()
            .zip(delivered)
            .map(|(i, d)| (i, d.map(|(handle, _)| handle)))
            .collect()
    }

    pub(crate) async fn enqueue_encoded(
        &self,
        encoded: Encoded,
    ) -> Result<TaskHandle<B, C>, TaskError> {
        let ready = match self.stage(encoded).await? {
            Staged::Existing(handle) => return Ok(handle),
            Staged::Ready(ready) => ready,
        };
        let queued = TaskEvent::of(EventKind::Queued, &ready.record);
        // To a queue that took jobs before, the `queued` event goes out
        // with the record, before the job: one round trip less, and still
        // ahead of the job's `started`. Should the job fail to go after all
        // (an outage, the queue deleted since), the event has announced a
        // job that the caller is told did not go.
        let early = ready.start.is_none() && self.reached(&ready.topic);
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

    /// Whether `ready` may go with its queued record stored at the same
    /// time (see [`enqueue_at_once`](Tasks::enqueue_at_once)): a job that
    /// is not unique nor delayed, to a queue this client sent jobs to
    /// before, on a broker that stores a record only if none is.
    fn goes_at_once(&self, ready: &Ready) -> bool {
        ready.start.is_none()
            && !ready.unique
            && self.if_absent() == Some(true)
            && self.reached(&ready.topic)
    }

    /// Learns whether the broker stores a record only if none is, unless
    /// known, by storing so the queued record of a job in `staged` that
    /// is not unique: the record its enqueue stores anyway.
    async fn learn_if_absent<'a>(
        &self,
        mut staged: impl Iterator<Item = &'a Result<Staged<B, C>, TaskError>>,
    ) where
        B: 'a,
        C: 'a,
    {
        if self.if_absent().is_some() {
            return;
        }
        let candidate = staged.find_map(|s| match s {
            Ok(Staged::Ready(ready)) if !ready.unique => Some(ready),
            _ => None,
        });
        if let Some(ready) = candidate {
            // Its enqueue stores it again, or reports the error again.
            let _ = self.store_queued_record(ready).await;
        }
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
    async fn enqueue_at_once(
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
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
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

    /// Stores the queued records of the staged jobs in one write; a job
    /// whose record cannot be stored fails (and frees its unique id).
    async fn store_queued(&self, staged: &mut [Result<Staged<B, C>, TaskError>]) {
        let mut entries = Vec::new();
        let mut stored = Vec::new();
        for (i, s) in staged.iter_mut().enumerate() {
            let Ok(Staged::Ready(ready)) = s else {
                continue;
            };
            match records::entries(&ready.record) {
                Ok(e) => {
                    entries.extend(e);
                    stored.push(i);
                }
                Err(e) => {
                    self.abandon(ready).await;
                    *s = Err(e);
                }
            }
        }
        if entries.is_empty() {
            return;
        }
        let Err(e) = self
            .broker()
            .put_results(&entries, self.config().record_ttl)
            .await
            .map_err(TaskError::broker(format!(
                "storing the queued records of {} task(s)",
                stored.len()
            )))
        else {
            return;
        };
        let mut errors = e.for_each_of(stored.len());
        for i in stored {
            if let Ok(Staged::Ready(ready)) = &staged[i] {
                self.abandon(ready).await;
            }
            if let Some(e) = errors.next() {
                staged[i] = Err(e);
            }
        }
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

    /// A second bulk call sends its plain jobs with their records at once,
    /// and the unique, delayed and undeclared ones in turn, at the same
    /// time: every result in its job's place, every job sent recorded and
    /// announced.
    #[tokio::test(start_paused = true)]
    async fn a_mixed_bulk_call_keeps_each_jobs_place() {
        let tasks = Tasks::new(MemoryBroker::new());
        tasks.queue("default").declare().await.expect("declare");
        let mut queued = tasks
            .subscribe(crate::EventFilter::new().name("queued"))
            .await
            .expect("subscribe");
        let first = tasks
            .enqueue_many([Job::new("noop").args(0)])
            .await
            .expect("a producer");
        assert!(first.iter().all(Result::is_ok));
        assert_eq!(tasks.if_absent(), Some(true), "learned by the first call");
        assert!(tasks.reached(&level_topic("default", crate::Priority::Medium)));
        let jobs = [
            Job::new("noop").args(1),
            Job::new("noop").args(2).id("once"),
            Job::new("noop")
                .args(3)
                .delay(std::time::Duration::from_secs(60)),
            Job::new("noop").args(4),
            Job::new("noop").args(5).queue("nowhere"),
            Job::new("noop").args(6),
        ];
        let got = tasks.enqueue_many(jobs).await.expect("a producer");
        assert_eq!(got.len(), 6);
        assert!(matches!(
            &got[4],
            Err(TaskError::UndeclaredQueue { queue }) if queue == "nowhere"
        ));
        assert_eq!(got[1].as_ref().expect("unique").id().as_str(), "once");
        let sent: Vec<_> = got.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(sent.len(), 5);
        let mut announced = std::collections::HashSet::new();
        while announced.len() < 1 + sent.len() {
            let e = queued.next().await.expect("an event");
            announced.insert(e.id);
        }
        for h in sent {
            assert!(announced.contains(h.id()), "{} announced", h.id());
            assert_eq!(h.state().await.expect("a record"), TaskState::Queued);
        }
        let counts = tasks.queue("default").counts().await.expect("counts");
        assert_eq!(
            (counts.waiting, counts.scheduled),
            (5, Some(1)),
            "the first call's job and the four not delayed wait: {counts:?}"
        );
    }
}
