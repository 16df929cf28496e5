//! Stream-processing pipelines on Weir (memory broker) and on `sentry_arroyo`
//! (its local broker), measured in the same process.
//!
//! Pipelines, as Arroyo users run them, over 100-byte messages on 1 and 4
//! partitions:
//! - commit-only: CommitOffsets
//! - run-task: RunTask (payload length) → CommitOffsets
//! - run-task-reduce: RunTask → Reduce(1000 messages, 100 ms) → CommitOffsets
//! - run-task-owned: run-task with a function that takes each payload owned
//!
//! Weir's RunTask in the first three borrows the payload
//! (`RunTask::borrowing`, as a parse step does), so it reads the messages
//! the memory broker lends without a reference count per message;
//! run-task-owned shows the cost of taking them owned. sentry_arroyo has
//! one RunTask, which takes its message owned, in both.
//!
//! Methodology (the same on both sides):
//! - Before every run, both brokers are filled anew, each message with a
//!   fresh buffer of its own (`weir_benches::fresh_payload`), so neither
//!   side reads buffers that an earlier run already shared.
//! - A run is timed from the first step of the processor (subscribing
//!   included) until the last step of the pipeline has seen every
//!   message's commit position. Both systems run their pipeline on the
//!   calling thread, so the figure is that thread's CPU time
//!   (`weir_benches::thread_cpu`); wall clock is printed beside it.
//! - Weir and sentry_arroyo alternate run by run; each pipeline prints the
//!   median and range of the runs, and the ratio weir/arroyo as the median
//!   and range of the per-run ratios (run i of Weir over run i of arroyo).
//!
//! Settings: `WEIR_BENCH_RUNS` (5), `STRATEGIES_MESSAGES` (1 000 000 per run),
//! `STRATEGIES_MEMORY=1` adds a pass that measures the memory the processing
//! allocates at 100k and at 1M messages (flat means no growth with the
//! message count). `STRATEGIES_PROFILE=<pipeline>` runs only one side of one
//! pipeline (Weir, or arroyo with `STRATEGIES_SIDE=arroyo`;
//! `STRATEGIES_PARTITIONS`, default 4), for a profiler: under callgrind,
//! `--toggle-collect='strategies::weir_side::run*'` (or `arroyo_side`)
//! counts the timed span only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

// Time: this thread's CPU time (both systems run their pipeline on the
// calling thread) and the wall clock, through `Clock`.
use weir_benches::{Clock, Spent, Spread, env_or, fresh_payload, interleaved, runs_from_env};

// ---------------------------------------------------------------------------
// Allocation tracking (enabled only around the memory pass)

struct Tracking;

static TRACK: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACK.load(Ordering::Relaxed) {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if TRACK.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Peak net bytes allocated while `f` runs (frees of older blocks count
/// against it, so the figure is a lower bound on the working set's growth).
fn peak_growth<R>(f: impl FnOnce() -> R) -> (R, isize) {
    LIVE.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    TRACK.store(true, Ordering::SeqCst);
    let r = f();
    TRACK.store(false, Ordering::SeqCst);
    (r, PEAK.load(Ordering::SeqCst) as isize)
}

// ---------------------------------------------------------------------------
// Workloads

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pipeline {
    CommitOnly,
    RunTask,
    RunTaskReduce,
    RunTaskOwned,
}

impl Pipeline {
    fn name(self) -> &'static str {
        match self {
            Pipeline::CommitOnly => "commit-only",
            Pipeline::RunTask => "run-task",
            Pipeline::RunTaskReduce => "run-task-reduce",
            Pipeline::RunTaskOwned => "run-task-owned",
        }
    }
}

const PIPELINES: [Pipeline; 4] = [
    Pipeline::CommitOnly,
    Pipeline::RunTask,
    Pipeline::RunTaskReduce,
    Pipeline::RunTaskOwned,
];
const PARTITIONS: [u32; 2] = [1, 4];
const PAYLOAD_BYTES: usize = 100;

/// Signals when the last step has seen every message's position.
#[derive(Clone)]
struct Progress {
    partitions: usize,
    target: u64,
    done: Arc<tokio::sync::Notify>,
    flag: Arc<AtomicBool>,
}

impl Progress {
    fn new(partitions: u32, target: u64) -> Self {
        Progress {
            partitions: partitions as usize,
            target,
            done: Arc::default(),
            flag: Arc::default(),
        }
    }

    fn is_done(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }
}

/// The counting state kept inside the last step (plain fields: each side
/// runs its pipeline on one thread).
struct Tally {
    progress: Progress,
    last: Vec<u64>,
    total: u64,
}

impl Tally {
    fn new(progress: Progress) -> Self {
        Tally {
            last: vec![0; progress.partitions],
            progress,
            total: 0,
        }
    }

    #[inline]
    fn seen(&mut self, partition: usize, next: u64) {
        let last = &mut self.last[partition];
        if next > *last {
            self.total += next - *last;
            *last = next;
            if self.total >= self.progress.target {
                self.progress.flag.store(true, Ordering::Release);
                self.progress.done.notify_one();
            }
        }
    }
}

fn next_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// Weir

mod weir_side {
    use super::*;
    use std::collections::VecDeque;
    use weir_core::{Broker, CommitRequest, ConsumerConfig, Payload, Producer, RecordBatch, Topic};
    use weir_memory::MemoryBroker;
    use weir_strategies::{
        CommitOffsets, CommitPolicy, Incoming, JoinFuture, ProcessingStrategy, Progress as Signal,
        Reduce, RunTask, StrategyContext, StrategyError, StreamProcessor, SubmitError,
    };

    struct Counted(super::Tally, CommitOffsets);

    impl<T: Send> ProcessingStrategy<T> for Counted {
        fn attach(&mut self, _: &Signal) {}
        #[inline]
        fn submit(&mut self, m: Incoming<T>) -> Result<(), SubmitError<T>> {
            for (p, o) in m.committable() {
                self.0.seen(p.index as usize, o);
            }
            ProcessingStrategy::<T>::submit(&mut self.1, m)
        }
        #[inline]
        fn submit_all(&mut self, queue: &mut VecDeque<Incoming<T>>) -> Result<(), StrategyError> {
            for m in queue.iter() {
                for (p, o) in m.committable() {
                    self.0.seen(p.index as usize, o);
                }
            }
            ProcessingStrategy::<T>::submit_all(&mut self.1, queue)
        }
        #[inline]
        fn submit_batch(&mut self, batch: &mut RecordBatch) -> Option<Result<(), StrategyError>> {
            if !batch.is_empty() {
                self.0
                    .seen(batch.partition().index as usize, batch.next_offset());
            }
            ProcessingStrategy::<T>::submit_batch(&mut self.1, batch)
        }
        fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
            ProcessingStrategy::<T>::poll(&mut self.1)
        }
        fn close(&mut self) {}
        fn terminate(&mut self) {}
        fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
            ProcessingStrategy::<T>::join(&mut self.1, t)
        }
    }

    pub struct Prepared {
        rt: tokio::runtime::Runtime,
        broker: MemoryBroker,
        topic: Topic,
        partitions: u32,
        messages: u64,
    }

    /// A broker holding `messages` fresh 100-byte payloads, round robin
    /// over `partitions`.
    pub fn prepare(partitions: u32, messages: u64) -> Prepared {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let broker = MemoryBroker::new();
        let topic = Topic::new(format!("bench-{partitions}"));
        broker.create_topic(&topic, partitions).expect("topic");
        rt.block_on(async {
            let producer = broker.producer().await.expect("producer");
            let chunk = 10_000u64;
            let mut from = 0;
            while from < messages {
                let batch = (from..(from + chunk).min(messages))
                    .map(|seq| {
                        (
                            topic.partition((seq % u64::from(partitions)) as u32).into(),
                            Payload::new(fresh_payload(PAYLOAD_BYTES, seq)),
                        )
                    })
                    .collect();
                for r in producer.produce_batch(batch).await {
                    r.expect("produced");
                }
                from += chunk;
            }
        });
        Prepared {
            rt,
            broker,
            topic,
            partitions,
            messages,
        }
    }

    fn length(p: &Payload) -> Result<usize, weir_strategies::TaskError> {
        Ok(p.value.len())
    }

    fn owned_length(p: Payload) -> Result<usize, weir_strategies::TaskError> {
        Ok(p.value.len())
    }

    /// Runs the pipeline until every message reached the last step.
    pub fn run(p: &Prepared, pipeline: Pipeline) -> Spent {
        let progress = super::Progress::new(p.partitions, p.messages);
        let pr = progress.clone();
        let factory = move |_: &StrategyContext| -> Box<dyn ProcessingStrategy<Payload>> {
            let last = Counted(super::Tally::new(pr.clone()), CommitOffsets::new());
            match pipeline {
                Pipeline::CommitOnly => Box::new(last),
                Pipeline::RunTask => Box::new(RunTask::borrowing(length, last)),
                Pipeline::RunTaskOwned => Box::new(RunTask::new(owned_length, last)),
                Pipeline::RunTaskReduce => Box::new(RunTask::borrowing(
                    length,
                    Reduce::new(
                        || 0usize,
                        |a, n| a + n,
                        1000,
                        Duration::from_millis(100),
                        last,
                    ),
                )),
            }
        };
        p.rt.block_on(async {
            let consumer = p
                .broker
                .consumer(
                    ConsumerConfig::builder(format!("g-{}", next_id()))
                        .max_poll_records(env_or("WEIR_MAX_POLL", 500))
                        .build()
                        .expect("a valid consumer config"),
                )
                .await
                .expect("consumer");
            let processor = StreamProcessor::builder(consumer, [p.topic.clone()], factory)
                .commit_policy(CommitPolicy::every(Duration::from_secs(1)))
                .build();
            let stop = processor.shutdown_handle();
            let clock = Clock::start();
            let task = tokio::spawn(processor.run());
            while !progress.is_done() {
                progress.done.notified().await;
            }
            let elapsed = clock.stop();
            stop.shutdown();
            task.await.expect("task").expect("processor");
            elapsed
        })
    }
}

// ---------------------------------------------------------------------------
// sentry_arroyo

mod arroyo_side {
    use super::*;
    use parking_lot::Mutex;
    use sentry_arroyo::backends::kafka::types::KafkaPayload;
    use sentry_arroyo::backends::local::LocalConsumer;
    use sentry_arroyo::backends::local::broker::LocalBroker;
    use sentry_arroyo::backends::storages::memory::MemoryMessageStorage;
    use sentry_arroyo::processing::strategies::commit_offsets::CommitOffsets;
    use sentry_arroyo::processing::strategies::reduce::Reduce;
    use sentry_arroyo::processing::strategies::run_task::RunTask;
    use sentry_arroyo::processing::strategies::{
        CommitRequest, ProcessingStrategy, ProcessingStrategyFactory, StrategyError, SubmitError,
    };
    use sentry_arroyo::processing::{Callbacks, ConsumerState, StreamProcessor};
    use sentry_arroyo::types::{Message, Partition, Topic};
    use sentry_arroyo::utils::clock::SystemClock;

    struct Counted(super::Tally, CommitOffsets);

    impl<T> ProcessingStrategy<T> for Counted {
        fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
            ProcessingStrategy::<T>::poll(&mut self.1)
        }
        #[inline]
        fn submit(&mut self, m: Message<T>) -> Result<(), SubmitError<T>> {
            for (p, o) in m.committable() {
                self.0.seen(usize::from(p.index), o);
            }
            ProcessingStrategy::<T>::submit(&mut self.1, m)
        }
        fn terminate(&mut self) {}
        fn join(&mut self, t: Option<Duration>) -> Result<Option<CommitRequest>, StrategyError> {
            ProcessingStrategy::<T>::join(&mut self.1, t)
        }
    }

    struct Factory(Pipeline, super::Progress);

    fn length(m: Message<KafkaPayload>) -> Result<Message<usize>, SubmitError<KafkaPayload>> {
        let n = m.payload().payload().map_or(0, Vec::len);
        Ok(m.replace(n))
    }

    impl ProcessingStrategyFactory<KafkaPayload> for Factory {
        fn create(&self) -> Box<dyn ProcessingStrategy<KafkaPayload>> {
            let last = Counted(
                super::Tally::new(self.1.clone()),
                CommitOffsets::new(Duration::from_secs(1)),
            );
            match self.0 {
                Pipeline::CommitOnly => Box::new(last),
                Pipeline::RunTask | Pipeline::RunTaskOwned => Box::new(RunTask::new(length, last)),
                Pipeline::RunTaskReduce => Box::new(RunTask::new(
                    length,
                    Reduce::new(
                        last,
                        Arc::new(|acc: usize, m: Message<usize>| Ok(acc + *m.payload())),
                        Arc::new(|| 0usize),
                        1000,
                        Duration::from_millis(100),
                        |_| 1,
                    ),
                )),
            }
        }
    }

    pub struct Prepared {
        broker: Arc<Mutex<LocalBroker<KafkaPayload>>>,
        topic: Topic,
        partitions: u32,
        messages: u64,
    }

    /// A local broker holding `messages` fresh 100-byte payloads, round
    /// robin over `partitions`.
    pub fn prepare(partitions: u32, messages: u64) -> Prepared {
        let storage: MemoryMessageStorage<KafkaPayload> = Default::default();
        let mut broker = LocalBroker::new(Box::new(storage), Box::new(SystemClock {}));
        let topic = Topic::new(&format!("bench-{partitions}"));
        broker
            .create_topic(topic, partitions as u16)
            .expect("topic");
        let parts: Vec<Partition> = (0..partitions as u16)
            .map(|i| Partition::new(topic, i))
            .collect();
        for seq in 0..messages {
            let value = Vec::from(fresh_payload(PAYLOAD_BYTES, seq));
            let payload = KafkaPayload::new(None, None, Some(value));
            broker
                .produce(&parts[(seq % u64::from(partitions)) as usize], payload)
                .expect("produced");
        }
        Prepared {
            broker: Arc::new(Mutex::new(broker)),
            topic,
            partitions,
            messages,
        }
    }

    /// Runs the pipeline until every message reached the last step.
    pub fn run(p: &Prepared, pipeline: Pipeline) -> Spent {
        let progress = super::Progress::new(p.partitions, p.messages);
        let state = ConsumerState::new(Box::new(Factory(pipeline, progress.clone())), None);
        let consumer = LocalConsumer::new(
            uuid::Uuid::from_u64_pair(0, next_id()),
            p.broker.clone(),
            format!("g-{}", next_id()),
            false,
            &[p.topic],
            Callbacks(state.clone()),
        );
        let mut processor = StreamProcessor::new(Box::new(consumer), state);
        let clock = Clock::start();
        while !progress.is_done() {
            processor.run_once().expect("arroyo run_once");
        }
        clock.stop()
    }
}

// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Weir,
    Arroyo,
}

/// Fills a fresh broker for `side` and runs `pipeline` over it once.
fn measure(side: Side, pipeline: Pipeline, partitions: u32, messages: u64) -> Spent {
    match side {
        Side::Weir => weir_side::run(&weir_side::prepare(partitions, messages), pipeline),
        Side::Arroyo => arroyo_side::run(&arroyo_side::prepare(partitions, messages), pipeline),
    }
}

fn per_cpu_second(messages: u64, d: Duration) -> f64 {
    messages as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE)
}

fn spread(samples: impl IntoIterator<Item = f64>) -> String {
    let samples: Vec<f64> = samples.into_iter().collect();
    Spread::of(&samples).map_or_else(|| "n/a".to_owned(), |s| s.show(2))
}

/// Million messages per second, median (min–max).
fn millions(messages: u64, runs: &[Spent], time: impl Fn(&Spent) -> Duration) -> String {
    spread(runs.iter().map(|s| per_cpu_second(messages, time(s)) / 1e6))
}

fn comparison_pass(messages: u64, runs: usize) {
    println!(
        "== {messages} 100-byte messages per run, a fresh buffer each; {runs} runs, weir and arroyo interleaved =="
    );
    println!(
        "   M msg per CPU-second of the processing thread (wall clock: M msg/s), median (min–max)"
    );
    let mut ratios = Vec::new();
    for pipeline in PIPELINES {
        for partitions in PARTITIONS {
            let samples = interleaved(runs, &[Side::Weir, Side::Arroyo], |_, side| {
                measure(side, pipeline, partitions, messages)
            });
            let (weir, arroyo) = (&samples[0], &samples[1]);
            println!(
                "{} / {partitions} partition(s): weir {} (wall {})   arroyo {} (wall {})",
                pipeline.name(),
                millions(messages, weir, |s| s.cpu_or_wall()),
                millions(messages, weir, |s| s.wall),
                millions(messages, arroyo, |s| s.cpu_or_wall()),
                millions(messages, arroyo, |s| s.wall),
            );
            let per_run = |time: fn(&Spent) -> Duration| {
                spread(
                    weir.iter()
                        .zip(arroyo)
                        .map(|(w, a)| time(a).as_secs_f64() / time(w).as_secs_f64().max(1e-12)),
                )
            };
            ratios.push((
                pipeline,
                partitions,
                per_run(|s| s.cpu_or_wall()),
                per_run(|s| s.wall),
            ));
        }
    }
    for (pipeline, partitions, cpu, wall) in ratios {
        println!(
            "ratio weir/arroyo ({}, {partitions} partition{}): {cpu}   (CPU time; wall clock: {wall})",
            pipeline.name(),
            if partitions == 1 { "" } else { "s" }
        );
    }
}

fn memory_pass() {
    const SMALL: u64 = 100_000;
    const BIG: u64 = 1_000_000;
    println!("== memory: peak bytes allocated while processing, above the preloaded broker ==");
    for pipeline in PIPELINES {
        for partitions in PARTITIONS {
            let mut line = format!("{} / {partitions} partition(s):", pipeline.name());
            for n in [SMALL, BIG] {
                let p = weir_side::prepare(partitions, n);
                let (_, grew) = peak_growth(|| weir_side::run(&p, pipeline));
                line += &format!(" weir {} KiB at {}k;", grew / 1024, n / 1000);
            }
            for n in [SMALL, BIG] {
                let p = arroyo_side::prepare(partitions, n);
                let (_, grew) = peak_growth(|| arroyo_side::run(&p, pipeline));
                line += &format!(" arroyo {} KiB at {}k;", grew / 1024, n / 1000);
            }
            println!("{line}");
        }
    }
}

/// One side of one pipeline, for a profiler.
fn profile(name: &str) {
    let pipeline = PIPELINES
        .into_iter()
        .find(|p| p.name() == name)
        .unwrap_or(Pipeline::RunTask);
    let messages = env_or("STRATEGIES_MESSAGES", 1_000_000u64);
    let runs = runs_from_env(5);
    let partitions = env_or("STRATEGIES_PARTITIONS", 4u32);
    let side = match std::env::var("STRATEGIES_SIDE").as_deref() {
        Ok("arroyo") => Side::Arroyo,
        _ => Side::Weir,
    };
    for _ in 0..runs {
        let s = measure(side, pipeline, partitions, messages);
        println!(
            "{:?} {}: {:.0} msg per CPU-second, {:.0} msg/s wall",
            side,
            pipeline.name(),
            per_cpu_second(messages, s.cpu_or_wall()),
            per_cpu_second(messages, s.wall)
        );
    }
}

fn main() {
    if let Ok(name) = std::env::var("STRATEGIES_PROFILE") {
        profile(&name);
        return;
    }
    comparison_pass(
        env_or("STRATEGIES_MESSAGES", 1_000_000u64),
        runs_from_env(5),
    );
    if env_or("STRATEGIES_MEMORY", 0u8) == 1 {
        memory_pass();
    }
}
