//! Memory broker throughput next to a raw `tokio::sync::mpsc` channel moving
//! the same 100-byte payloads: produce only, consume (with a commit per
//! batch) only, and both at once, on 1 and 4 partitions.
//!
//! `cargo xtask bench memory`

use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use weir_benches::{Comparison, best_of, consume_and_commit, report, runtime};
use weir_core::{Admin, Broker, ConsumerConfig, Destination, Payload, Producer, Topic};
use weir_memory::MemoryBroker;
use weir_testkit::subscribed_with;

const MESSAGES: u64 = 200_000;

fn payload() -> Bytes {
    Bytes::from(vec![b'x'; 100])
}

async fn topic_with(broker: &MemoryBroker, partitions: u32, fill: u64) -> Topic {
    let topic = Topic::new(format!("bench-{partitions}-{fill}-{}", rand_suffix()));
    broker
        .admin()
        .await
        .expect("admin")
        .create_topic(&topic, partitions)
        .await
        .expect("create");
    let producer = broker.producer().await.expect("producer");
    for _ in 0..fill {
        producer
            .produce(Destination::Topic(topic.clone()), Payload::new(payload()))
            .await
            .expect("produce");
    }
    topic
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

async fn weir_produce(partitions: u32, n: u64) {
    let broker = MemoryBroker::new();
    let topic = topic_with(&broker, partitions, 0).await;
    let producer = broker.producer().await.expect("producer");
    let value = payload();
    for _ in 0..n {
        producer
            .produce(
                Destination::Topic(topic.clone()),
                Payload::new(value.clone()),
            )
            .await
            .expect("produce");
    }
}

async fn weir_consume(broker: &MemoryBroker, topic: &Topic, n: u64) {
    let config = ConsumerConfig::new(format!("g-{}", rand_suffix()));
    let mut consumer = subscribed_with(broker, config, std::slice::from_ref(topic)).await;
    consume_and_commit(&mut consumer, n).await;
}

async fn weir_end_to_end(partitions: u32, n: u64) {
    let broker = MemoryBroker::new();
    let topic = topic_with(&broker, partitions, 0).await;
    let producer = broker.producer().await.expect("producer");
    let t = topic.clone();
    let produce = tokio::spawn(async move {
        let value = payload();
        for _ in 0..n {
            producer
                .produce(Destination::Topic(t.clone()), Payload::new(value.clone()))
                .await
                .expect("produce");
        }
    });
    weir_consume(&broker, &topic, n).await;
    produce.await.expect("producer task");
}

async fn raw_produce(n: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let value = payload();
    for _ in 0..n {
        tx.send(value.clone()).expect("send");
    }
    rx.close();
}

async fn raw_consume(n: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let value = payload();
    for _ in 0..n {
        tx.send(value.clone()).expect("send");
    }
    drop(tx);
    let mut buf = Vec::with_capacity(500);
    let mut got = 0u64;
    while got < n {
        got += rx.recv_many(&mut buf, 500).await as u64;
        buf.clear();
    }
}

async fn raw_end_to_end(n: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let produce = tokio::spawn(async move {
        let value = payload();
        for _ in 0..n {
            tx.send(value.clone()).await.expect("send");
        }
    });
    let mut buf = Vec::with_capacity(500);
    let mut got = 0u64;
    while got < n {
        got += rx.recv_many(&mut buf, 500).await as u64;
        buf.clear();
    }
    produce.await.expect("producer task");
}

fn criterion_benches(c: &mut Criterion) {
    let rt = runtime();
    let n = 50_000u64;
    let mut g = c.benchmark_group("memory");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Elements(n));
    for partitions in [1u32, 4] {
        g.bench_function(format!("produce/{partitions}p"), |b| {
            b.iter(|| rt.block_on(weir_produce(partitions, n)))
        });
        g.bench_function(format!("end_to_end/{partitions}p"), |b| {
            b.iter(|| rt.block_on(weir_end_to_end(partitions, n)))
        });
    }
    g.bench_function("raw_mpsc/produce", |b| {
        b.iter(|| rt.block_on(raw_produce(n)))
    });
    g.bench_function("raw_mpsc/end_to_end", |b| {
        b.iter(|| rt.block_on(raw_end_to_end(n)))
    });
    g.finish();
}

fn comparisons() -> Vec<Comparison> {
    let rt = runtime();
    let mut rows = Vec::new();
    let raw_produce_t = best_of(3, || rt.block_on(raw_produce(MESSAGES)));
    let raw_consume_t = best_of(3, || rt.block_on(raw_consume(MESSAGES)));
    let raw_e2e_t = best_of(3, || rt.block_on(raw_end_to_end(MESSAGES)));
    for partitions in [1u32, 4] {
        let produce = best_of(3, || rt.block_on(weir_produce(partitions, MESSAGES)));
        rows.push(Comparison {
            workload: format!("produce, {partitions} partition(s)"),
            peer: "mpsc",
            messages: MESSAGES,
            weir: produce,
            peer_time: raw_produce_t,
        });
        let broker = MemoryBroker::new();
        let topic = rt.block_on(topic_with(&broker, partitions, MESSAGES));
        let consume = best_of(3, || rt.block_on(weir_consume(&broker, &topic, MESSAGES)));
        rows.push(Comparison {
            workload: format!("consume+commit, {partitions} partition(s)"),
            peer: "mpsc",
            messages: MESSAGES,
            weir: consume,
            peer_time: raw_consume_t,
        });
        let e2e = best_of(3, || rt.block_on(weir_end_to_end(partitions, MESSAGES)));
        rows.push(Comparison {
            workload: format!("produce+consume, {partitions} partition(s)"),
            peer: "mpsc",
            messages: MESSAGES,
            weir: e2e,
            peer_time: raw_e2e_t,
        });
    }
    rows
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
    report(
        "memory broker vs tokio mpsc (100-byte payloads, 200k messages, best of 3)",
        &comparisons(),
    );
}
