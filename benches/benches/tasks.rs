//! weir-tasks on Redis next to the job queues its users come from, on one
//! redis-server of the bench's own (a free loopback port): `apalis` +
//! `apalis-redis` (its defaults, and with task locking off) and
//! `bullmq-official`.
//!
//! For N no-op jobs (each job's argument is its number, its result that
//! number back), every side:
//! - enqueues them one by one (one caller, each enqueue awaited before the
//!   next), and in bulk (calls of `WEIR_BENCH_TASKS_BULK` jobs, 1,000 by
//!   default: weir-tasks `enqueue_many`, apalis `push_bulk`, bullmq `add_bulk`);
//! - processes them at concurrency 1, 10 and 100: N jobs enqueued in bulk
//!   (not timed), then the clock runs from creating the worker until all N
//!   are done (weir-tasks: `run()` returns at its messages limit with every
//!   outcome recorded; apalis: the worker stopped at the N-th success has
//!   returned, its acknowledgements flushed; bullmq: the N-th `Completed`
//!   event, which the worker sends once the job's `moveToFinished` script
//!   has returned);
//! - measures end-to-end latency, enqueue to result awaited, for jobs
//!   enqueued at a steady rate (1,000/s) while a worker of concurrency 10 runs:
//!   weir-tasks through the `TaskHandle`, bullmq through `QueueEvents` (its
//!   own way to await a job), apalis through `WaitForCompletion::wait_for`.
//!
//! The Redis database is flushed before every measurement, so each starts
//! from the same state. The sides are interleaved run by run (weir, apalis,
//! apalis unlocked, bullmq, weir, ...), at least `WEIR_BENCH_RUNS` runs (5 by
//! default), and each figure is printed as the median with its range, never
//! the best run, with the ratio of medians weir/peer.
//!
//! apalis-redis puts every pushed task in its scheduled set (`push_tasks`
//! gives each a run time, now at the earliest) and its fetch script moves
//! all due ones at once with one Lua `unpack`, which fails beyond about
//! 8,000 (Lua's stack limit): a worker started with more than that waiting
//! stops with an error. For the same reason its push never publishes the
//! "available" message that would wake an idle worker: jobs enqueued while
//! a worker is idle wait for its next heartbeat (30 s by default), which is
//! what its latency figures show. Its processing runs are therefore made
//! in rounds of `WEIR_BENCH_TASKS_APALIS_ROUND` jobs (5,000 by default;
//! enqueue a round untimed, process it timed, add the times); 0 makes one
//! round of N, to show the failure.
//!
//! weir-tasks runs as two sides in the processing and latency parts: its
//! worker as built by default (on a thread of its own, since the bench's
//! runtime is multi-threaded; see `WorkerBuilder::dedicated_thread`), and
//! with `dedicated_thread(false)`, spawned on the bench's runtime. Both
//! enqueue alike, so the enqueue and commands parts measure one.
//!
//! Settings (environment): `WEIR_BENCH_TASKS_JOBS` (N, 50,000),
//! `WEIR_BENCH_RUNS` (5), `WEIR_BENCH_TASKS_BULK` (1,000),
//! `WEIR_BENCH_TASKS_CONCURRENCY` (the processing runs' concurrencies,
//! `1,10,100`), `WEIR_BENCH_TASKS_LATENCY_JOBS` (5,000),
//! `WEIR_BENCH_TASKS_RATE` (1,000 jobs/s), `WEIR_BENCH_TASKS_APALIS_ROUND`
//! (5,000). Arguments that are not flags select parts by name: `enqueue`,
//! `process`, `latency`, `commands`, and sides `weir`, `apalis`, `bullmq`
//! (all when none is given).
//!
//! `cargo xtask bench tasks` (it installs redis-server when missing).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use apalis::prelude::{
    BoxDynError, Event, EventListenerExt, TaskBuilder, TaskId, TaskSink, WaitForCompletion,
    WorkerBuilder, WorkerBuilderExt, WorkerContext,
};
use apalis_redis::RedisStorage;
use bullmq::options::RedisConnectionOptions;
use bullmq::worker::WorkerEvent;
use bullmq::{BulkJob, Queue, QueueEvent, QueueEvents, QueueEventsOptions, QueueOptions};
use futures::StreamExt;
use weir_benches::{
    Spread, env_or, interleaved, per_second, percentile, process_cpu, runs_from_env, runtime,
};
use weir_redis::{RedisBroker, RedisConfig};
use weir_tasks::{Context, Job, Router, Tasks, Worker};
use weir_testkit::servers::redis::RedisServer;

/// The actor (weir-tasks) or job name (bullmq) of the no-op job.
const ACTOR: &str = "noop";
/// The queue every side uses.
const QUEUE: &str = "bench";
/// How long one job's result may take in the latency runs before the bench gives up.
const RESULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The worker concurrency of the latency runs.
const LATENCY_CONCURRENCY: usize = 10;
/// The most due jobs an apalis-redis worker survives (see the module docs).
const APALIS_DUE_LIMIT: u64 = 7_999;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Weir,
    /// weir-tasks with `WorkerBuilder::dedicated_thread(false)`: the same
    /// client, its workers spawned on the bench's runtime.
    WeirSpawned,
    Apalis,
    ApalisUnlocked,
    Bullmq,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Weir => "weir-tasks",
            Side::WeirSpawned => "weir-tasks, worker spawned",
            Side::Apalis => "apalis-redis",
            Side::ApalisUnlocked => "apalis-redis lock_tasks(false)",
            Side::Bullmq => "bullmq-official",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Side::Weir | Side::WeirSpawned => "weir",
            Side::Apalis | Side::ApalisUnlocked => "apalis",
            Side::Bullmq => "bullmq",
        }
    }

    fn is_weir(self) -> bool {
        matches!(self, Side::Weir | Side::WeirSpawned)
    }

    /// Whether this side's workers are spawned on the bench's runtime
    /// (`dedicated_thread(false)`) rather than built by default.
    fn spawned(self) -> bool {
        self == Side::WeirSpawned
    }
}

struct Settings {
    jobs: u64,
    runs: usize,
    bulk: u64,
    latency_jobs: u64,
    rate: u64,
    apalis_round: u64,
    concurrencies: Vec<usize>,
    parts: Vec<String>,
    sides: Vec<Side>,
}

impl Settings {
    fn from_env() -> Settings {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        let parts: Vec<String> = args
            .iter()
            .filter(|a| ["enqueue", "process", "latency", "commands"].contains(&a.as_str()))
            .cloned()
            .collect();
        let named: Vec<&String> = args
            .iter()
            .filter(|a| ["weir", "apalis", "bullmq"].contains(&a.as_str()))
            .collect();
        let all = [
            Side::Weir,
            Side::WeirSpawned,
            Side::Apalis,
            Side::ApalisUnlocked,
            Side::Bullmq,
        ];
        let sides = all
            .into_iter()
            .filter(|s| named.is_empty() || named.iter().any(|n| *n == s.short()))
            .collect();
        Settings {
            jobs: env_or("WEIR_BENCH_TASKS_JOBS", 50_000u64).max(1),
            runs: runs_from_env(5),
            bulk: env_or("WEIR_BENCH_TASKS_BULK", 1_000u64).max(1),
            latency_jobs: env_or("WEIR_BENCH_TASKS_LATENCY_JOBS", 5_000u64).max(1),
            rate: env_or("WEIR_BENCH_TASKS_RATE", 1_000u64).max(1),
            apalis_round: env_or("WEIR_BENCH_TASKS_APALIS_ROUND", 5_000u64),
            concurrencies: match std::env::var("WEIR_BENCH_TASKS_CONCURRENCY") {
                Ok(list) => list
                    .split(',')
                    .map(|c| match c.trim().parse::<usize>() {
                        Ok(c) if c > 0 => c,
                        _ => panic!("$WEIR_BENCH_TASKS_CONCURRENCY: not a concurrency: {c:?}"),
                    })
                    .collect(),
                Err(_) => vec![1, 10, 100],
            },
            parts,
            sides,
        }
    }

    fn wants(&self, part: &str) -> bool {
        self.parts.is_empty() || self.parts.iter().any(|p| p == part)
    }
}

/// The server, the runtime, and a connection to flush the database with.
struct Bench {
    url: String,
    rt: tokio::runtime::Runtime,
    admin: redis::aio::MultiplexedConnection,
}

impl Bench {
    /// Empties the database: every measurement starts from the same state.
    fn flush(&mut self) {
        let mut admin = self.admin.clone();
        self.rt.block_on(async move {
            redis::cmd("FLUSHDB")
                .query_async::<()>(&mut admin)
                .await
                .expect("FLUSHDB");
        });
    }
}

/// What one measured span cost: its wall time and the CPU that the bench
/// process (the side's client and worker) and redis-server spent in it. CPU
/// per job is what a loaded, shared machine distorts least.
#[derive(Clone, Copy, Debug)]
struct Measured {
    wall: Duration,
    client_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
}

impl Default for Measured {
    fn default() -> Measured {
        Measured {
            wall: Duration::ZERO,
            client_cpu: Some(Duration::ZERO),
            server_cpu: Some(Duration::ZERO),
        }
    }
}

impl Measured {
    /// Two spans taken together (the rounds of one run); a CPU time is
    /// known only when both spans know it.
    fn plus(self, other: Measured) -> Measured {
        let sum = |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a + b);
        Measured {
            wall: self.wall + other.wall,
            client_cpu: sum(self.client_cpu, other.client_cpu),
            server_cpu: sum(self.server_cpu, other.server_cpu),
        }
    }
}

/// Starts a measured span: the clock, this process's CPU and redis-server's.
struct Meter {
    conn: Option<redis::aio::MultiplexedConnection>,
    wall: Instant,
    client: Option<Duration>,
    server: Option<Duration>,
}

impl Meter {
    async fn start(url: &str) -> Meter {
        let mut conn = match redis::Client::open(url) {
            Ok(client) => client.get_multiplexed_async_connection().await.ok(),
            Err(_) => None,
        };
        let server = match conn.as_mut() {
            Some(c) => server_cpu(c).await,
            None => None,
        };
        Meter {
            conn,
            client: process_cpu(),
            server,
            wall: Instant::now(),
        }
    }

    async fn stop(mut self) -> Measured {
        let wall = self.wall.elapsed();
        let client = process_cpu();
        let server = match self.conn.as_mut() {
            Some(c) => server_cpu(c).await,
            None => None,
        };
        Measured {
            wall,
            client_cpu: client.zip(self.client).map(|(b, a)| b.saturating_sub(a)),
            server_cpu: server.zip(self.server).map(|(b, a)| b.saturating_sub(a)),
        }
    }
}

/// redis-server's CPU time so far, user and system (`INFO cpu`).
async fn server_cpu(conn: &mut redis::aio::MultiplexedConnection) -> Option<Duration> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(conn).await.ok()?;
    let field = |name: &str| -> Option<f64> {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
    };
    let seconds = field("used_cpu_user")? + field("used_cpu_sys")?;
    Duration::try_from_secs_f64(seconds).ok()
}

// ---------------------------------------------------------------- weir-tasks

async fn weir_client(url: &str) -> Tasks<RedisBroker> {
    let broker = RedisBroker::connect(RedisConfig::builder(url).build().expect("config"))
        .await
        .expect("connect");
    let tasks = Tasks::new(broker);
    tasks.queue(QUEUE).declare().await.expect("declare");
    tasks
}

fn weir_job(i: u64) -> Job<u64> {
    Job::new(ACTOR).queue(QUEUE).args(i)
}

fn weir_router() -> Router {
    let mut router = Router::new();
    router
        .actor(
            ACTOR,
            |i: u64, _: Context| async move { Ok::<_, String>(i) },
        )
        .queue(QUEUE);
    router
}

async fn weir_enqueue_single(tasks: &Tasks<RedisBroker>, n: u64) {
    for i in 0..n {
        tasks.enqueue(weir_job(i)).await.expect("enqueue");
    }
}

async fn weir_enqueue_bulk(tasks: &Tasks<RedisBroker>, n: u64, bulk: u64) {
    for start in (0..n).step_by(bulk as usize) {
        let jobs = (start..(start + bulk).min(n)).map(weir_job);
        for handle in tasks.enqueue_many(jobs).await.expect("enqueue_many") {
            handle.expect("enqueued");
        }
    }
}

async fn weir_process(url: &str, n: u64, bulk: u64, concurrency: usize, spawned: bool) -> Measured {
    let tasks = weir_client(url).await;
    weir_enqueue_bulk(&tasks, n, bulk).await;
    weir_work(url, &tasks, n, concurrency, spawned).await
}

/// A worker of the no-op actor at `concurrency`: built by default, or
/// spawned on the caller's runtime.
fn weir_worker(
    tasks: &Tasks<RedisBroker>,
    concurrency: usize,
    spawned: bool,
) -> weir_tasks::WorkerBuilder<RedisBroker> {
    let worker = Worker::builder(tasks)
        .router(weir_router())
        .concurrency(concurrency)
        .handle_signals([]);
    if spawned {
        worker.dedicated_thread(false)
    } else {
        worker
    }
}

/// A worker run until it processed `n` jobs: the time from building it until it returned.
async fn weir_work(
    url: &str,
    tasks: &Tasks<RedisBroker>,
    n: u64,
    concurrency: usize,
    spawned: bool,
) -> Measured {
    let meter = Meter::start(url).await;
    let worker = weir_worker(tasks, concurrency, spawned)
        .messages_limit(n)
        .build();
    let stats = worker.run().await.expect("the worker runs");
    let measured = meter.stop().await;
    assert_eq!(stats.succeeded, n, "{stats:?}");
    measured
}

async fn weir_latency(url: &str, jobs: u64, rate: u64, spawned: bool) -> Vec<Duration> {
    let tasks = weir_client(url).await;
    let worker = weir_worker(&tasks, LATENCY_CONCURRENCY, spawned).build();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());
    // One job first: the worker has joined its group when it is done.
    let warm = tasks.enqueue(weir_job(u64::MAX)).await.expect("enqueue");
    warm.wait_timeout::<u64>(RESULT_TIMEOUT)
        .await
        .expect("the first job's result");
    let latencies = paced(jobs, rate, move |i| {
        let tasks = tasks.clone();
        async move {
            let handle = tasks.enqueue(weir_job(i)).await.expect("enqueue");
            let out = handle
                .wait_timeout::<u64>(RESULT_TIMEOUT)
                .await
                .expect("result");
            assert_eq!(out, i);
        }
    })
    .await;
    stop.shutdown();
    running
        .await
        .expect("worker task")
        .expect("the worker runs");
    latencies
}

// ---------------------------------------------------------------- apalis

fn apalis_config(side: Side) -> apalis_redis::Config {
    let config = apalis_redis::Config::default().queue(QUEUE);
    match side {
        Side::ApalisUnlocked => config.lock_tasks(false),
        _ => config,
    }
}

async fn apalis_storage(url: &str, side: Side) -> RedisStorage<u64> {
    let conn = apalis_redis::connect(url).await.expect("connect");
    RedisStorage::new(conn).with_config(apalis_config(side))
}

async fn apalis_noop(i: u64) -> Result<u64, BoxDynError> {
    Ok(i)
}

async fn apalis_enqueue_single(storage: &mut RedisStorage<u64>, n: u64) {
    for i in 0..n {
        storage.push(i).await.expect("push");
    }
}

async fn apalis_enqueue_bulk(storage: &mut RedisStorage<u64>, from: u64, n: u64, bulk: u64) {
    for start in (from..from + n).step_by(bulk as usize) {
        let jobs = (start..(start + bulk).min(from + n)).collect();
        storage.push_bulk(jobs).await.expect("push_bulk");
    }
}

/// Runs a worker on `storage` until `n` tasks succeeded; the time from
/// building the worker until it returned.
async fn apalis_run(
    url: &str,
    storage: RedisStorage<u64>,
    name: String,
    n: u64,
    concurrency: usize,
) -> Result<Measured, String> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let meter = Meter::start(url).await;
    let worker = {
        let (done, failed) = (Arc::clone(&done), Arc::clone(&failed));
        WorkerBuilder::new(name)
            .backend(storage)
            .concurrency(concurrency)
            .on_event(move |ctx, event| match event {
                Event::Success(_) => {
                    let succeeded = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if succeeded == n {
                        let _ = ctx.stop();
                    }
                }
                Event::Error(e) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("apalis task error: {e}");
                }
                _ => {}
            })
            .build(apalis_noop)
    };
    let outcome = worker.run().await;
    let measured = meter.stop().await;
    let (done, failed) = (done.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    match outcome {
        Ok(()) if done >= n && failed == 0 => Ok(measured),
        Ok(()) => Err(format!(
            "the worker returned after {done} of {n} ({failed} failed)"
        )),
        Err(e) => Err(format!("the worker stopped after {done} of {n}: {e}")),
    }
}

async fn apalis_process(
    url: &str,
    side: Side,
    n: u64,
    bulk: u64,
    round: u64,
    concurrency: usize,
) -> Result<Measured, String> {
    let round = if round == 0 { n } else { round.min(n) };
    let mut total = Measured::default();
    let mut from = 0;
    while from < n {
        let k = round.min(n - from);
        let mut storage = apalis_storage(url, side).await;
        apalis_enqueue_bulk(&mut storage, from, k, bulk).await;
        let name = format!("bench-{concurrency}-{from}-{}", nonce());
        total = total.plus(apalis_run(url, storage, name, k, concurrency).await?);
        from += k;
    }
    Ok(total)
}

async fn apalis_latency(url: &str, side: Side, jobs: u64, rate: u64) -> Vec<Duration> {
    // An apalis worker whose fetch came back empty sleeps until something
    // wakes it: the plain RedisStorage only has its heartbeat (30 s by
    // default), the storage from apalis-redis's factory also the pub/sub
    // message `tasks:<queue>:active:available`. Its push script publishes
    // that only for a task without a run time, and `push_tasks` gives every
    // task one (now at the earliest), so it never does: new jobs wait for
    // the heartbeat either way. The factory is used all the same, as it is
    // apalis-redis's way to wake a worker.
    // The factory's pub/sub needs RESP3 (push messages).
    let resp3 = format!("{}/?protocol=resp3", url.trim_end_matches('/'));
    let client = apalis_redis::Client::open(resp3).expect("client");
    let mut factory = apalis_redis::factory::RedisStorageFactory::new(client)
        .await
        .expect("factory");
    let backend = apalis::prelude::BackendFactory::<u64>::create_with_config(
        &mut factory,
        apalis_config(side),
    )
    .expect("storage");
    let context: Arc<OnceLock<WorkerContext>> = Arc::new(OnceLock::new());
    let worker = {
        let context = Arc::clone(&context);
        WorkerBuilder::new(format!("latency-{}", nonce()))
            .backend(backend)
            .concurrency(LATENCY_CONCURRENCY)
            .on_event(move |ctx, event| {
                if matches!(event, Event::Start) {
                    let _ = context.set(ctx.clone());
                }
            })
            .build(apalis_noop)
    };
    let running = tokio::spawn(worker.run());
    let storage = apalis_storage(url, side).await;
    let submit = |storage: RedisStorage<u64>, i: u64| async move {
        let mut storage = storage;
        let id = TaskId::from_int(i + 1);
        storage
            .push_task(TaskBuilder::new(i).task_id(id.clone()).build())
            .await
            .expect("push_task");
        let result = WaitForCompletion::<u64>::wait_for(&mut storage, [id])
            .next()
            .await
            .expect("a result")
            .expect("the result");
        assert_eq!(result.result, Ok(i));
    };
    tokio::time::timeout(RESULT_TIMEOUT, submit(storage.clone(), u64::MAX - 1))
        .await
        .expect("the first job's result");
    let latencies = paced(jobs, rate, move |i| submit(storage.clone(), i)).await;
    if let Some(ctx) = context.get() {
        let _ = ctx.stop();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    latencies
}

// ---------------------------------------------------------------- bullmq

fn bullmq_connection(url: &str) -> RedisConnectionOptions {
    RedisConnectionOptions::new().url(url)
}

async fn bullmq_queue(url: &str) -> Queue {
    Queue::with_options(
        QUEUE,
        QueueOptions::new().connection(bullmq_connection(url)),
    )
    .await
    .expect("queue")
}

async fn bullmq_enqueue_single(queue: &Queue, n: u64) {
    for i in 0..n {
        queue.add(ACTOR, i).await.expect("add");
    }
}

async fn bullmq_enqueue_bulk(queue: &Queue, n: u64, bulk: u64) {
    for start in (0..n).step_by(bulk as usize) {
        let jobs = (start..(start + bulk).min(n))
            .map(|i| BulkJob::new(ACTOR, i))
            .collect();
        queue.add_bulk(jobs).await.expect("add_bulk");
    }
}

async fn bullmq_worker(url: &str, concurrency: usize) -> bullmq::Worker {
    bullmq::Worker::with_options(
        QUEUE,
        |job: bullmq::Job, _cancel| async move { Ok(job.data().clone()) },
        bullmq::WorkerOptions::new()
            .connection(bullmq_connection(url))
            .concurrency(concurrency),
    )
    .await
    .expect("worker")
}

async fn bullmq_process(url: &str, n: u64, bulk: u64, concurrency: usize) -> Measured {
    let queue = bullmq_queue(url).await;
    bullmq_enqueue_bulk(&queue, n, bulk).await;
    let measured = bullmq_work(url, n, concurrency).await;
    queue.close().await;
    measured
}

/// A worker run until `n` jobs completed: the time from creating it until
/// the `n`-th `Completed` event.
async fn bullmq_work(url: &str, n: u64, concurrency: usize) -> Measured {
    let meter = Meter::start(url).await;
    let worker = bullmq_worker(url, concurrency).await;
    let mut done = 0;
    while done < n {
        match worker.next_event().await {
            Some(WorkerEvent::Completed { .. }) => done += 1,
            Some(WorkerEvent::Failed { job_id, error }) => panic!("job {job_id} failed: {error}"),
            Some(WorkerEvent::Error(e)) => eprintln!("bullmq worker error: {e}"),
            Some(_) => {}
            None => panic!("the worker's events ended after {done} of {n}"),
        }
    }
    let measured = meter.stop().await;
    // Not timed: close waits out the worker's blocking BZPOPMIN otherwise.
    worker.close(0).await.expect("close");
    measured
}

/// A job's completion as the events stream told it, or its waiter.
enum Completion {
    Waiting(tokio::sync::oneshot::Sender<String>),
    Done(String),
}

async fn bullmq_latency(url: &str, jobs: u64, rate: u64) -> Vec<Duration> {
    let queue = Arc::new(bullmq_queue(url).await);
    let events = QueueEvents::with_options(
        QUEUE,
        QueueEventsOptions {
            connection: bullmq_connection(url),
            // From the start of the (flushed) stream: no event is missed.
            last_event_id: Some("0".to_owned()),
            blocking_timeout: 1_000,
            ..QueueEventsOptions::default()
        },
    )
    .await
    .expect("queue events");
    let completions: Arc<Mutex<HashMap<String, Completion>>> = Arc::default();
    let dispatcher = {
        let completions = Arc::clone(&completions);
        tokio::spawn(async move {
            while let Some(entry) = events.next_event().await {
                if let QueueEvent::Completed {
                    job_id,
                    return_value,
                    ..
                } = entry.event
                {
                    let mut map = completions.lock().expect("lock");
                    match map.remove(&job_id) {
                        Some(Completion::Waiting(tx)) => {
                            let _ = tx.send(return_value);
                        }
                        _ => {
                            map.insert(job_id, Completion::Done(return_value));
                        }
                    }
                }
            }
        })
    };
    let worker = bullmq_worker(url, LATENCY_CONCURRENCY).await;
    let submit = |queue: Arc<Queue>,
                  completions: Arc<Mutex<HashMap<String, Completion>>>,
                  i: u64| async move {
        let job = queue.add(ACTOR, i).await.expect("add");
        let id = job.id().to_owned();
        let waiting = {
            let mut map = completions.lock().expect("lock");
            match map.remove(&id) {
                Some(Completion::Done(value)) => Err(value),
                _ => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    map.insert(id, Completion::Waiting(tx));
                    Ok(rx)
                }
            }
        };
        let value = match waiting {
            Err(value) => value,
            Ok(rx) => rx.await.expect("the events stream"),
        };
        assert_eq!(value, i.to_string());
    };
    tokio::time::timeout(
        RESULT_TIMEOUT,
        submit(
            Arc::clone(&queue),
            Arc::clone(&completions),
            u64::from(u32::MAX),
        ),
    )
    .await
    .expect("the first job's result");
    let latencies = paced(jobs, rate, move |i| {
        submit(Arc::clone(&queue), Arc::clone(&completions), i)
    })
    .await;
    worker.close(0).await.expect("close");
    dispatcher.abort();
    latencies
}

// ---------------------------------------------------------------- shared

fn nonce() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// Starts `job(i)` for `i` in `0..jobs` at `rate` per second (a tick each,
/// late ticks caught up so the average rate holds), each on a task of its
/// own; returns each one's time from its tick to its end.
async fn paced<F, Fut>(jobs: u64, rate: u64, job: F) -> Vec<Duration>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut running = Vec::with_capacity(jobs as usize);
    for i in 0..jobs {
        tick.tick().await;
        let started = Instant::now();
        let fut = job(i);
        running.push(tokio::spawn(async move {
            tokio::time::timeout(RESULT_TIMEOUT, fut)
                .await
                .expect("a result within the timeout");
            started.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(running.len());
    for r in running {
        latencies.push(r.await.expect("job task"));
    }
    latencies
}

/// Redis's per-command call counts (`INFO commandstats`), commands run
/// inside Lua scripts included.
async fn command_counts(conn: &mut redis::aio::MultiplexedConnection) -> Vec<(String, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO");
    let mut counts: Vec<(String, u64)> = info
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// A ratio with two decimals, or three significant ones when it is below 0.1.
fn ratio(r: f64) -> String {
    if r < 0.1 {
        format!("{r:.3}")
    } else {
        format!("{r:.2}")
    }
}

fn print_rates(title: &str, sides: &[Side], samples: &[Vec<Option<f64>>]) {
    println!("\n== {title} ==");
    println!("{:<32} {:>36}", "side", "jobs/s: median (min–max)");
    let spreads: Vec<Option<Spread>> = samples
        .iter()
        .map(|s| {
            if s.iter().any(Option::is_none) {
                None
            } else {
                Spread::of(&s.iter().flatten().copied().collect::<Vec<_>>())
            }
        })
        .collect();
    for (side, spread) in sides.iter().zip(&spreads) {
        match spread {
            Some(s) => println!("{:<32} {:>36}", side.name(), s.show(0)),
            None => println!("{:<32} {:>36}", side.name(), "failed (see above)"),
        }
    }
    for (weir_side, weir) in sides.iter().zip(&spreads) {
        let (true, Some(weir)) = (weir_side.is_weir(), weir) else {
            continue;
        };
        for (side, spread) in sides.iter().zip(&spreads) {
            if side.is_weir() {
                continue;
            }
            match spread {
                Some(peer) => println!(
                    "ratio {}/{} ({title}): {}",
                    weir_side.name(),
                    side.name(),
                    ratio(weir.median / peer.median)
                ),
                None => println!(
                    "ratio {}/{} ({title}): n/a (peer failed)",
                    weir_side.name(),
                    side.name()
                ),
            }
        }
    }
}

fn enqueue_part(bench: &mut Bench, settings: &Settings) {
    // Both apalis sides push alike (task locking is a worker setting): one is measured.
    let sides: Vec<Side> = settings
        .sides
        .iter()
        .copied()
        .filter(|s| !matches!(s, Side::ApalisUnlocked | Side::WeirSpawned))
        .collect();
    let n = settings.jobs;
    for bulk in [false, true] {
        let samples = interleaved(settings.runs, &sides, |_, side| {
            bench.flush();
            let url = bench.url.clone();
            let elapsed = bench.rt.block_on(async move {
                match side {
                    Side::Weir | Side::WeirSpawned => {
                        let tasks = weir_client(&url).await;
                        let started = Instant::now();
                        if bulk {
                            weir_enqueue_bulk(&tasks, n, settings.bulk).await;
                        } else {
                            weir_enqueue_single(&tasks, n).await;
                        }
                        started.elapsed()
                    }
                    Side::Apalis | Side::ApalisUnlocked => {
                        let mut storage = apalis_storage(&url, side).await;
                        let started = Instant::now();
                        if bulk {
                            apalis_enqueue_bulk(&mut storage, 0, n, settings.bulk).await;
                        } else {
                            apalis_enqueue_single(&mut storage, n).await;
                        }
                        started.elapsed()
                    }
                    Side::Bullmq => {
                        let queue = bullmq_queue(&url).await;
                        let started = Instant::now();
                        if bulk {
                            bullmq_enqueue_bulk(&queue, n, settings.bulk).await;
                        } else {
                            bullmq_enqueue_single(&queue, n).await;
                        }
                        let elapsed = started.elapsed();
                        queue.close().await;
                        elapsed
                    }
                }
            });
            Some(per_second(n, elapsed))
        });
        let title = if bulk {
            format!("enqueue {n} in bulk ({} per call)", settings.bulk)
        } else {
            format!("enqueue {n} one by one")
        };
        print_rates(&title, &sides, &samples);
    }
}

fn process_part(bench: &mut Bench, settings: &Settings) {
    let n = settings.jobs;
    let apalis_round = if settings.apalis_round == 0 {
        n
    } else {
        settings.apalis_round.min(n)
    };
    if apalis_round > APALIS_DUE_LIMIT
        && settings
            .sides
            .iter()
            .any(|s| matches!(s, Side::Apalis | Side::ApalisUnlocked))
    {
        println!(
            "apalis-redis: {apalis_round} jobs waiting per worker start, over the {APALIS_DUE_LIMIT} its fetch script can move at once: expect it to fail"
        );
    } else if apalis_round < n {
        println!("apalis-redis: processed in rounds of {apalis_round} (see the bench's docs)");
    }
    for &concurrency in &settings.concurrencies {
        let measured = interleaved(settings.runs, &settings.sides, |_, side| {
            bench.flush();
            let url = bench.url.clone();
            let outcome = bench.rt.block_on(async move {
                match side {
                    Side::Weir | Side::WeirSpawned => {
                        Ok(weir_process(&url, n, settings.bulk, concurrency, side.spawned()).await)
                    }
                    Side::Apalis | Side::ApalisUnlocked => {
                        apalis_process(&url, side, n, settings.bulk, apalis_round, concurrency)
                            .await
                    }
                    Side::Bullmq => Ok(bullmq_process(&url, n, settings.bulk, concurrency).await),
                }
            });
            match outcome {
                Ok(measured) => Some(measured),
                Err(e) => {
                    println!("{} at concurrency {concurrency}: {e}", side.name());
                    None
                }
            }
        });
        let of = |f: &dyn Fn(&Measured) -> Option<f64>| -> Vec<Vec<Option<f64>>> {
            measured
                .iter()
                .map(|runs| runs.iter().map(|m| m.as_ref().and_then(f)).collect())
                .collect()
        };
        let title = format!("process {n} at concurrency {concurrency}");
        print_rates(
            &title,
            &settings.sides,
            &of(&|m| Some(per_second(n, m.wall))),
        );
        let per_job = |cpu: Option<Duration>| cpu.map(|c| c.as_secs_f64() * 1e6 / n as f64);
        print_cpu(
            &title,
            &settings.sides,
            &of(&|m| per_job(m.client_cpu)),
            &of(&|m| per_job(m.server_cpu)),
        );
    }
}

/// CPU per job of each side, its own process and redis-server apart:
/// medians with their ranges, in microseconds.
fn print_cpu(
    title: &str,
    sides: &[Side],
    client: &[Vec<Option<f64>>],
    server: &[Vec<Option<f64>>],
) {
    let spread = |runs: &Vec<Option<f64>>| -> Option<Spread> {
        let known: Vec<f64> = runs.iter().flatten().copied().collect();
        if known.len() < runs.len() {
            None
        } else {
            Spread::of(&known)
        }
    };
    let show = |s: Option<Spread>| s.map_or_else(|| "n/a".to_owned(), |s| s.show(1));
    println!(
        "{:<32} {:>28} {:>28}",
        "CPU µs per job", "bench process", "redis-server"
    );
    for (i, side) in sides.iter().enumerate() {
        println!(
            "{:<32} {:>28} {:>28}",
            side.name(),
            show(spread(&client[i])),
            show(spread(&server[i]))
        );
    }
    let total =
        |i: usize| -> Option<f64> { Some(spread(&client[i])?.median + spread(&server[i])?.median) };
    let Some(weir) = sides.iter().position(|s| *s == Side::Weir) else {
        return;
    };
    for (i, side) in sides.iter().enumerate() {
        if let (false, Some(w), Some(p)) = (i == weir, total(weir), total(i)) {
            println!(
                "ratio {}/weir CPU per job, both processes ({title}): {}",
                side.name(),
                ratio(p / w)
            );
        }
    }
}

fn latency_part(bench: &mut Bench, settings: &Settings) {
    let (jobs, rate) = (settings.latency_jobs, settings.rate);
    let samples = interleaved(settings.runs, &settings.sides, |_, side| {
        bench.flush();
        let url = bench.url.clone();
        let latencies = bench.rt.block_on(async move {
            match side {
                Side::Weir | Side::WeirSpawned => {
                    weir_latency(&url, jobs, rate, side.spawned()).await
                }
                Side::Apalis | Side::ApalisUnlocked => apalis_latency(&url, side, jobs, rate).await,
                Side::Bullmq => bullmq_latency(&url, jobs, rate).await,
            }
        });
        let ms = |p| percentile(&latencies, p).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        (ms(50.0), ms(99.0))
    });
    println!(
        "\n== end-to-end latency, enqueue to result awaited: {jobs} jobs at {rate}/s, worker concurrency {LATENCY_CONCURRENCY} =="
    );
    println!(
        "{:<32} {:>26} {:>26}",
        "side", "p50 ms: median (range)", "p99 ms: median (range)"
    );
    let mut medians = Vec::new();
    for (side, runs) in settings.sides.iter().zip(&samples) {
        let p50 = Spread::of(&runs.iter().map(|r| r.0).collect::<Vec<_>>());
        let p99 = Spread::of(&runs.iter().map(|r| r.1).collect::<Vec<_>>());
        let show = |s: Option<Spread>| s.map_or_else(|| "n/a".to_owned(), |s| s.show(2));
        println!("{:<32} {:>26} {:>26}", side.name(), show(p50), show(p99));
        medians.push((*side, p50, p99));
    }
    let how = |side: Side| match side {
        Side::Weir | Side::WeirSpawned => "TaskHandle::wait",
        Side::Apalis | Side::ApalisUnlocked => {
            "WaitForCompletion::wait_for (it polls each id every 100 ms); the worker from its pub/sub factory, which its push never wakes: idle, it waits for its 30 s heartbeat"
        }
        Side::Bullmq => "QueueEvents `completed` (BullMQ's own way to await a job)",
    };
    for side in &settings.sides {
        println!("  {}: awaited through {}", side.name(), how(*side));
    }
    if let Some((_, Some(w50), Some(w99))) = medians.iter().find(|m| m.0 == Side::Weir).copied() {
        for (side, p50, p99) in &medians {
            if let (false, Some(p50), Some(p99)) = (*side == Side::Weir, p50, p99) {
                println!(
                    "ratio {}/weir latency (p50, p99): {}, {}",
                    side.name(),
                    ratio(p50.median / w50.median),
                    ratio(p99.median / w99.median)
                );
            }
        }
    }
}

/// Redis's command counters reset, `work` run, and the counts it caused.
async fn counted<F: Future<Output = ()>>(
    admin: &mut redis::aio::MultiplexedConnection,
    work: F,
) -> Vec<(String, u64)> {
    redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async::<()>(admin)
        .await
        .expect("CONFIG RESETSTAT");
    work.await;
    command_counts(admin)
        .await
        .into_iter()
        .filter(|(c, _)| c != "info" && c != "config|resetstat")
        .collect()
}

fn print_counts(side: Side, what: &str, n: u64, counts: &[(String, u64)]) {
    let per_job = |calls: u64| calls as f64 / n as f64;
    let total: u64 = counts.iter().map(|c| c.1).sum();
    let shown: Vec<String> = counts
        .iter()
        .filter(|(_, calls)| per_job(*calls) >= 0.01)
        .map(|(c, calls)| format!("{c} {:.2}", per_job(*calls)))
        .collect();
    println!(
        "{:<32} {what:<8} {:>5.1}/job: {}",
        side.name(),
        per_job(total),
        shown.join(", ")
    );
}

/// Redis's command counters around one bulk enqueue and one processing run
/// per side (concurrency 10): what each job costs the server, command by
/// command, the calls made inside Lua scripts included.
fn commands_part(bench: &mut Bench, settings: &Settings) {
    let n = settings.jobs.min(APALIS_DUE_LIMIT);
    let bulk = settings.bulk;
    println!(
        "\n== Redis commands per job ({n} jobs enqueued in bulk, then processed at concurrency 10; scripts' inner calls counted) =="
    );
    // A spawned worker sends the same commands.
    for side in settings.sides.clone() {
        if side == Side::WeirSpawned {
            continue;
        }
        bench.flush();
        let url = bench.url.clone();
        let mut admin = bench.admin.clone();
        let (enqueue, process) = bench.rt.block_on(async move {
            match side {
                Side::Weir | Side::WeirSpawned => {
                    let tasks = weir_client(&url).await;
                    let enqueue = counted(&mut admin, weir_enqueue_bulk(&tasks, n, bulk)).await;
                    let process = counted(&mut admin, async {
                        weir_work(&url, &tasks, n, 10, false).await;
                    })
                    .await;
                    (enqueue, process)
                }
                Side::Apalis | Side::ApalisUnlocked => {
                    let mut storage = apalis_storage(&url, side).await;
                    let enqueue =
                        counted(&mut admin, apalis_enqueue_bulk(&mut storage, 0, n, bulk)).await;
                    let process = counted(&mut admin, async {
                        let name = format!("commands-{}", nonce());
                        if let Err(e) = apalis_run(&url, storage, name, n, 10).await {
                            println!("{}: {e}", side.name());
                        }
                    })
                    .await;
                    (enqueue, process)
                }
                Side::Bullmq => {
                    let queue = bullmq_queue(&url).await;
                    let enqueue = counted(&mut admin, bullmq_enqueue_bulk(&queue, n, bulk)).await;
                    let process = counted(&mut admin, async {
                        bullmq_work(&url, n, 10).await;
                    })
                    .await;
                    queue.close().await;
                    (enqueue, process)
                }
            }
        });
        print_counts(side, "enqueue", n, &enqueue);
        print_counts(side, "process", n, &process);
    }
}

fn main() {
    let settings = Settings::from_env();
    let server = RedisServer::start();
    let url = server.url();
    let rt = runtime();
    let admin = rt.block_on(async {
        redis::Client::open(url.as_str())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connection")
    });
    let mut bench = Bench { url, rt, admin };
    println!(
        "tasks bench: {} jobs, {} runs interleaved ({}), bulk calls of {}, one redis-server, {}",
        settings.jobs,
        settings.runs,
        settings
            .sides
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        settings.bulk,
        weir_benches::runtime_name(),
    );
    if settings.wants("enqueue") {
        enqueue_part(&mut bench, &settings);
    }
    if settings.wants("process") {
        process_part(&mut bench, &settings);
    }
    if settings.wants("latency") {
        latency_part(&mut bench, &settings);
    }
    if settings.wants("commands") {
        commands_part(&mut bench, &settings);
    }
    drop(bench);
    drop(server);
}
