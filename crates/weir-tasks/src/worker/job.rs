//! What a worker does with one job message: the life of an attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weir_core::{Codec, CodecError, Destination, Payload, Producer};

use super::global;
use super::lookups::Lookups;
use super::stats::{Counters, bump};
use crate::actor::{Actor, Outcome};
use crate::attempt::{self, retries_of};
use crate::enqueue::queued_record;
use crate::events::EventKind;
use crate::message::{HEADER_DEAD_REASON, HEADER_QUEUE};
use crate::patience::Patience;
use crate::queue::{dead_letter_topic, level_topic};
use crate::records;
use crate::writes::Writes;
use crate::written::Written;
use crate::{JobMessage, TaskBroker, TaskError, TaskRecord, TaskState, Tasks, later, unique};

/// An actor with its per-worker concurrency limit.
pub(crate) struct Slot<C> {
    pub(crate) actor: Actor<C>,
    pub(crate) limit: Option<Arc<Semaphore>>,
}

/// What every job of one worker shares.
pub(crate) struct Shared<B: TaskBroker, C> {
    pub(crate) tasks: Tasks<B, C>,
    pub(crate) actors: HashMap<String, Slot<C>>,
    pub(crate) worker_id: String,
    pub(crate) counters: Counters,
    /// Wakes the mover of due jobs (a retry was scheduled).
    pub(crate) wake_due: Arc<Notify>,
    /// The messages limit, the messages taken so far, and what fires when
    /// the last is taken.
    pub(crate) limit: Option<u64>,
    pub(crate) taken: AtomicU64,
    pub(crate) limit_reached: CancellationToken,
    /// How long a job's broker calls keep trying through an outage.
    pub(crate) patience: Patience,
    /// Where its jobs' records and events go, together.
    pub(crate) writes: Writes,
    /// Where its jobs' records are read from, together.
    pub(crate) lookups: Lookups,
}

type StepError = weir_strategies::TaskError;

impl<B: TaskBroker, C: Codec + Clone> Shared<B, C> {
    /// Handles one message. Every outcome of the job (success, retry, dead
    /// letter) is `Ok`: the message is done and may be committed. `Err`
    /// only when the broker fails us, which stops the worker with nothing
    /// past this job committed.
    pub(crate) async fn handle(self: Arc<Self>, payload: Payload) -> Result<(), StepError> {
        let taken = self.taken.fetch_add(1, Ordering::Relaxed) + 1;
        if self.limit == Some(taken) {
            self.limit_reached.cancel();
        }
        let message = match JobMessage::decode(&payload) {
            Ok(m) => m,
            Err(e) => return Box::pin(self.undecodable(payload, e)).await,
        };
        let id = message.id.clone();
        self.process(message).await.map_err(|e| {
            tracing::error!(task = %id, error = %weir_core::ErrorReport::new(&e), "the worker cannot go on");
            StepError::fatal(e)
        })
    }

    /// A message that is no job: to its queue's dead-letter topic if it
    /// names its queue, else to the processor's dead-letter policy.
    async fn undecodable(&self, payload: Payload, e: CodecError) -> Result<(), StepError> {
        let reason = format!("not a job message: {e}");
        let queue = payload
            .headers
            .get(HEADER_QUEUE)
            .and_then(|q| std::str::from_utf8(q).ok().map(str::to_owned));
        let Some(queue) = queue else {
            return Err(StepError::invalid(reason));
        };
        tracing::warn!(queue, %reason, "dead-lettering a message that is not a job");
        let dead = payload.with_header(HEADER_DEAD_REASON, reason);
        self.produce(&dead_letter_topic(&queue), dead)
            .await
            .map_err(StepError::fatal)?;
        bump(&self.counters.processed);
        bump(&self.counters.dead_lettered);
        Ok(())
    }

    async fn produce(&self, topic: &weir_core::Topic, payload: Payload) -> Result<(), TaskError> {
        let producer = self.tasks.producer().await?;
        self.patience
            .call(|| async {
                producer
                    .produce(Destination::Topic(topic.clone()), payload.clone())
                    .await
                    .map(|_| ())
                    .map_err(TaskError::broker(format!("producing to `{topic}`")))
            })
            .await
    }

    /// Stores `record` and publishes its `kind` event, and waits until
    /// they (and every write handed in before) are stored: the end of an
    /// attempt, before its message may be committed.
    async fn end(&self, kind: EventKind, record: TaskRecord) -> Result<(), TaskError> {
        self.writes.record(record, Some(kind))?;
        self.writes.flush().await
    }

    /// Frees the unique id of `m` if it has one, through outages.
    async fn free_unique(&self, m: &JobMessage) -> Result<(), TaskError> {
        if !m.unique {
            return Ok(());
        }
        let broker = self.tasks.broker();
        self.patience
            .call(|| unique::free(broker, &m.queue, &m.id))
            .await
    }

    async fn process(self: &Arc<Self>, mut m: JobMessage) -> Result<(), TaskError> {
        // The task's latest record says all a worker needs (a final record
        // is stored there too): one read per job. If this worker wrote one
        // lately (it ran the task a moment ago, and this is a copy), the
        // read must show it.
        let since = match self.writes.written(m.id.as_str()) {
            Written::Pending => {
                self.writes.flush().await?;
                Some(Instant::now())
            }
            Written::StoredBy(at) => Some(at),
            Written::Nothing => None,
        };
        let latest = self
            .lookups
            .one(records::latest_key(m.id.as_str()), since)
            .await?;
        if let Some(latest) = records::decode(&m.id, latest)? {
            // Ended already (delivered again after a crash or a rebalance,
            // or revoked), or a later enqueue of its id wrote since, which
            // a unique id allows only once this one ended: not run again.
            if latest.run != m.run || latest.state.is_final() {
                if latest.run == m.run && latest.state == TaskState::Revoked {
                    bump(&self.counters.revoked);
                }
                return Ok(());
            }
            // An attempt whose successor was scheduled already (its worker
            // died after scheduling the retry, before committing): not run
            // again.
            if latest.attempt > m.attempt
                || (latest.attempt == m.attempt && latest.state == TaskState::Retry)
            {
                return Ok(());
            }
        }
        bump(&self.counters.processed);
        let Some(slot) = self.actors.get(&m.actor) else {
            let reason = format!(
                "no actor `{}` is registered on worker `{}` for task `{}`",
                m.actor, self.worker_id, m.id
            );
            m.errors.push(reason.clone());
            return Box::pin(self.give_up(m, reason.clone(), reason)).await;
        };
        let _permit = match &slot.limit {
            Some(s) => Some(Arc::clone(s).acquire_owned().await),
            None => None,
        };
        let _global = match slot.actor.info.global_concurrency {
            Some(limit) => Some(
                Box::pin(global::acquire(
                    self.tasks.broker(),
                    self.patience,
                    &m.actor,
                    format!("{}/{}/{}", self.worker_id, m.id, m.attempt),
                    limit,
                ))
                .await?,
            ),
            None => None,
        };
        let mut record = queued_record(&m);
        record.state = TaskState::Started;
        record.attempt = m.attempt;
        record.started_at = Some(SystemTime::now());
        record.worker = Some(self.worker_id.clone());
        // Not waited for: stored before the attempt's end, which is.
        self.writes
            .record(record.clone(), Some(EventKind::Started))?;

        let cancel = CancellationToken::new();
        let guard = InFlight {
            shared: Some(Arc::clone(self)),
            record: Some(record),
            cancel: cancel.clone(),
        };
        let ctx = self.tasks.context(&m, cancel);
        let outcome = attempt::run(&slot.actor, &m, ctx).await;
        let mut record = guard.disarm();

        match outcome {
            Outcome::Done(bytes) => {
                record.state = TaskState::Success;
                record.result = Some(bytes);
                record.finished_at = Some(SystemTime::now());
                // Not waited for: the worker's consumer commits only once
                // it is stored. A unique id is freed only after, so a new
                // run of it never finds this one's record landing late.
                self.writes.record(record, Some(EventKind::Done))?;
                if m.unique {
                    self.writes.flush().await?;
                    Box::pin(self.free_unique(&m)).await?;
                }
                bump(&self.counters.succeeded);
                Ok(())
            }
            Outcome::Failed(error) => {
                bump(&self.counters.failed);
                m.errors.push(error.clone());
                if m.attempt <= retries_of(&slot.actor, &m) {
                    Box::pin(self.retry(&slot.actor, m, record, error)).await
                } else {
                    let reason = format!(
                        "actor `{}` failed task `{}` in all {} attempt(s); the last: {error}",
                        m.actor, m.id, m.attempt
                    );
                    Box::pin(self.give_up(m, reason, error)).await
                }
            }
            Outcome::BadArgs(cause) => {
                let reason = format!(
                    "the arguments of task `{}` do not decode into what actor `{}` takes: {cause}",
                    m.id, m.actor
                );
                m.errors.push(reason.clone());
                Box::pin(self.give_up(m, reason.clone(), reason)).await
            }
            Outcome::BadResult(cause) => {
                bump(&self.counters.failed);
                let reason = format!(
                    "the result of task `{}` (actor `{}`) does not encode: {cause}",
                    m.id, m.actor
                );
                m.errors.push(reason.clone());
                Box::pin(self.give_up(m, reason.clone(), reason)).await
            }
        }
    }

    /// Schedules the next attempt after the actor's backoff, in the
    /// broker's delayed store: this worker holds no slot while it waits.
    async fn retry(
        &self,
        actor: &Actor<C>,
        m: JobMessage,
        mut record: TaskRecord,
        error: String,
    ) -> Result<(), TaskError> {
        let wait = actor.retry.backoff(m.attempt);
        let next = JobMessage {
            attempt: m.attempt + 1,
            ..m
        };
        let payload = next.to_payload().map_err(|source| TaskError::Corrupt {
            id: next.id.clone(),
            what: "message",
            source,
        })?;
        let topic = level_topic(&next.queue, next.priority);
        let due = SystemTime::now() + wait;
        let broker = self.tasks.broker();
        self.patience
            .call(|| async {
                later::produce_at(broker, &topic, payload.clone(), due)
                    .await
                    .map_err(TaskError::broker(format!(
                        "scheduling the retry of task `{}` on `{topic}`",
                        next.id
                    )))
            })
            .await?;
        record.state = TaskState::Retry;
        record.error = Some(error);
        record.errors = next.errors.clone();
        self.end(EventKind::Retry, record).await?;
        bump(&self.counters.retried);
        self.wake_due.notify_one();
        Ok(())
    }

    /// Sends the job to its queue's dead-letter topic with `reason` and
    /// every attempt's error, and records its failure (`error`).
    async fn give_up(
        &self,
        mut m: JobMessage,
        reason: String,
        error: String,
    ) -> Result<(), TaskError> {
        tracing::warn!(task = %m.id, actor = %m.actor, %reason, "dead-lettering a job");
        m.dead_reason = Some(reason.clone());
        let payload = m
            .to_payload()
            .map_err(|source| TaskError::Corrupt {
                id: m.id.clone(),
                what: "message",
                source,
            })?
            .with_header(HEADER_DEAD_REASON, reason);
        self.produce(&dead_letter_topic(&m.queue), payload).await?;
        let mut record = queued_record(&m);
        record.state = TaskState::Failure;
        record.attempt = m.attempt;
        record.worker = Some(self.worker_id.clone());
        record.error = Some(error);
        record.errors = m.errors.clone();
        record.finished_at = Some(SystemTime::now());
        self.end(EventKind::Done, record).await?;
        self.free_unique(&m).await?;
        bump(&self.counters.dead_lettered);
        Ok(())
    }
}

/// A running attempt. Dropped before it is disarmed, the attempt was cut
/// off (the graceful shutdown time ran out): its token fires, and its
/// record goes back to `Queued`, as the job does (its message is not
/// committed, so it is delivered again, with the same attempt number).
struct InFlight<B: TaskBroker, C: Codec + Clone> {
    shared: Option<Arc<Shared<B, C>>>,
    /// The attempt's record; taken back when it ends.
    record: Option<TaskRecord>,
    cancel: CancellationToken,
}

impl<B: TaskBroker, C: Codec + Clone> InFlight<B, C> {
    /// The attempt ended: its record back, for its outcome.
    fn disarm(mut self) -> TaskRecord {
        self.shared = None;
        self.record
            .take()
            .unwrap_or_else(|| unreachable!("taken only here"))
    }
}

impl<B: TaskBroker, C: Codec + Clone> Drop for InFlight<B, C> {
    fn drop(&mut self) {
        let (Some(shared), Some(mut record)) = (self.shared.take(), self.record.take()) else {
            return;
        };
        self.cancel.cancel();
        bump(&shared.counters.interrupted);
        record.state = TaskState::Queued;
        record.attempt = record.attempt.saturating_sub(1);
        record.worker = None;
        let id = record.id.clone();
        if let Err(e) = shared.writes.record(record, None) {
            tracing::warn!(task = %id, error = %weir_core::ErrorReport::new(&e), "cannot record an interrupted job as queued");
        }
    }
}
