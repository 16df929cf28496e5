//! The client: enqueue jobs, get handles, run a job here, watch events.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use weir_core::capability::EventChannel;
use weir_core::{Codec, MsgPack, Topic};

use crate::actor::Outcome;
use crate::enqueue::{message_of, queued_record};
use crate::events::{self, EventFilter, EventKind, TaskEvent, TaskEvents};
use crate::records::Records;
use crate::{
    Context, Job, JobMessage, Queue, Router, TaskBroker, TaskError, TaskHandle, TaskId, TaskState,
    attempt, unique,
};

/// What enqueueing a unique job does while another job with its id is
/// queued or running.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Duplicates {
    /// Fail with [`TaskError::Duplicate`] (the default).
    #[default]
    Refuse,
    /// Enqueue nothing and return a handle to the job already there.
    Ignore,
}

/// The job layer's client on broker `B`, with codec `C` for arguments and
/// results (MessagePack by default). Cheap to clone; clones share one
/// producer.
///
/// ```
/// use weir_memory::MemoryBroker;
/// use weir_tasks::{Job, Tasks};
///
/// # async fn run() -> Result<(), weir_tasks::TaskError> {
/// let tasks = Tasks::new(MemoryBroker::new());
/// tasks.queue("default").declare().await?;
/// let handle = tasks.enqueue(Job::new("add").args((2, 3))).await?;
/// println!("{} is {}", handle.id(), handle.state().await?);
/// # Ok(()) }
/// ```
pub struct Tasks<B: TaskBroker, C = MsgPack> {
    inner: Arc<Inner<B, C>>,
}

struct Inner<B: TaskBroker, C> {
    broker: B,
    codec: C,
    config: Config,
    producer: OnceCell<B::Producer>,
    /// The level topics a job was sent to already (see `enqueue.rs`).
    reached: std::sync::Mutex<std::collections::HashSet<Topic>>,
    /// Whether the broker stores a record only if none is stored (see
    /// `enqueue.rs`): unknown until an enqueue tries.
    if_absent: std::sync::OnceLock<bool>,
}

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) record_ttl: Duration,
    pub(crate) duplicates: Duplicates,
    pub(crate) auto_declare: bool,
    pub(crate) partitions: u32,
    pub(crate) node: String,
}

/// The name of queue `name` local to `node`.
pub(crate) fn local_queue_name(name: &str, node: &str) -> String {
    format!("{name}@{node}")
}

impl<B: TaskBroker, C> Clone for Tasks<B, C> {
    fn clone(&self) -> Self {
        Tasks {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B: TaskBroker, C> fmt::Debug for Tasks<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("broker", &self.inner.broker.name())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Tasks`] client; every setting has a default.
#[derive(Debug)]
#[must_use = "call build() for the client"]
pub struct TasksBuilder<B, C = MsgPack> {
    broker: B,
    codec: C,
    config: Config,
}

impl<B: TaskBroker> Tasks<B> {
    /// A client with the default settings.
    pub fn new(broker: B) -> Self {
        Tasks::builder(broker).build()
    }

    /// A client to configure.
    pub fn builder(broker: B) -> TasksBuilder<B> {
        TasksBuilder {
            broker,
            codec: MsgPack,
            config: Config {
                record_ttl: Duration::from_secs(86_400),
                duplicates: Duplicates::Refuse,
                auto_declare: false,
                partitions: 1,
                node: format!("node-{}", &TaskId::random().as_str()[..12]),
            },
        }
    }
}

impl<B: TaskBroker, C: Codec + Clone> TasksBuilder<B, C> {
    /// The codec of arguments and results (default MessagePack).
    pub fn codec<C2: Codec + Clone>(self, codec: C2) -> TasksBuilder<B, C2> {
        TasksBuilder {
            broker: self.broker,
            codec,
            config: self.config,
        }
    }

    /// How long task records (states, results, errors) are kept (default one day).
    pub fn record_ttl(mut self, ttl: Duration) -> Self {
        self.config.record_ttl = ttl;
        self
    }

    /// What enqueueing a unique job whose id is taken does (default: refuse).
    pub fn duplicates(mut self, duplicates: Duplicates) -> Self {
        self.config.duplicates = duplicates;
        self
    }

    /// Declares a queue on the first enqueue that finds it missing (default off).
    pub fn auto_declare(mut self, on: bool) -> Self {
        self.config.auto_declare = on;
        self
    }

    /// Partitions per level topic of the queues this client declares
    /// (default 1); more spread a queue over a consumer group's members.
    pub fn partitions(mut self, n: u32) -> Self {
        self.config.partitions = n.max(1);
        self
    }

    /// This node's id, which names its local queues (default `node-` and
    /// a random suffix, new in every process). Give a stable one (the
    /// host name, say) for jobs left on a local queue to be taken again
    /// when the node comes back.
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.config.node = id.into();
        self
    }

    /// The client.
    pub fn build(self) -> Tasks<B, C> {
        Tasks {
            inner: Arc::new(Inner {
                broker: self.broker,
                codec: self.codec,
                config: self.config,
                producer: OnceCell::new(),
                reached: Default::default(),
                if_absent: Default::default(),
            }),
        }
    }
}

impl<B: TaskBroker, C: Codec + Clone> Tasks<B, C> {
    /// The broker.
    pub fn broker(&self) -> &B {
        &self.inner.broker
    }

    pub(crate) fn codec(&self) -> &C {
        &self.inner.codec
    }

    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Whether a job was sent to `topic` already by this client.
    pub(crate) fn reached(&self, topic: &Topic) -> bool {
        self.inner
            .reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(topic)
    }

    /// Notes that jobs were sent to `topics`.
    pub(crate) fn note_reached<'a>(&self, topics: impl IntoIterator<Item = &'a Topic>) {
        let mut reached = self
            .inner
            .reached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for topic in topics {
            if !reached.contains(topic) {
                reached.insert(topic.clone());
            }
        }
    }

    /// Whether the broker stores a record only if none is stored: `None`
    /// until an enqueue tried.
    pub(crate) fn if_absent(&self) -> Option<bool> {
        self.inner.if_absent.get().copied()
    }

    /// Notes whether the broker stores a record only if none is stored
    /// (the first answer stays: every later one is the same).
    pub(crate) fn note_if_absent(&self, works: bool) {
        let _ = self.inner.if_absent.set(works);
    }

    pub(crate) fn records(&self) -> Records<'_, B> {
        Records {
            broker: &self.inner.broker,
            ttl: self.inner.config.record_ttl,
        }
    }

    pub(crate) async fn producer(&self) -> Result<&B::Producer, TaskError> {
        self.inner
            .producer
            .get_or_try_init(|| self.inner.broker.producer())
            .await
            .map_err(TaskError::broker("making a producer"))
    }

    /// The queue named `name`.
    pub fn queue(&self, name: impl Into<String>) -> Queue<B> {
        Queue::new(
            self.inner.broker.clone(),
            name,
            self.inner.config.partitions,
        )
    }

    /// This node's id (see [`TasksBuilder::node_id`]).
    pub fn node_id(&self) -> &str {
        &self.inner.config.node
    }

    /// The queue `name` of this node only: `name@<node id>`. Jobs enqueued
    /// on it are taken only by workers of this client that list it with
    /// [`WorkerBuilder::local_queue`](crate::WorkerBuilder::local_queue)
    /// (or by a later process with the same node id).
    ///
    /// ```
    /// # use weir_memory::MemoryBroker;
    /// # use weir_tasks::{Job, Tasks};
    /// let tasks = Tasks::builder(MemoryBroker::new()).node_id("host-a").build();
    /// let cache = tasks.local_queue("cache");
    /// assert_eq!(cache.name(), "cache@host-a");
    /// let job = Job::new("warm").queue(cache.name());
    /// # let _ = job;
    /// ```
    pub fn local_queue(&self, name: &str) -> Queue<B> {
        self.queue(local_queue_name(name, &self.inner.config.node))
    }

    /// A handle to task `id`, from its id alone (from another process, say).
    pub fn handle(&self, id: impl Into<TaskId>) -> TaskHandle<B, C> {
        TaskHandle::new(self.clone(), id.into(), None)
    }

    /// Revokes task `id` if it has not ended: it will not start (a running
    /// attempt finishes). `true` if it was revoked now.
    pub async fn revoke(&self, id: impl Into<TaskId>) -> Result<bool, TaskError> {
        let id = id.into();
        let records = self.records();
        let Some(mut record) = records.get(&id).await? else {
            return Err(TaskError::UnknownTask { id });
        };
        if record.state.is_final() {
            return Ok(false);
        }
        record.state = TaskState::Revoked;
        record.finished_at = Some(SystemTime::now());
        records.put(&record).await?;
        unique::free(self.broker(), &record.queue, &record.id).await?;
        events::publish(self.broker(), &TaskEvent::of(EventKind::Done, &record)).await;
        Ok(true)
    }

    /// Runs `job` now, in this process, with the actor `router` registers
    /// under its name, without a queue: one attempt, with the job's timeout
    /// (no retries, no delay). Its record and events are those of a queued
    /// job, so the handle returned works as any other. For tests and debugging.
    pub async fn execute<A: Serialize>(
        &self,
        router: &Router<C>,
        job: Job<A>,
    ) -> Result<TaskHandle<B, C>, TaskError> {
        let encoded = job.encode(self.codec())?;
        let Some(actor) = router.get(&encoded.actor) else {
            return Err(TaskError::UnknownActor {
                actor: encoded.actor,
            });
        };
        let message = message_of(encoded);
        let mut record = queued_record(&message);
        record.state = TaskState::Started;
        record.attempt = 1;
        record.started_at = Some(SystemTime::now());
        record.worker = Some("execute".to_owned());
        self.records().put(&record).await?;
        events::publish(self.broker(), &TaskEvent::of(EventKind::Started, &record)).await;
        let ctx = self.context(&message, CancellationToken::new());
        let outcome = attempt::run(actor, &message, ctx).await;
        record.finished_at = Some(SystemTime::now());
        match outcome {
            Outcome::Done(bytes) => {
                record.state = TaskState::Success;
                record.result = Some(bytes);
            }
            Outcome::Failed(e) | Outcome::BadArgs(e) | Outcome::BadResult(e) => {
                record.state = TaskState::Failure;
                record.errors.push(e.clone());
                record.error = Some(e);
            }
        }
        self.records().put(&record).await?;
        events::publish(self.broker(), &TaskEvent::of(EventKind::Done, &record)).await;
        Ok(TaskHandle::new(self.clone(), message.id, Some(message.run)))
    }

    /// Subscribes to task events that pass `filter`; events published once
    /// this returns are delivered (there is no history).
    pub async fn subscribe(
        &self,
        filter: EventFilter,
    ) -> Result<TaskEvents<<B as EventChannel>::Subscription>, TaskError> {
        let sub = self
            .broker()
            .subscribe(events::EVENT_CHANNEL)
            .await
            .map_err(TaskError::broker("subscribing to task events"))?;
        Ok(TaskEvents::new(sub, filter))
    }

    /// The context of one attempt of `message`.
    pub(crate) fn context(&self, message: &JobMessage, cancel: CancellationToken) -> Context<C> {
        Context {
            id: message.id.clone(),
            actor: message.actor.clone(),
            queue: message.queue.clone(),
            attempt: message.attempt,
            parent: message.parent.clone(),
            cancel,
            enqueuer: Arc::new(self.clone()),
            codec: self.codec().clone(),
        }
    }
}
