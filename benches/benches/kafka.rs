//! Consume-and-commit throughput of 100-byte messages on one Kafka-protocol
//! broker (tansu, started here; or the cluster in `WEIR_KAFKA_BOOTSTRAP`):
//! weir-kafka driven by a `StreamProcessor` (and by a plain poll/commit
//! loop) next to a raw rdkafka `BaseConsumer` loop, over the same topic, in
//! one run. Each side joins its own consumer group, reads every message and
//! commits once a second; the clock runs from its first message to its last
//! (so the group join is not measured). Best of the interleaved rounds.
//!
//! Prints `ratio weir/raw-rdkafka (consume+commit): X`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use weir_core::{Broker, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Payload, Topic};
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_strategies::{
    CommitOffsets, CommitPolicy, Incoming, JoinFuture, ProcessingStrategy, Progress as Signal,
    StrategyContext, StrategyError, StreamProcessor, SubmitError,
};
use weir_testkit::servers::tansu;

const MESSAGES: u64 = 500_000;
const PARTITIONS: u32 = 4;
const ROUNDS: usize = 3;
const COMMIT_EVERY: Duration = Duration::from_secs(1);

fn group() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn rate(d: Duration) -> f64 {
    MESSAGES as f64 / d.as_secs_f64()
}

fn config(bootstrap: &str) -> KafkaConfig {
    KafkaConfig::builder(bootstrap)
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
        .build()
        .expect("a valid kafka config")
}

/// Fills a fresh topic with `MESSAGES` 100-byte messages.
async fn prepare(broker: &KafkaBroker) -> Topic {
    let topic = weir_testkit::new_topic(broker, "bench-kafka", PARTITIONS).await;
    let producer = broker.producer().await.expect("producer");
    let payload = Payload::new(vec![b'x'; 100]);
    weir_benches::fill(&producer, &topic, PARTITIONS, MESSAGES, 20_000, &payload).await;
    topic
}

// ---------------------------------------------------------------------------
// raw rdkafka: BaseConsumer, poll, store positions, commit once a second

fn raw(bootstrap: &str, topic: &Topic) -> Duration {
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
    while seen < MESSAGES {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                start.get_or_insert_with(Instant::now);
                std::hint::black_box(m.payload());
                next.insert(m.partition(), m.offset() + 1);
                seen += 1;
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
    let elapsed = start.map(|s| s.elapsed()).unwrap_or_default();
    drop(consumer);
    elapsed
}

// ---------------------------------------------------------------------------
// weir-kafka + StreamProcessor

/// When the first and the last message arrived, and how many so far.
type Times = (Option<Instant>, Option<Instant>, u64);

/// Counts positions reaching the last step; records the first and the last.
#[derive(Clone, Default)]
struct Clock {
    inner: Arc<Mutex<Times>>,
    done: Arc<tokio::sync::Notify>,
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
            c.0.get_or_insert_with(Instant::now);
            c.2 += advanced;
            if c.2 >= MESSAGES && c.1.is_none() {
                c.1 = Some(Instant::now());
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

async fn weir_processor(broker: &KafkaBroker, topic: &Topic) -> Duration {
    let clock = Clock::default();
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
    loop {
        let notified = clock.done.notified();
        if clock.inner.lock().expect("clock").1.is_some() {
            break;
        }
        notified.await;
    }
    stop.shutdown();
    task.await.expect("task").expect("processor");
    let c = clock.inner.lock().expect("clock");
    match (c.0, c.1) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    }
}

// ---------------------------------------------------------------------------
// weir-kafka, plain consumer: poll, commit once a second

async fn weir_consumer(broker: &KafkaBroker, topic: &Topic) -> Duration {
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
    while seen < MESSAGES {
        if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
            start.get_or_insert_with(Instant::now);
            seen += batch.len() as u64;
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
    let elapsed = start.map(|s| s.elapsed()).unwrap_or_default();
    consumer.close().await.expect("close");
    elapsed
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; there is nothing to filter.
    let bootstrap = tansu::bootstrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let broker = KafkaBroker::new(config(&bootstrap));
    let topic = rt.block_on(prepare(&broker));
    println!(
        "== kafka: consume+commit of {MESSAGES} 100-byte messages over {PARTITIONS} partitions on {bootstrap}, best of {ROUNDS} interleaved rounds (messages/s) =="
    );
    let (mut r, mut p, mut c) = (0f64, 0f64, 0f64);
    for round in 1..=ROUNDS {
        let raw_rate = rate(raw(&bootstrap, &topic));
        let processor_rate = rate(rt.block_on(weir_processor(&broker, &topic)));
        let consumer_rate = rate(rt.block_on(weir_consumer(&broker, &topic)));
        println!(
            "round {round}: raw rdkafka {raw_rate:>10.0}  weir-kafka+StreamProcessor {processor_rate:>10.0}  weir-kafka consumer {consumer_rate:>10.0}"
        );
        r = r.max(raw_rate);
        p = p.max(processor_rate);
        c = c.max(consumer_rate);
    }
    println!("ratio weir/raw-rdkafka (consume+commit): {:.2}", p / r);
    println!(
        "ratio weir-consumer/raw-rdkafka (consume+commit, no processor): {:.2}",
        c / r
    );
}
