//! Consume-and-commit throughput of 100-byte messages on one Kafka-protocol
//! broker (tansu, started here; or the cluster in `WEIR_KAFKA_BOOTSTRAP`):
//! weir-kafka driven by a `StreamProcessor` (and by a plain poll/commit
//! loop) next to a raw rdkafka `BaseConsumer` loop, over the same topic.
//!
//! The topic is filled once, before any clock, by weir-kafka's producer with
//! a fresh buffer per message (`weir_benches::fresh_payload`); every side
//! then reads the same messages. Each side joins its own consumer group,
//! reads every message and commits once a second. The clock runs on every
//! side from its first delivery (the raw loop's first message, the bare
//! consumer's first batch, the processor's first message reaching the
//! strategy) to its last, and the rate counts the messages delivered after
//! the first delivery, so the group join and the first fetch are not
//! measured on any side. The bench process's CPU time (user and system, all
//! threads: the side's loop and librdkafka's) over the same span is printed
//! per message.
//!
//! The sides are interleaved run by run (raw, processor, consumer, raw,
//! ...), `WEIR_BENCH_RUNS` runs (5 by default). Rates and CPU are printed as
//! the median with the range (min–max), never the best run; each ratio is
//! computed per run pair (Weir's rate over the raw loop's in the same run)
//! and printed as the median of those ratios with their range:
//! `ratio weir/raw-rdkafka (consume+commit, StreamProcessor): M (MIN–MAX)`.
//!
//! Settings (environment): `WEIR_BENCH_KAFKA_MESSAGES` (500,000),
//! `WEIR_BENCH_RUNS` (5).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir_benches::{Spread, env_or, fresh_payload, interleaved, process_cpu, runs_from_env};
use weir_core::{
    Broker, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Payload, Producer, Topic,
};
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_strategies::{
    CommitOffsets, CommitPolicy, Incoming, JoinFuture, ProcessingStrategy, Progress as Signal,
    StrategyContext, StrategyError, StreamProcessor, SubmitError,
};
use weir_testkit::servers::tansu;

const SIZE: usize = 100;
const PARTITIONS: u32 = 4;
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// Messages per `produce_batch` call while filling the topic.
const FILL_CHUNK: u64 = 20_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Raw,
    Processor,
    Consumer,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Raw => "raw rdkafka BaseConsumer loop",
            Side::Processor => "weir-kafka + StreamProcessor",
            Side::Consumer => "weir-kafka consumer, polled by hand",
        }
    }
}

/// One side's run: the span from its first delivery to its last, the
/// messages delivered after the first delivery, and the bench process's CPU
/// time over the span.
#[derive(Clone, Copy, Debug)]
struct Span {
    wall: Duration,
    messages: u64,
    cpu: Option<Duration>,
}

impl Span {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// CPU microseconds per message; NaN when the CPU clock is unavailable.
    fn cpu_per_message(&self) -> f64 {
        self.cpu.map_or(f64::NAN, |c| {
            c.as_secs_f64() * 1e6 / self.messages.max(1) as f64
        })
    }
}

/// Where a span started: the clock, the CPU clock, and the messages
/// delivered by then.
#[derive(Clone, Copy, Debug)]
struct Mark {
    at: Instant,
    cpu: Option<Duration>,
    seen: u64,
}

impl Mark {
    fn now(seen: u64) -> Mark {
        Mark {
            cpu: process_cpu(),
            at: Instant::now(),
            seen,
        }
    }

    /// The span from this mark to now, when `seen` messages were delivered.
    fn until_now(self, seen: u64) -> Span {
        let wall = self.at.elapsed();
        let cpu = process_cpu()
            .zip(self.cpu)
            .map(|(b, a)| b.saturating_sub(a));
        Span {
            wall,
            messages: seen - self.seen,
            cpu,
        }
    }
}

fn group() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn config(bootstrap: &str) -> KafkaConfig {
    KafkaConfig::builder(bootstrap)
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
        .build()
        .expect("a valid kafka config")
}

/// Fills a fresh topic with `n` 100-byte messages, a fresh buffer each,
/// spread round robin over its partitions.
async fn prepare(broker: &KafkaBroker, n: u64) -> Topic {
    let topic = weir_testkit::new_topic(broker, "bench-kafka", PARTITIONS).await;
    let producer = broker.producer().await.expect("producer");
    let mut seq = 0;
    while seq < n {
        let end = (seq + FILL_CHUNK).min(n);
        let batch = (seq..end)
            .map(|s| {
                (
                    topic.partition((s % u64::from(PARTITIONS)) as u32).into(),
                    Payload::new(fresh_payload(SIZE, s)),
                )
            })
            .collect();
        for r in producer.produce_batch(batch).await {
            r.expect("produced");
        }
        seq = end;
    }
    topic
}

// ---------------------------------------------------------------------------
// raw rdkafka: BaseConsumer, poll, store positions, commit once a second

fn raw(bootstrap: &str, topic: &Topic, n: u64) -> Span {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group())
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        // As weir-kafka sets it: with librdkafka's default (1000), a reader
        // that drains a full prefetch queue idles up to a second per refill.
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("raw consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut seen = 0u64;
    let mut start = None;
    let mut last_commit = Instant::now();
    while seen < n {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                std::hint::black_box(m.payload());
                next.insert(m.partition(), m.offset() + 1);
                seen += 1;
                start.get_or_insert_with(|| Mark::now(seen));
            }
            Some(Err(e)) => eprintln!("raw consumer: {e}"),
            None => {}
        }
        if last_commit.elapsed() >= COMMIT_EVERY && !next.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &next {
                tpl.add_partition_offset(topic.as_str(), *p, Offset::Offset(*o))
                    .expect("offset");
            }
            consumer.commit(&tpl, CommitMode::Async).expect("commit");
            last_commit = Instant::now();
        }
    }
    let span = start.expect("a message").until_now(seen);
    drop(consumer);
    span
}

// ---------------------------------------------------------------------------
// weir-kafka + StreamProcessor

/// The processor's progress: where its span started, where it ended, and
/// how many messages reached the strategy so far.
#[derive(Default)]
struct Times {
    start: Option<Mark>,
    end: Option<Span>,
    seen: u64,
}

/// Counts positions reaching the last step; marks the first and the last.
#[derive(Clone)]
struct Clock {
    inner: Arc<Mutex<Times>>,
    done: Arc<tokio::sync::Notify>,
    total: u64,
}

struct Counted(Clock, Vec<u64>, CommitOffsets);

impl<T: Send> ProcessingStrategy<T> for Counted {
    fn attach(&mut self, _: &Signal) {}
    fn submit(&mut self, m: Incoming<T>) -> Result<(), SubmitError<T>> {
        let mut advanced = 0;
        for (p, o) in m.committable() {
            let last = &mut self.1[p.index as usize];
            if o > *last {
                advanced += o - *last;
                *last = o;
            }
        }
        if advanced > 0 {
            let mut c = self.0.inner.lock().expect("clock");
            c.seen += advanced;
            let seen = c.seen;
            let start = *c.start.get_or_insert_with(|| Mark::now(seen));
            if seen >= self.0.total && c.end.is_none() {
                c.end = Some(start.until_now(seen));
                self.0.done.notify_one();
            }
        }
        ProcessingStrategy::<T>::submit(&mut self.2, m)
    }
    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        ProcessingStrategy::<T>::poll(&mut self.2)
    }
    fn close(&mut self) {}
    fn terminate(&mut self) {}
    fn join(&mut self, t: Option<Duration>) -> JoinFuture<'_> {
        ProcessingStrategy::<T>::join(&mut self.2, t)
    }
}

async fn weir_processor(broker: &KafkaBroker, topic: &Topic, n: u64) -> Span {
    let clock = Clock {
        inner: Arc::default(),
        done: Arc::default(),
        total: n,
    };
    let c = clock.clone();
    let factory = move |_: &StrategyContext| -> Box<dyn ProcessingStrategy<Payload>> {
        Box::new(Counted(
            c.clone(),
            vec![0; PARTITIONS as usize],
            CommitOffsets::new(),
        ))
    };
    let consumer = broker
        .consumer(ConsumerConfig::new(group()))
        .await
        .expect("consumer");
    let processor = StreamProcessor::builder(consumer, [topic.clone()], factory)
        .commit_policy(CommitPolicy::every(COMMIT_EVERY))
        .build();
    let stop = processor.shutdown_handle();
    let task = tokio::spawn(processor.run());
    let span = loop {
        let notified = clock.done.notified();
        if let Some(span) = clock.inner.lock().expect("clock").end {
            break span;
        }
        notified.await;
    };
    stop.shutdown();
    task.await.expect("task").expect("processor");
    span
}

// ---------------------------------------------------------------------------
// weir-kafka, plain consumer: poll, commit once a second

async fn weir_consumer(broker: &KafkaBroker, topic: &Topic, n: u64) -> Span {
    let mut consumer = weir_testkit::subscribed_with(
        broker,
        ConsumerConfig::new(group()),
        std::slice::from_ref(topic),
    )
    .await;
    let mut pending = CommitRequest::new();
    let mut seen = 0u64;
    let mut start = None;
    let mut last_commit = Instant::now();
    while seen < n {
        if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
            seen += batch.len() as u64;
            start.get_or_insert_with(|| Mark::now(seen));
            for m in &batch {
                pending.insert(m.partition.clone(), m.next_offset());
            }
        }
        if last_commit.elapsed() >= COMMIT_EVERY && !pending.is_empty() {
            consumer
                .commit(&std::mem::take(&mut pending))
                .await
                .expect("commit");
            last_commit = Instant::now();
        }
    }
    let span = start.expect("a batch").until_now(seen);
    consumer.close().await.expect("close");
    span
}

fn print_spread(label: &str, values: &[f64], decimals: usize) {
    let shown = Spread::of(values).map_or_else(|| "n/a".to_owned(), |s| s.show(decimals));
    println!("{label:<40} {shown:>34}");
}

/// `ratio weir/raw-rdkafka (WORKLOAD): median (min–max)` of the per-run ratios.
fn print_ratio(workload: &str, weir: &[Span], raw: &[Span]) {
    let ratios: Vec<f64> = weir
        .iter()
        .zip(raw)
        .map(|(w, r)| w.rate() / r.rate())
        .collect();
    let shown = Spread::of(&ratios).map_or_else(|| "n/a".to_owned(), |s| s.show(2));
    println!("ratio weir/raw-rdkafka ({workload}): {shown}");
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; there is nothing to filter.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_or("WEIR_BENCH_KAFKA_MESSAGES", 500_000u64).max(1);
    let runs = runs_from_env(5);
    let bootstrap = tansu::bootstrap();
    let rt = weir_benches::runtime();
    let broker = KafkaBroker::new(config(&bootstrap));
    let topic = rt.block_on(prepare(&broker, n));
    let sides = [Side::Raw, Side::Processor, Side::Consumer];
    let spans = interleaved(runs, &sides, |_, side| match side {
        Side::Raw => raw(&bootstrap, &topic, n),
        Side::Processor => rt.block_on(weir_processor(&broker, &topic, n)),
        Side::Consumer => rt.block_on(weir_consumer(&broker, &topic, n)),
    });
    println!(
        "\n== kafka: consume+commit of {n} {SIZE}-byte messages (a fresh buffer each) over {PARTITIONS} partitions on {bootstrap}, {runs} interleaved runs, median (min–max) (ratios per run pair) =="
    );
    println!("{:<40} {:>34}", "msg/s", "median (min–max)");
    for (side, runs) in sides.iter().zip(&spans) {
        let rates: Vec<f64> = runs.iter().map(Span::rate).collect();
        print_spread(side.label(), &rates, 0);
    }
    println!(
        "{:<40} {:>34}",
        "CPU µs per message, bench process", "median (min–max)"
    );
    for (side, runs) in sides.iter().zip(&spans) {
        let cpu: Vec<f64> = runs.iter().map(Span::cpu_per_message).collect();
        print_spread(side.label(), &cpu, 2);
    }
    print_ratio("consume+commit, StreamProcessor", &spans[1], &spans[0]);
    print_ratio(
        "consume+commit, bare consumer, no processor",
        &spans[2],
        &spans[0],
    );
}
