//! The memory broker next to a raw `tokio::sync::mpsc` channel moving the
//! same messages: 100-byte payloads, a fresh buffer per message on both sides
//! (`weir_benches::fresh_payload`), built before the clock starts.
//!
//! Workloads (each on 1 and 4 partitions for Weir; the channel has none):
//! - **produce**: single `produce` calls, awaited one by one, next to
//!   `UnboundedSender::send` of each payload;
//! - **produce (topic handle)**: the same through a `TopicProducer`, which
//!   holds the topic rather than look its name up, and answers at once;
//! - **produce_batch**: `produce_batch` calls of `WEIR_BENCH_MEMORY_BATCH`
//!   messages (100), next to the same sends;
//! - **consume + commit**: the topic (or the channel) is filled and the
//!   consumer has its assignment before the clock starts; the clock runs
//!   only while the messages are drained, Weir committing each polled batch
//!   (the last offset of each partition in it), the channel drained with
//!   `recv_many` of the same batch size (500, the consumer's default);
//! - **produce + consume**: a producer task sends single messages while the
//!   consumer drains them (an unbounded channel on the peer's side, since the
//!   broker's log never blocks its producer).
//!
//! Every workload runs `WEIR_BENCH_RUNS` times (5), the sides interleaved
//! run by run; each figure is the median with its range, and the ratio is
//! taken run by run (Weir's throughput over the channel's in the same run).
//! `WEIR_BENCH_MEMORY_MESSAGES` sets the messages per run (200,000), and
//! `WEIR_BENCH_MEMORY_PARTS` the workloads (`produce,consume,e2e`). Each
//! single-threaded workload also shows its ratio from the CPU time of the
//! measuring thread (`weir_benches::thread_cpu`), steadier than wall time
//! on a shared machine.
//!
//! `WEIR_BENCH_MEMORY_SCALE=1` adds the scale run: a topic of 1M, and one of
//! `WEIR_BENCH_MEMORY_SCALE_MESSAGES` (10M), distinct messages, filled anew
//! for each run and drained once (consume + commit, the first read of every
//! message), interleaved; it prints both throughputs, their ratio, and how
//! far the peak resident size (`VmHWM`, reset after the fill) rose above the
//! resident size after the fill while draining. It needs about 2 GiB and
//! a minute or two.
//!
//! `cargo xtask bench memory`

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use tokio::sync::mpsc;
use weir_benches::{
    Clock, Spent, Spread, env_or, fresh_payload, interleaved, per_second, produce_fresh,
    runs_from_env, runtime,
};
use weir_core::{
    Broker, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent, Destination, Partition,
    Payload, Producer, Topic,
};
use weir_memory::{MemoryBroker, MemoryConsumer};

const SIZE: usize = 100;
/// The consumer's default `max_poll_records`, used for `recv_many` too.
const POLL: usize = 500;
const PARTITIONS: [u32; 2] = [1, 4];

/// `n` fresh payloads, numbered from `first`.
fn payloads(first: u64, n: u64) -> Vec<Bytes> {
    (first..first + n).map(|s| fresh_payload(SIZE, s)).collect()
}

/// A broker with one topic of `partitions` partitions.
fn broker_with(partitions: u32) -> (MemoryBroker, Topic) {
    let broker = MemoryBroker::new();
    let topic = Topic::new("bench");
    broker.create_topic(&topic, partitions).expect("create");
    (broker, topic)
}

/// Appends `n` fresh payloads to `topic` (spread over its partitions in
/// turn), in batches of 1,000; not timed.
async fn preload(broker: &MemoryBroker, topic: &Topic, n: u64) {
    let producer = broker.producer().await.expect("producer");
    produce_fresh(&producer, topic, 0..n, 1_000, SIZE).await;
}

/// A consumer of `topic` in a new group, with its assignment received.
async fn assigned(broker: &MemoryBroker, topic: &Topic, group: &str) -> MemoryConsumer {
    let mut c = broker
        .consumer(ConsumerConfig::new(group))
        .await
        .expect("consumer");
    c.subscribe(std::slice::from_ref(topic))
        .await
        .expect("subscribe");
    match c.poll().await.expect("poll") {
        ConsumerEvent::Assigned(_) => c,
        other => panic!("expected the assignment first, got {other:?}"),
    }
}

/// Polls until `n` messages came, committing each batch: per partition,
/// the offset after the last message of it in the batch.
async fn drain(consumer: &mut MemoryConsumer, n: u64) {
    let mut got = 0u64;
    let mut last: Vec<(Partition, u64)> = Vec::new();
    while got < n {
        let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") else {
            continue;
        };
        got += batch.len() as u64;
        for m in &batch {
            match last.iter_mut().find(|(p, _)| *p == m.partition) {
                Some((_, o)) => *o = m.next_offset(),
                None => last.push((m.partition.clone(), m.next_offset())),
            }
        }
        let commit: CommitRequest = last.drain(..).collect();
        consumer.commit(&commit).await.expect("commit");
    }
}

/// Drains `n` messages from `rx` with `recv_many`, dropping them.
async fn drain_channel(rx: &mut mpsc::UnboundedReceiver<Bytes>, n: u64) {
    let mut buf = Vec::with_capacity(POLL);
    let mut got = 0u64;
    while got < n {
        got += rx.recv_many(&mut buf, POLL).await as u64;
        buf.clear();
    }
}

// ---------------------------------------------------------------------------
// One timed run of each side. Each returns the time of the measured span only.

async fn weir_produce(partitions: u32, n: u64) -> Spent {
    let (broker, topic) = broker_with(partitions);
    let producer = broker.producer().await.expect("producer");
    let values = payloads(0, n);
    let clock = Clock::start();
    for v in values {
        producer
            .produce(Destination::Topic(topic.clone()), Payload::new(v))
            .await
            .expect("produce");
    }
    let t = clock.stop();
    drop(broker);
    t
}

async fn weir_produce_on_handle(partitions: u32, n: u64) -> Spent {
    let (broker, topic) = broker_with(partitions);
    let producer = broker.producer().await.expect("producer");
    let orders = producer.topic(&topic).expect("topic handle");
    let values = payloads(0, n);
    let clock = Clock::start();
    for v in values {
        orders.produce(Payload::new(v)).expect("produce");
    }
    let t = clock.stop();
    drop(broker);
    t
}

async fn weir_produce_batch(partitions: u32, n: u64, batch: usize) -> Spent {
    let (broker, topic) = broker_with(partitions);
    let producer = broker.producer().await.expect("producer");
    let mut values = payloads(0, n).into_iter();
    let clock = Clock::start();
    loop {
        let chunk: Vec<(Destination, Payload)> = values
            .by_ref()
            .take(batch)
            .map(|v| (Destination::Topic(topic.clone()), Payload::new(v)))
            .collect();
        if chunk.is_empty() {
            break;
        }
        for r in producer.produce_batch(chunk).await {
            r.expect("produced");
        }
    }
    let t = clock.stop();
    drop(broker);
    t
}

async fn mpsc_send(n: u64) -> Spent {
    let (tx, rx) = mpsc::unbounded_channel();
    let values = payloads(0, n);
    let clock = Clock::start();
    for v in values {
        tx.send(v).expect("send");
    }
    let t = clock.stop();
    drop(rx);
    t
}

async fn weir_consume(partitions: u32, n: u64) -> Spent {
    let (broker, topic) = broker_with(partitions);
    preload(&broker, &topic, n).await;
    let mut consumer = assigned(&broker, &topic, "drain").await;
    let clock = Clock::start();
    drain(&mut consumer, n).await;
    clock.stop()
}

async fn mpsc_consume(n: u64) -> Spent {
    let (tx, mut rx) = mpsc::unbounded_channel();
    for v in payloads(0, n) {
        tx.send(v).expect("send");
    }
    let clock = Clock::start();
    drain_channel(&mut rx, n).await;
    clock.stop()
}

async fn weir_end_to_end(partitions: u32, n: u64) -> Spent {
    let (broker, topic) = broker_with(partitions);
    let producer = broker.producer().await.expect("producer");
    let mut consumer = assigned(&broker, &topic, "e2e").await;
    let values = payloads(0, n);
    let clock = Clock::start();
    let sending = tokio::spawn(async move {
        for v in values {
            producer
                .produce(Destination::Topic(topic.clone()), Payload::new(v))
                .await
                .expect("produce");
        }
    });
    drain(&mut consumer, n).await;
    sending.await.expect("producer task");
    clock.stop()
}

async fn mpsc_end_to_end(n: u64) -> Spent {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let values = payloads(0, n);
    let clock = Clock::start();
    let sending = tokio::spawn(async move {
        for v in values {
            tx.send(v).expect("send");
        }
    });
    drain_channel(&mut rx, n).await;
    sending.await.expect("producer task");
    clock.stop()
}

// ---------------------------------------------------------------------------
// The table.

/// One row: Weir's and the channel's samples of one workload, run by run.
struct Row {
    workload: String,
    messages: u64,
    weir: Vec<Spent>,
    peer: Vec<Spent>,
    /// Whether all the work ran on the measuring thread, so its CPU time
    /// is the whole cost (not when a producer task runs beside it).
    one_thread: bool,
}

/// Throughputs of `messages` in each of `times`.
fn rates(messages: u64, times: impl Iterator<Item = Duration>) -> Option<Spread> {
    Spread::of(&times.map(|t| per_second(messages, t)).collect::<Vec<_>>())
}

/// `b / a` run by run (a ratio of throughputs from times `a` and `b`).
fn ratios(a: impl Iterator<Item = Duration>, b: impl Iterator<Item = Duration>) -> Option<Spread> {
    let r: Vec<f64> = a
        .zip(b)
        .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64().max(f64::MIN_POSITIVE))
        .collect();
    Spread::of(&r)
}

fn show(s: Option<Spread>, decimals: usize) -> String {
    s.map_or_else(|| "-".into(), |s| s.show(decimals))
}

impl Row {
    fn wall(v: &[Spent]) -> impl Iterator<Item = Duration> + '_ {
        v.iter().map(|s| s.wall)
    }

    fn cpu(v: &[Spent]) -> impl Iterator<Item = Duration> + '_ {
        v.iter().filter_map(|s| s.cpu)
    }

    /// Weir's throughput over the channel's, run by run (wall time).
    fn ratio(&self) -> Option<Spread> {
        ratios(Row::wall(&self.weir), Row::wall(&self.peer))
    }

    /// The same from the CPU time of the measuring thread.
    fn cpu_ratio(&self) -> Option<Spread> {
        if !self.one_thread {
            return None;
        }
        ratios(Row::cpu(&self.weir), Row::cpu(&self.peer))
    }
}

fn print_table(title: &str, rows: &[Row]) {
    println!("\n== {title} ==");
    println!(
        "{:<32} {:>30} {:>30} {:>18} {:>18}",
        "workload", "weir msg/s", "mpsc msg/s", "ratio", "ratio (CPU time)"
    );
    for r in rows {
        println!(
            "{:<32} {:>30} {:>30} {:>18} {:>18}",
            r.workload,
            show(rates(r.messages, Row::wall(&r.weir)), 0),
            show(rates(r.messages, Row::wall(&r.peer)), 0),
            show(r.ratio(), 2),
            show(r.cpu_ratio(), 2),
        );
    }
    for r in rows {
        println!("ratio weir/mpsc ({}): {}", r.workload, show(r.ratio(), 2));
        if let Some(cpu) = r.cpu_ratio() {
            println!(
                "ratio weir/mpsc ({}, CPU time): {}",
                r.workload,
                cpu.show(2)
            );
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Produce(u32),
    ProduceOnHandle(u32),
    ProduceBatch(u32),
    Send,
    Consume(u32),
    Receive,
    WeirEndToEnd(u32),
    MpscEndToEnd,
}

fn measure(rt: &tokio::runtime::Runtime, side: Side, n: u64, batch: usize) -> Spent {
    rt.block_on(async {
        match side {
            Side::Produce(p) => weir_produce(p, n).await,
            Side::ProduceOnHandle(p) => weir_produce_on_handle(p, n).await,
            Side::ProduceBatch(p) => weir_produce_batch(p, n, batch).await,
            Side::Send => mpsc_send(n).await,
            Side::Consume(p) => weir_consume(p, n).await,
            Side::Receive => mpsc_consume(n).await,
            Side::WeirEndToEnd(p) => weir_end_to_end(p, n).await,
            Side::MpscEndToEnd => mpsc_end_to_end(n).await,
        }
    })
}

/// Runs `weir` sides next to `peer`, interleaved, one row per Weir side.
fn compare(
    rt: &tokio::runtime::Runtime,
    runs: usize,
    n: u64,
    batch: usize,
    weir: &[(String, Side)],
    peer: Side,
) -> Vec<Row> {
    let mut sides: Vec<Side> = weir.iter().map(|(_, s)| *s).collect();
    sides.push(peer);
    let mut samples = interleaved(runs, &sides, |_, side| measure(rt, side, n, batch));
    let peer_samples = samples.pop().expect("the peer's samples");
    weir.iter()
        .zip(samples)
        .map(|((name, _), weir)| Row {
            workload: name.clone(),
            messages: n,
            weir,
            peer: peer_samples.clone(),
            one_thread: !matches!(peer, Side::MpscEndToEnd),
        })
        .collect()
}

fn comparisons(runs: usize, n: u64, batch: usize) -> Vec<Row> {
    let rt = runtime();
    let per_partitions = |name: &str, side: fn(u32) -> Side| -> Vec<(String, Side)> {
        PARTITIONS
            .iter()
            .map(|p| (format!("{name}, {p}p"), side(*p)))
            .collect()
    };
    let parts: String = env_or("WEIR_BENCH_MEMORY_PARTS", "produce,consume,e2e".to_owned());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    let mut rows = Vec::new();
    if part("produce") {
        let mut produce = per_partitions("produce", Side::Produce);
        produce.extend(per_partitions(
            "produce (topic handle)",
            Side::ProduceOnHandle,
        ));
        produce.extend(per_partitions(
            &format!("produce_batch of {batch}"),
            Side::ProduceBatch,
        ));
        rows.extend(compare(&rt, runs, n, batch, &produce, Side::Send));
    }
    if part("consume") {
        rows.extend(compare(
            &rt,
            runs,
            n,
            batch,
            &per_partitions("consume + commit", Side::Consume),
            Side::Receive,
        ));
    }
    if part("e2e") {
        rows.extend(compare(
            &rt,
            runs,
            n,
            batch,
            &per_partitions("produce + consume", Side::WeirEndToEnd),
            Side::MpscEndToEnd,
        ));
    }
    rows
}

// ---------------------------------------------------------------------------
// The scale run: does draining 10M messages cost what draining 1M does, and
// does it grow memory past what the fill took?

/// A `kB` field of `/proc/self/status` (`VmHWM`, `VmRSS`), in bytes.
fn proc_status(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets `VmHWM` to the current resident size (Linux 4.0 and later).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One scale sample: the drain's time, and how far the peak resident size
/// rose above the resident size after the fill, in bytes.
struct ScaleSample {
    time: Spent,
    growth: Option<u64>,
    filled: Option<u64>,
}

/// Fills a new broker with `n` distinct messages, then drains them once
/// (the first read of each, as in production), and drops the broker.
fn scale_run(rt: &tokio::runtime::Runtime, n: u64) -> ScaleSample {
    let (broker, topic) = broker_with(1);
    rt.block_on(preload(&broker, &topic, n));
    let mut consumer = rt.block_on(assigned(&broker, &topic, "scale"));
    let reset = reset_peak();
    let filled = proc_status("VmRSS:");
    let time = rt.block_on(async {
        let clock = Clock::start();
        drain(&mut consumer, n).await;
        clock.stop()
    });
    let peak = proc_status("VmHWM:");
    drop(consumer);
    drop(broker);
    // Hands the freed heap back, so the next run's resident size after its
    // fill is its own.
    // SAFETY: `malloc_trim` only releases free memory; it has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let growth = match (reset, filled, peak) {
        (true, Some(f), Some(p)) => Some(p.saturating_sub(f)),
        _ => None,
    };
    ScaleSample {
        time,
        growth,
        filled,
    }
}

fn scale(runs: usize) {
    let big: u64 = env_or("WEIR_BENCH_MEMORY_SCALE_MESSAGES", 10_000_000);
    let sizes = [1_000_000u64, big];
    let rt = runtime();
    let samples = interleaved(runs, &sizes, |_, n| scale_run(&rt, n));
    println!(
        "\n== scale: consume + commit of distinct {SIZE}-byte messages, 1 partition, each run a new fill read once, {runs} interleaved runs =="
    );
    println!(
        "{:>10} {:>30} {:>30} {:>24} {:>28}",
        "messages",
        "msg/s",
        "msg/s (CPU time)",
        "VmRSS after fill (MiB)",
        "peak growth (bytes/message)"
    );
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    for (n, s) in sizes.iter().zip(&samples) {
        let filled: Vec<f64> = s.iter().filter_map(|x| x.filled).map(mib).collect();
        let growth: Vec<f64> = s
            .iter()
            .filter_map(|x| x.growth)
            .map(|g| g as f64 / *n as f64)
            .collect();
        println!(
            "{n:>10} {:>30} {:>30} {:>24} {:>28}",
            show(rates(*n, s.iter().map(|x| x.time.wall)), 0),
            show(rates(*n, s.iter().filter_map(|x| x.time.cpu)), 0),
            show(Spread::of(&filled), 0),
            show(Spread::of(&growth), 1)
        );
    }
    // Throughput at `big` over throughput at 1M, run by run.
    let ratio = |time: fn(&ScaleSample) -> Option<Duration>| {
        let r: Vec<f64> = samples[0]
            .iter()
            .zip(&samples[1])
            .filter_map(|(a, b)| Some((time(a)?, time(b)?)))
            .map(|(a, b)| per_second(big, b) / per_second(sizes[0], a))
            .collect();
        show(Spread::of(&r), 2)
    };
    println!(
        "throughput {big} / 1M messages: {} (CPU time: {})",
        ratio(|x| Some(x.time.wall)),
        ratio(|x| x.time.cpu)
    );
}

// ---------------------------------------------------------------------------

fn criterion_benches(c: &mut Criterion) {
    let rt = runtime();
    let n = 50_000u64;
    let mut g = c.benchmark_group("memory");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(300));
    g.throughput(Throughput::Elements(n));
    g.bench_function("produce/1p", |b| b.iter(|| rt.block_on(weir_produce(1, n))));
    g.bench_function("end_to_end/1p", |b| {
        b.iter(|| rt.block_on(weir_end_to_end(1, n)))
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    let runs = runs_from_env(5);
    let n: u64 = env_or("WEIR_BENCH_MEMORY_MESSAGES", 200_000);
    let batch: usize = env_or("WEIR_BENCH_MEMORY_BATCH", 100).max(1);
    let rows = comparisons(runs, n, batch);
    print_table(
        &format!(
            "memory broker vs tokio mpsc ({SIZE}-byte fresh payloads, {n} messages, median (range) of {runs} interleaved runs)"
        ),
        &rows,
    );
    if env_or("WEIR_BENCH_MEMORY_SCALE", 0u8) != 0 {
        scale(runs);
    }
}
