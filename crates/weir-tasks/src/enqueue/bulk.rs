//! Many jobs enqueued in one call: the ones that can go with their
//! records at once (see `at_once.rs`) in one round trip, the others in
//! three, at the same time; one result per job, in its place.

use bytes::Bytes;
use futures::future::join_all;
use serde::Serialize;
use weir_core::{BrokerError, Codec, Destination, Producer};

use super::{Placed, Staged, message_of, ready_of};
use crate::events::{self, EVENT_CHANNEL, EventKind, TaskEvent};
use crate::job::Encoded;
use crate::{Job, TaskBroker, TaskError, TaskHandle, Tasks, records};

impl<B: TaskBroker, C: Codec + Clone> Tasks<B, C> {
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
}

#[cfg(test)]
mod tests {
    use weir_memory::MemoryBroker;

    use super::*;
    use crate::TaskState;
    use crate::queue::level_topic;

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
