//! Workers: run the actors of their routers on the jobs of their queues.
//!
//! A worker is a `weir-strategies` stream processor over a
//! [`PriorityConsumer`](crate::priority::PriorityConsumer) of its queues'
//! level topics, in consumer group `weir-tasks` (by default), with one
//! pipeline step: [`KeyedRunTask`](weir_strategies::KeyedRunTask) keyed by
//! task id, at the worker's concurrency. So what the processor does comes
//! with it: rebalancing when workers join and leave, backpressure (a full
//! worker stops fetching), and graceful shutdown (stop reading, join the
//! running jobs within the graceful shutdown time, commit what finished).
//! Jobs finish out of order, and the committed offset is the low watermark:
//! it never passes a job that has not finished, so a worker that dies
//! leaves its unfinished jobs to be delivered again to the group's other
//! members. A job whose end was recorded is not run again then.

mod consumer;
mod due;
mod global;
mod job;
mod lookups;
mod own_thread;
mod spawned;
mod stats;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use weir_core::{Codec, ConsumerConfig, MsgPack, Payload, Topic};
use weir_strategies::{
    DEFAULT_OUTAGE_TIMEOUT, DeadLetterQueue, Pipeline, StrategyContext, StreamProcessor,
};

use crate::actor::Actor;
use crate::catalogue::Catalogue;
use crate::client::local_queue_name;
use crate::patience::Patience;
use crate::priority::PriorityConsumer;
use crate::queue::{DEFAULT_GROUP, dead_letter_topic, levels};
use crate::writes::Writes;
use crate::{Router, TaskBroker, TaskError, TaskId, Tasks};

use consumer::JobConsumer;

/// By default a worker takes jobs ahead of those running until it holds
/// this many (see [`WorkerBuilder::prefetch`]).
const DEFAULT_IN_HAND: usize = 40;
/// The most jobs one read from the broker takes.
const MAX_POLL: usize = 1000;
use job::{Shared, Slot};
use lookups::Lookups;
pub use stats::WorkerStats;
pub use weir_strategies::{ShutdownHandle, Signal};

/// Runs the actors of its routers on the jobs of their queues, until shut
/// down (a [`ShutdownHandle`], a signal) or until it has taken its messages
/// limit, and returns what it did.
///
/// | setting | default |
/// |---|---|
/// | [`router`](WorkerBuilder::router) | none; add one or more |
/// | [`concurrency`](WorkerBuilder::concurrency) | 10 jobs at once |
/// | [`messages_limit`](WorkerBuilder::messages_limit) | none |
/// | [`graceful_shutdown_time`](WorkerBuilder::graceful_shutdown_time) | 25 s |
/// | [`handle_signals`](WorkerBuilder::handle_signals) | SIGINT and SIGTERM |
/// | [`auto_declare`](WorkerBuilder::auto_declare) | on: declares its queues |
/// | [`group`](WorkerBuilder::group) | `"weir-tasks"` |
/// | [`delay_poll_interval`](WorkerBuilder::delay_poll_interval) | 1 s |
/// | [`outage_timeout`](WorkerBuilder::outage_timeout) | 5 min |
/// | [`dedicated_thread`](WorkerBuilder::dedicated_thread) | on when the caller's runtime is multi-threaded |
///
/// ```
/// use weir_memory::MemoryBroker;
/// use weir_tasks::{Context, Job, Router, Tasks, Worker};
///
/// # async fn run() -> Result<(), weir_tasks::TaskError> {
/// let tasks = Tasks::new(MemoryBroker::new());
/// let mut router = Router::new();
/// router.actor("add", |(a, b): (i64, i64), _: Context| async move { Ok::<_, String>(a + b) });
/// let worker = Worker::builder(&tasks).router(router).messages_limit(1).build();
/// tasks.queue("default").declare().await?;
/// let handle = tasks.enqueue(Job::new("add").args((2, 3))).await?;
/// let stats = worker.run().await?;
/// assert_eq!((stats.succeeded, handle.wait::<i64>().await?), (1, 5));
/// # Ok(()) }
/// ```
pub struct Worker<B: TaskBroker, C = MsgPack> {
    tasks: Tasks<B, C>,
    actors: BTreeMap<String, Actor<C>>,
    queues: BTreeSet<String>,
    concurrency: usize,
    prefetch: Option<usize>,
    messages_limit: Option<u64>,
    graceful_shutdown_time: Duration,
    signals: Vec<Signal>,
    auto_declare: bool,
    group: String,
    id: String,
    delay_poll_interval: Duration,
    outage_timeout: Duration,
    /// `None`: on a thread of its own when the caller's runtime is multi-threaded.
    dedicated_thread: Option<bool>,
    shutdown: ShutdownHandle,
}

impl<B: TaskBroker, C> fmt::Debug for Worker<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("actors", &self.actors.keys().collect::<Vec<_>>())
            .field("queues", &self.queues)
            .field("concurrency", &self.concurrency)
            .field("prefetch", &self.prefetch)
            .field("messages_limit", &self.messages_limit)
            .field("graceful_shutdown_time", &self.graceful_shutdown_time)
            .field("dedicated_thread", &self.dedicated_thread)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Worker`]; settings read in the order of the work.
#[must_use = "call build() for the worker"]
pub struct WorkerBuilder<B: TaskBroker, C = MsgPack> {
    worker: Worker<B, C>,
}

impl<B: TaskBroker, C> fmt::Debug for WorkerBuilder<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.worker.fmt(f)
    }
}

impl<B: TaskBroker, C: Codec + Clone> Worker<B, C> {
    /// A worker for the jobs of `tasks`' broker.
    pub fn builder(tasks: &Tasks<B, C>) -> WorkerBuilder<B, C> {
        WorkerBuilder {
            worker: Worker {
                tasks: tasks.clone(),
                actors: BTreeMap::new(),
                queues: BTreeSet::new(),
                concurrency: 10,
                prefetch: None,
                messages_limit: None,
                graceful_shutdown_time: Duration::from_secs(25),
                signals: vec![Signal::Interrupt, Signal::Terminate],
                auto_declare: true,
                group: DEFAULT_GROUP.to_owned(),
                id: format!(
                    "worker-{}-{}",
                    std::process::id(),
                    &TaskId::random().as_str()[..8]
                ),
                delay_poll_interval: Duration::from_secs(1),
                outage_timeout: DEFAULT_OUTAGE_TIMEOUT,
                dedicated_thread: None,
                shutdown: ShutdownHandle::default(),
            },
        }
    }

    /// A handle that stops this worker gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// This worker's id (in task records).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The actors it runs.
    pub fn catalogue(&self) -> Catalogue {
        Catalogue {
            actors: self.actors.values().map(|a| a.info.clone()).collect(),
        }
    }

    /// How many jobs it takes ahead of those running.
    pub fn prefetch(&self) -> usize {
        self.prefetch
            .unwrap_or(DEFAULT_IN_HAND.saturating_sub(self.concurrency))
    }

    /// The queues it takes jobs from: its actors' and any added.
    pub fn queues(&self) -> Vec<String> {
        let mut all = self.queues.clone();
        all.extend(self.actors.values().map(|a| a.info.queue.clone()));
        all.into_iter().collect()
    }

    /// Runs until shut down or until the messages limit, then returns what
    /// it did. On shutdown it takes no more jobs and lets the running ones
    /// finish within the graceful shutdown time; those still running then
    /// are cancelled and go back to the queue without counting a retry.
    ///
    /// Where it runs: called on a multi-threaded tokio runtime, on a thread
    /// of its own by default (see [`WorkerBuilder::dedicated_thread`]);
    /// with that turned off, as a task of the caller's runtime; on a
    /// current-thread runtime, right there. Dropping the future this
    /// returns asks a worker on its own thread or on the caller's
    /// multi-threaded runtime to stop, as its [`ShutdownHandle`] does; one
    /// on a current-thread runtime stops at once, its running jobs
    /// returned to the queue.
    ///
    /// # Errors
    ///
    /// Declaring its queues failed, or the broker failed it while it ran
    /// ([`TaskError::Worker`], with nothing unfinished committed), or its
    /// own thread did not start ([`TaskError::Thread`]).
    pub async fn run(self) -> Result<WorkerStats, TaskError> {
        let multi_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread);
        let own_thread = self.dedicated_thread.unwrap_or(multi_threaded);
        if !own_thread && !multi_threaded {
            return self.run_here().await;
        }
        // Run elsewhere: a caller that stops waiting asks it to stop.
        let _stop = StopOnDrop(self.shutdown.clone());
        if own_thread {
            own_thread::run(self).await
        } else {
            spawned::run(self).await
        }
    }

    /// Runs on the caller's runtime (see [`run`](Worker::run)).
    async fn run_here(self) -> Result<WorkerStats, TaskError> {
        let queues = self.queues();
        // The most jobs it holds: running, and taken ahead.
        let held = self.concurrency.saturating_add(self.prefetch());
        let Worker {
            tasks,
            actors,
            concurrency,
            messages_limit,
            graceful_shutdown_time,
            signals,
            auto_declare,
            group,
            id,
            delay_poll_interval,
            outage_timeout,
            shutdown,
            ..
        } = self;
        if auto_declare {
            for q in &queues {
                tasks.queue(q.as_str()).declare().await?;
            }
        }
        let patience = Patience {
            timeout: outage_timeout,
        };
        let writes = Writes::start(tasks.broker().clone(), tasks.records().ttl, patience);
        let shared = Arc::new(Shared {
            tasks: tasks.clone(),
            actors: actors
                .into_iter()
                .map(|(name, actor)| {
                    let limit = actor
                        .info
                        .max_concurrency
                        .map(|n| Arc::new(Semaphore::new(n)));
                    (name, Slot { actor, limit })
                })
                .collect::<HashMap<_, _>>(),
            worker_id: id.clone(),
            counters: Default::default(),
            wake_due: Arc::new(Notify::new()),
            limit: messages_limit,
            taken: Default::default(),
            limit_reached: CancellationToken::new(),
            patience,
            writes,
            lookups: Lookups::start(tasks.broker().clone(), patience),
        });
        if messages_limit == Some(0) {
            shared.limit_reached.cancel();
        }

        let config = ConsumerConfig::builder(group.as_str())
            .client_id(id.as_str())
            .max_poll_records(held.clamp(8, MAX_POLL))
            .build()
            .map_err(TaskError::broker("configuring the worker's consumer"))?;
        let max = config.max_poll_records();
        let consumer = tasks
            .broker()
            .consumer(config)
            .await
            .map_err(TaskError::broker(format!(
                "joining consumer group `{group}`"
            )))?;
        let limit_reached = shared.limit_reached.clone();
        let consumer = JobConsumer::new(
            PriorityConsumer::new(consumer, levels(), max),
            messages_limit,
            shared.writes.clone(),
        )
        .read_ahead(shared.lookups.clone());
        let producer = tasks.producer().await?.clone();
        let fallback_dead = dead_letter_topic(queues.first().map_or("default", String::as_str));
        let factory = {
            let shared = Arc::clone(&shared);
            move |_: &StrategyContext| {
                let shared = Arc::clone(&shared);
                Pipeline::new()
                    .keyed(
                        |p: &Payload| p.key.clone(),
                        move |p: Payload| Arc::clone(&shared).handle(p),
                    )
                    .concurrency(concurrency)
                    .max_pending(held)
                    .commit()
            }
        };
        let topics: Vec<Topic> = queues.iter().map(|q| Topic::new(q.as_str())).collect();
        let processor = StreamProcessor::builder(consumer, topics, factory)
            .join_timeout(Some(graceful_shutdown_time))
            .outage_timeout(outage_timeout)
            .dead_letter(DeadLetterQueue::new(producer, fallback_dead))
            .build();

        // Whatever asks first stops the processor.
        let stop = processor.shutdown_handle();
        let bridge = tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.requested() => {}
                _ = limit_reached.cancelled() => {}
                _ = Signal::any(signals) => tracing::info!("signal received: the worker stops"),
            }
            stop.shutdown();
        });
        let level_topics: Vec<Topic> = queues
            .iter()
            .flat_map(|q| levels().topics(&Topic::new(q.as_str())))
            .collect();
        let stop_moving = CancellationToken::new();
        let mover = tokio::spawn(due::move_due(
            tasks.broker().clone(),
            level_topics,
            delay_poll_interval,
            Arc::clone(&shared.wake_due),
            stop_moving.clone(),
        ));

        tracing::info!(worker = %id, queues = ?queues, "worker starts");
        let outcome = processor.run().await;
        // What the jobs cut off at shutdown wrote is stored before it returns.
        if let Err(e) = shared.writes.flush().await {
            tracing::warn!(worker = %id, error = %weir_core::ErrorReport::new(&e), "cannot store the last task records");
        }
        stop_moving.cancel();
        bridge.abort();
        let _ = mover.await;
        let stats = shared.counters.snapshot();
        tracing::info!(worker = %id, ?stats, "worker stopped");
        outcome.map(|_| stats).map_err(TaskError::Worker)
    }
}

impl<B: TaskBroker, C: Codec + Clone> WorkerBuilder<B, C> {
    /// Adds the actors of `router` (replacing those of the same name).
    pub fn router(mut self, router: Router<C>) -> Self {
        self.worker.actors.extend(router.actors);
        self
    }

    /// Also takes jobs from `queue` (besides its actors' queues).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.worker.queues.insert(queue.into());
        self
    }

    /// Also takes jobs from this node's queue `name` (see
    /// [`Tasks::local_queue`]), which no other node's workers take.
    pub fn local_queue(mut self, name: &str) -> Self {
        let local = local_queue_name(name, self.worker.tasks.node_id());
        self.worker.queues.insert(local);
        self
    }

    /// At most `n` jobs run at once (default 10).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.worker.concurrency = n.max(1);
        self
    }

    /// Takes up to `n` jobs ahead of those running, to start each as soon
    /// as a slot frees instead of after a read from the broker. By default
    /// a worker holds 40 jobs (running and taken ahead) when its
    /// concurrency is below 40, and takes none ahead above: a small worker
    /// then reads, looks up and commits its jobs 40 at a time, while a
    /// large one already does, and jobs waiting in its hand would only
    /// wait for a slot.
    ///
    /// A partition's jobs go to the one worker it is assigned to, so a job
    /// taken ahead keeps no other worker waiting; it only costs memory, and
    /// at a shutdown or a rebalance the jobs taken ahead and not started go
    /// back to the queue. 0 takes only as many jobs as can run; a job of
    /// higher priority that comes meanwhile starts after those taken ahead.
    pub fn prefetch(mut self, n: usize) -> Self {
        self.worker.prefetch = Some(n);
        self
    }

    /// Stops after taking `n` jobs (default: no limit).
    pub fn messages_limit(mut self, n: u64) -> Self {
        self.worker.messages_limit = Some(n);
        self
    }

    /// How long running jobs may finish once a shutdown is asked (default
    /// 25 s: Kubernetes kills 30 s after SIGTERM).
    pub fn graceful_shutdown_time(mut self, d: Duration) -> Self {
        self.worker.graceful_shutdown_time = d;
        self
    }

    /// The signals that stop it gracefully (default SIGINT and SIGTERM;
    /// none: `handle_signals([])`).
    pub fn handle_signals(mut self, signals: impl IntoIterator<Item = Signal>) -> Self {
        self.worker.signals = signals.into_iter().collect();
        self
    }

    /// Declares its queues when it starts (default on).
    pub fn auto_declare(mut self, on: bool) -> Self {
        self.worker.auto_declare = on;
        self
    }

    /// The consumer group its queues are shared in (default `"weir-tasks"`).
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.worker.group = group.into();
        self
    }

    /// Its id, in task records (default `worker-<pid>-<random>`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.worker.id = id.into();
        self
    }

    /// How often it looks for due delayed jobs and retries scheduled by
    /// other processes (default 1 s; its own are moved on time).
    pub fn delay_poll_interval(mut self, d: Duration) -> Self {
        self.worker.delay_poll_interval = d;
        self
    }

    /// Whether it runs on a thread of its own, on a current-thread tokio
    /// runtime (default: yes when [`Worker::run`] is called on a
    /// multi-threaded runtime; a current-thread runtime runs it in place
    /// either way). Its consumer, its pipeline and its async actors then
    /// stay on that thread, and `run` awaits it from wherever it is
    /// called: handing work between the worker's tasks never wakes another
    /// thread. In the tasks bench (no-op jobs on Redis, a multi-threaded
    /// runtime on two cores) a worker so run processed 12% and 21% more
    /// jobs a second at concurrency 10 and 100 than one spawned on the
    /// caller's runtime, on 10% and 26% less CPU per job (see
    /// `docs/tasks.md`, "Throughput").
    ///
    /// On its own thread, its actors run there: `tokio::spawn` in an actor
    /// spawns there (and such a task ends with the worker),
    /// `tokio::task::block_in_place` is not available, and an async actor
    /// that computes for long holds up the others (make it a blocking
    /// actor, which runs on that runtime's blocking pool). Turn it off to
    /// run the worker as a task of the caller's runtime instead.
    pub fn dedicated_thread(mut self, on: bool) -> Self {
        self.worker.dedicated_thread = Some(on);
        self
    }

    /// How long it rides through a broker outage (default 5 min): its
    /// consumer's calls and its jobs' calls (records, events, retries,
    /// dead letters) that fail with a transient error are tried again with
    /// a backoff for this long before the worker stops with the error.
    pub fn outage_timeout(mut self, d: Duration) -> Self {
        self.worker.outage_timeout = d;
        self
    }

    /// The worker.
    pub fn build(self) -> Worker<B, C> {
        self.worker
    }
}

/// Asks the worker to stop when the caller stops waiting for it.
struct StopOnDrop(ShutdownHandle);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use weir_memory::MemoryBroker;

    use super::*;

    /// Runs one job on a worker built by `build`: the name of the thread
    /// it ran on, and of the worker's own thread (had it one).
    async fn where_a_job_runs(
        build: impl FnOnce(WorkerBuilder<MemoryBroker>) -> WorkerBuilder<MemoryBroker>,
    ) -> (Option<String>, String) {
        let tasks = Tasks::new(MemoryBroker::new());
        tasks.queue("default").declare().await.expect("declare");
        let mut router = Router::new();
        router.actor("where", |(): (), _: crate::Context| async {
            Ok::<_, String>(std::thread::current().name().map(str::to_owned))
        });
        let worker = build(Worker::builder(&tasks).router(router))
            .messages_limit(1)
            .handle_signals([])
            .build();
        let own = format!("weir-{}", worker.id());
        let handle = tasks
            .enqueue(crate::Job::new("where").args(()))
            .await
            .expect("enqueue");
        let stats = worker.run().await.expect("runs");
        assert_eq!(stats.succeeded, 1, "its stats come back to the caller");
        (handle.wait().await.expect("result"), own)
    }

    /// A worker asked for a thread of its own runs its actors there, and
    /// returns its stats to the caller.
    #[tokio::test]
    async fn a_worker_on_its_own_thread_runs_its_jobs_there() {
        let (ran, own) = where_a_job_runs(|w| w.dedicated_thread(true)).await;
        assert_eq!(ran, Some(own));
    }

    /// Called on a multi-threaded runtime, a worker takes a thread of its
    /// own unless told not to; then it runs on the runtime's threads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_multi_threaded_runtime_a_worker_runs_on_its_own_thread_by_default() {
        let here = std::thread::current().name().map(str::to_owned);
        let (ran, own) = where_a_job_runs(|w| w).await;
        assert_eq!(ran, Some(own));
        let (ran, own) = where_a_job_runs(|w| w.dedicated_thread(false)).await;
        assert_ne!(ran, Some(own));
        assert_ne!(ran, here, "spawned, not on the thread that awaits it");
    }

    /// On a current-thread runtime (where a paused clock is), a worker
    /// runs right there by default.
    #[tokio::test]
    async fn on_a_current_thread_runtime_a_worker_runs_in_place_by_default() {
        let here = std::thread::current().name().map(str::to_owned);
        let (ran, _) = where_a_job_runs(|w| w).await;
        assert_eq!(ran, here);
    }

    /// Dropping the `run` of a worker on its own thread, or spawned on
    /// the caller's multi-threaded runtime, stops it: its thread or task
    /// ends, dropping its actors.
    async fn dropping_the_run_stops_it(own_thread: bool) {
        let tasks = Tasks::new(MemoryBroker::new());
        tasks.queue("default").declare().await.expect("declare");
        let held = Arc::new(());
        let mut router = Router::new();
        let mine = Arc::clone(&held);
        router.actor("noop", move |(): (), _: crate::Context| {
            let _mine = Arc::clone(&mine);
            async { Ok::<_, String>(()) }
        });
        let worker = Worker::builder(&tasks)
            .router(router)
            .handle_signals([])
            .graceful_shutdown_time(Duration::from_secs(1))
            .dedicated_thread(own_thread)
            .build();
        let running = tokio::spawn(worker.run());
        let handle = tasks
            .enqueue(crate::Job::new("noop").args(()))
            .await
            .expect("enqueue");
        handle.wait::<()>().await.expect("the worker runs");
        assert!(Arc::strong_count(&held) > 1, "its actor holds a clone");
        running.abort();
        let _ = running.await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Arc::strong_count(&held) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the worker never ended (own thread: {own_thread})"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn dropping_the_run_of_a_worker_on_its_own_thread_stops_it() {
        dropping_the_run_stops_it(true).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_the_run_of_a_spawned_worker_stops_it() {
        dropping_the_run_stops_it(false).await;
    }

    #[test]
    fn a_worker_holds_forty_jobs_unless_it_runs_more_or_is_told() {
        let tasks = Tasks::new(MemoryBroker::new());
        let held = |w: WorkerBuilder<MemoryBroker>| {
            let w = w.build();
            (w.concurrency, w.prefetch())
        };
        let worker = || Worker::builder(&tasks);
        assert_eq!(held(worker().concurrency(10)), (10, 30));
        assert_eq!(held(worker().concurrency(1)), (1, 39));
        assert_eq!(held(worker().concurrency(100)), (100, 0));
        assert_eq!(held(worker().concurrency(10).prefetch(0)), (10, 0));
        assert_eq!(held(worker().concurrency(100).prefetch(50)), (100, 50));
    }
}
