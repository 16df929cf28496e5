//! Stream-processing pipelines on Weir (memory broker) and on `sentry_arroyo`
//! (its local broker), measured in the same run.
//!
//! Pipelines, as Arroyo users run them, over 100-byte messages on 1 and 4
//! partitions:
//! - commit-only: CommitOffsets
//! - run-task: RunTask (payload length) → CommitOffsets
//! - run-task-reduce: RunTask → Reduce(1000 messages, 100 ms) → CommitOffsets
//!
//! A run is timed from the processor's start until the last step has seen
//! every message's commit position. First a 1M-message pass per pipeline and
//! system prints messages/s, the ratio weir/arroyo and the memory the
//! processing allocated (net bytes above the preloaded broker, at 100k and at
//! 1M messages: flat means no growth with message count); then criterion
//! samples smaller runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

// ---------------------------------------------------------------------------
// Allocation tracking (enabled only around the memory passes)

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
// Time: wall clock and this thread's CPU time (both systems run their
// pipeline on the calling thread; on a shared machine CPU time is the steadier
// figure).

#[derive(Clone, Copy, Debug, Default)]
struct Spent {
    wall: Duration,
    cpu: Duration,
}

/// Nanoseconds this thread ran on a CPU (Linux `schedstat`), if known.
fn thread_cpu() -> Option<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Self {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu(),
        }
    }

    fn stop(&self) -> Spent {
        let wall = self.wall.elapsed();
        let cpu = match (self.cpu, thread_cpu()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => wall,
        };
        Spent { wall, cpu }
    }
}

// ---------------------------------------------------------------------------
// Workloads

#[derive(Clone, Copy, Debug)]
enum Pipeline {
    CommitOnly,
    RunTask,
    RunTaskReduce,
}

impl Pipeline {
    fn name(self) -> &'static str {
        match self {
            Pipeline::CommitOnly => "commit-only",
            Pipeline::RunTask => "run-task",
            Pipeline::RunTaskReduce => "run-task-reduce",
        }
    }
}

const PIPELINES: [Pipeline; 3] = [
    Pipeline::CommitOnly,
    Pipeline::RunTask,
    Pipeline::RunTaskReduce,
];
const PARTITIONS: [u32; 2] = [1, 4];
const BIG: u64 = 1_000_000;
const SMALL: u64 = 100_000;

fn body() -> Vec<u8> {
    vec![b'x'; 100]
}

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

// ---------------------------------------------------------------------------
// Weir

mod weir_side {
    use super::*;
    use weir_core::{Broker, CommitRequest, ConsumerConfig, Payload, Topic};
    use weir_memory::MemoryBroker;
    use weir_strategies::{
        CommitOffsets, CommitPolicy, Incoming, JoinFuture, ProcessingStrategy, Progress as Signal,
        Reduce, RunTask, StrategyContext, StrategyError, StreamProcessor, SubmitError,
    };

    struct Counted(super::Tally, CommitOffsets);

    impl<T: Send> ProcessingStrategy<T> for Counted {
        fn attach(&mut self, _: &Signal) {}
        fn submit(&mut self, m: Incoming<T>) -> Result<(), SubmitError<T>> {
            for (p, o) in m.committable() {
                self.0.seen(p.index as usize, o);
            }
            ProcessingStrategy::<T>::submit(&mut self.1, m)
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

    pub fn prepare(partitions: u32, messages: u64) -> Prepared {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let broker = MemoryBroker::new();
        let topic = Topic::new(format!("bench-{partitions}"));
        broker.create_topic(&topic, partitions).expect("topic");
        let value = bytes::Bytes::from(body());
        rt.block_on(async {
            let producer = broker.producer().await.expect("producer");
            let payload = Payload::new(value);
            weir_benches::fill(&producer, &topic, partitions, messages, 100_000, &payload).await;
        });
        Prepared {
            rt,
            broker,
            topic,
            partitions,
            messages,
        }
    }

    /// Runs the pipeline until every message reached the last step.
    pub fn run(p: &Prepared, pipeline: Pipeline) -> Spent {
        let progress = super::Progress::new(p.partitions, p.messages);
        let pr = progress.clone();
        let factory = move |_: &StrategyContext| -> Box<dyn ProcessingStrategy<Payload>> {
            let last = Counted(super::Tally::new(pr.clone()), CommitOffsets::new());
            match pipeline {
                Pipeline::CommitOnly => Box::new(last),
                Pipeline::RunTask => Box::new(RunTask::new(|p: Payload| Ok(p.value.len()), last)),
                Pipeline::RunTaskReduce => Box::new(RunTask::new(
                    |p: Payload| Ok(p.value.len()),
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
                    ConsumerConfig::builder(format!("g-{}", rand_id()))
                        .max_poll_records(
                            std::env::var("WEIR_MAX_POLL")
                                .ok()
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(500),
                        )
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

fn rand_id() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
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
                Pipeline::RunTask => Box::new(RunTask::new(length, last)),
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
        for j in 0..messages {
            let payload = KafkaPayload::new(None, None, Some(body()));
            broker
                .produce(&parts[(j % u64::from(partitions)) as usize], payload)
                .expect("produced");
        }
        Prepared {
            broker: Arc::new(Mutex::new(broker)),
            topic,
            partitions,
            messages,
        }
    }

    pub fn run(p: &Prepared, pipeline: Pipeline) -> Spent {
        let progress = super::Progress::new(p.partitions, p.messages);
        let state = ConsumerState::new(Box::new(Factory(pipeline, progress.clone())), None);
        let consumer = LocalConsumer::new(
            uuid::Uuid::from_u64_pair(0, rand_id()),
            p.broker.clone(),
            format!("g-{}", rand_id()),
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

fn rate(messages: u64, d: Duration) -> f64 {
    messages as f64 / d.as_secs_f64()
}

fn one_million_pass() {
    println!("== 1M-message pass, 100-byte messages: best of 3 interleaved runs per system ==");
    println!("   (msg/s wall clock | msg/s per CPU-second of the processing thread)");
    let mut ratios = Vec::new();
    for pipeline in PIPELINES {
        for partitions in PARTITIONS {
            let weir = weir_side::prepare(partitions, BIG);
            let arroyo = arroyo_side::prepare(partitions, BIG);
            let (mut w, mut a) = ((0f64, 0f64), (0f64, 0f64));
            for _ in 0..3 {
                let s = weir_side::run(&weir, pipeline);
                w = (w.0.max(rate(BIG, s.wall)), w.1.max(rate(BIG, s.cpu)));
                let s = arroyo_side::run(&arroyo, pipeline);
                a = (a.0.max(rate(BIG, s.wall)), a.1.max(rate(BIG, s.cpu)));
            }
            println!(
                "{} / {partitions} partition(s): weir {:>10.0} | {:>10.0}   arroyo {:>10.0} | {:>10.0}",
                pipeline.name(),
                w.0,
                w.1,
                a.0,
                a.1
            );
            ratios.push((pipeline, partitions, w.1 / a.1, w.0 / a.0));
        }
    }
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
    for (pipeline, partitions, cpu, wall) in ratios {
        println!(
            "ratio weir/arroyo ({}, {partitions} partition{}): {cpu:.1}   (CPU time; wall clock: {wall:.1})",
            pipeline.name(),
            if partitions == 1 { "" } else { "s" }
        );
    }
}

fn criterion_benches(c: &mut Criterion) {
    for pipeline in PIPELINES {
        for partitions in PARTITIONS {
            let mut group = c.benchmark_group(format!("{}/{partitions}p", pipeline.name()));
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(3));
            group.throughput(Throughput::Elements(SMALL));
            group.bench_function("weir", |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let p = weir_side::prepare(partitions, SMALL);
                            weir_side::run(&p, pipeline).wall
                        })
                        .sum()
                })
            });
            group.bench_function("arroyo", |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let p = arroyo_side::prepare(partitions, SMALL);
                            arroyo_side::run(&p, pipeline).wall
                        })
                        .sum()
                })
            });
            group.finish();
        }
    }
}

fn main() {
    // `STRATEGIES_PROFILE=<pipeline>` runs only Weir's side of one pipeline
    // (4 partitions, or `STRATEGIES_PARTITIONS`), for a profiler.
    if let Ok(name) = std::env::var("STRATEGIES_PROFILE") {
        let pipeline = PIPELINES
            .into_iter()
            .find(|p| p.name() == name)
            .unwrap_or(Pipeline::RunTask);
        let n = std::env::var("STRATEGIES_MESSAGES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(BIG);
        let runs = std::env::var("STRATEGIES_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5);
        let partitions = std::env::var("STRATEGIES_PARTITIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4);
        let p = weir_side::prepare(partitions, n);
        for _ in 0..runs {
            let d = weir_side::run(&p, pipeline);
            println!(
                "{}: {:.0} msg/s wall, {:.0} msg/s of CPU",
                pipeline.name(),
                rate(n, d.wall),
                rate(n, d.cpu)
            );
        }
        return;
    }
    one_million_pass();
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
