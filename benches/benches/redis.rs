//! weir-redis end to end (produce 100-byte messages in batches while a group
//! member consumes them, committing every batch) next to the raw limit of the
//! same server: `redis-benchmark -P 16` running XADD, and the same XADDs
//! pipelined directly with the `redis` crate. Printed as ratios from one run.
//!
//! Weir stores a batch's messages to a partition as one stream entry, so two
//! more lines say what that is worth: the same server's limit for raw XADDs
//! of entries that size, and single `produce` calls from many callers.
//!
//! The end to end runs are repeated on a local 3-master Redis Cluster
//! (`redis+cluster://` URL), against the same single-server baseline.
//!
//! `cargo xtask bench redis` (it installs redis-server when missing; the
//! bench starts its own on a free loopback port).

use std::process::Command;
use std::time::{Duration, Instant};

use weir_benches::{Comparison, best_of, consume_and_commit, report, runtime};
use weir_core::{
    Admin, Broker, Consumer, ConsumerConfig, ConsumerEvent, Destination, Payload, Producer, Topic,
};
use weir_redis::{RedisBroker, RedisConfig, RedisConsumer};
use weir_testkit::servers::find_program;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::{delete_topic, subscribed_with};

const MESSAGES: u64 = 200_000;
const BATCH: usize = 500;
const PRODUCERS: u64 = 4;

fn value() -> bytes::Bytes {
    bytes::Bytes::from(vec![b'x'; 100])
}

fn suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// A broker on `url` and a new topic named after `prefix`.
async fn with_topic(url: &str, prefix: &str, partitions: u32) -> (RedisBroker, Topic) {
    let broker = RedisBroker::connect(RedisConfig::builder(url).build().expect("config"))
        .await
        .expect("connect");
    let topic = Topic::new(format!("{prefix}-{}", suffix()));
    broker
        .admin()
        .await
        .expect("admin")
        .create_topic(&topic, partitions)
        .await
        .expect("create");
    (broker, topic)
}

/// A consumer of `topic` in a new group, polled until it has its assignment
/// (so the clock measures the data path only).
async fn assigned_consumer(broker: &RedisBroker, topic: &Topic) -> RedisConsumer {
    let config = ConsumerConfig::builder(format!("g-{}", suffix()))
        .max_poll_records(BATCH)
        .build()
        .expect("a valid consumer config");
    let mut consumer = subscribed_with(broker, config, std::slice::from_ref(topic)).await;
    while !matches!(
        consumer.poll().await.expect("poll"),
        ConsumerEvent::Assigned(_)
    ) {}
    consumer
}

/// Four producers with a batch of `BATCH` in flight each (as the raw baseline
/// has four pipelines in flight), sending `n` messages between them.
async fn spawn_producers(
    broker: &RedisBroker,
    topic: &Topic,
    n: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut producers = Vec::new();
    for _ in 0..PRODUCERS {
        let producer = broker.producer().await.expect("producer");
        let t = topic.clone();
        producers.push(tokio::spawn(async move {
            let v = value();
            let mut sent = 0u64;
            let share = n / PRODUCERS;
            while sent < share {
                let k = (share - sent).min(BATCH as u64);
                let batch = (0..k)
                    .map(|_| (Destination::Topic(t.clone()), Payload::new(v.clone())))
                    .collect();
                for r in producer.produce_batch(batch).await {
                    r.expect("produce");
                }
                sent += k;
            }
        }));
    }
    producers
}

async fn weir_end_to_end(url: &str, partitions: u32, n: u64) -> Duration {
    let (broker, topic) = with_topic(url, &format!("bench-{partitions}"), partitions).await;
    let mut consumer = assigned_consumer(&broker, &topic).await;
    let started = Instant::now();
    // Four producers with a batch in flight each, as the raw baseline has
    // four pipelines in flight.
    let producers = spawn_producers(&broker, &topic, n).await;
    consume_and_commit(&mut consumer, n).await;
    for p in producers {
        p.await.expect("producer task");
    }
    let elapsed = started.elapsed();
    consumer.close().await.expect("close");
    delete_topic(&broker, &topic).await;
    elapsed
}

/// Produce only (four producers, batches of 500), then consume+commit only: the two halves timed apart.
async fn weir_halves(url: &str, n: u64) -> (Duration, Duration) {
    let (broker, topic) = with_topic(url, "halves", 1).await;
    let started = Instant::now();
    let producers = spawn_producers(&broker, &topic, n).await;
    for p in producers {
        p.await.expect("producer task");
    }
    let produce = started.elapsed();
    let mut consumer = assigned_consumer(&broker, &topic).await;
    let started = Instant::now();
    consume_and_commit(&mut consumer, n).await;
    let consume = started.elapsed();
    consumer.close().await.expect("close");
    delete_topic(&broker, &topic).await;
    (produce, consume)
}

/// `entries` XADDs of `fields`, pipelined 16 deep per round trip by the
/// `redis` crate, four pipelines in flight.
async fn raw_pipelined_xadd(
    url: &str,
    entries: u64,
    fields: Vec<(&'static str, Vec<u8>)>,
) -> Duration {
    let client = redis::Client::open(url).expect("client");
    let conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let key = format!("raw-{}", suffix());
    let mut pipe = redis::pipe();
    for _ in 0..16 {
        let cmd = pipe.cmd("XADD").arg(&key).arg("*");
        for (name, value) in &fields {
            cmd.arg(*name).arg(&value[..]);
        }
        cmd.ignore();
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (mut conn, pipe) = (conn.clone(), pipe.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..entries / 4 / 16 {
                pipe.query_async::<()>(&mut conn).await.expect("xadd");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let elapsed = started.elapsed();
    let mut conn = conn;
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("del");
    elapsed
}

/// Raw XADDs of 100-byte messages, one per entry.
async fn raw_xadd_messages(url: &str, n: u64) -> Duration {
    raw_pipelined_xadd(url, n, vec![("v", value().to_vec())]).await
}

/// Raw XADDs of entries holding `run` messages each, about as large as Weir
/// stores them (each message with its length, format, timestamp, key and
/// header fields): the time for `n` messages.
async fn raw_xadd_runs(url: &str, n: u64, run: u64) -> Duration {
    let entry = vec![b'x'; run as usize * (100 + 21)];
    let fields = vec![("n", run.to_string().into_bytes()), ("m", entry)];
    raw_pipelined_xadd(url, n / run, fields).await
}

/// Single `produce` calls (no batches) from 64 callers at once, to one partition.
async fn weir_single_produces(url: &str, n: u64) -> Duration {
    const CALLERS: u64 = 64;
    let (broker, topic) = with_topic(url, "single", 1).await;
    let producer = broker.producer().await.expect("producer");
    let started = Instant::now();
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (producer, t) = (producer.clone(), topic.clone());
            tokio::spawn(async move {
                let v = value();
                for _ in 0..n / CALLERS {
                    producer
                        .produce(Destination::Topic(t.clone()), Payload::new(v.clone()))
                        .await
                        .expect("produce");
                }
            })
        })
        .collect();
    for c in callers {
        c.await.expect("caller");
    }
    let elapsed = started.elapsed();
    delete_topic(&broker, &topic).await;
    elapsed
}

/// `redis-benchmark -P 16` running XADD of a 100-byte value: requests per second.
fn redis_benchmark_xadd(port: u16, n: u64) -> Option<f64> {
    let program = find_program("WEIR_REDIS_BENCHMARK", "redis-benchmark")?;
    let out = Command::new(program)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-P", "16", "-q"])
        .args(["-n", &n.to_string()])
        .args(["XADD", "benchmark-stream", "*", "v"])
        .arg("x".repeat(100))
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "XADD benchmark-stream * v xxx...: 512345.67 requests per second, p50=..."
    let rate = text
        .split("requests per second")
        .next()?
        .rsplit(':')
        .next()?
        .trim()
        .parse()
        .ok()?;
    Some(rate)
}

fn main() {
    let server = RedisServer::start();
    let url = server.url();
    let rt = runtime();
    let raw = best_of(3, || {
        rt.block_on(raw_xadd_messages(&url, MESSAGES));
    });
    let raw_rate = Comparison::rate(MESSAGES, raw);
    let mut rows = Vec::new();
    for partitions in [1u32, 4] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(rt.block_on(weir_end_to_end(&url, partitions, MESSAGES)));
        }
        rows.push(Comparison {
            workload: format!("produce+consume+commit, {partitions} partition(s)"),
            peer: "raw pipelined XADD",
            messages: MESSAGES,
            weir: best,
            peer_time: raw,
        });
    }
    // The same end to end runs on a local 3-master Redis Cluster, next to
    // the same single-server baseline (so the ratios compare 1 node with 3).
    let cluster = RedisCluster::start();
    let cluster_url = cluster.url();
    for partitions in [1u32, 4] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            best = best.min(rt.block_on(weir_end_to_end(&cluster_url, partitions, MESSAGES)));
        }
        rows.push(Comparison {
            workload: format!(
                "produce+consume+commit, {partitions} partition(s), 3-master cluster"
            ),
            peer: "raw pipelined XADD",
            messages: MESSAGES,
            weir: best,
            peer_time: raw,
        });
    }
    drop(cluster);
    // The same end to end run next to raw XADDs of entries as large as the
    // ones Weir writes there (four producers' batches of 500 to 1 partition).
    let runs_messages = 10 * MESSAGES;
    let raw_runs = best_of(3, || {
        rt.block_on(raw_xadd_runs(&url, runs_messages, BATCH as u64));
    });
    rows.push(Comparison {
        workload: "produce+consume+commit, 1 partition (peer: 500-message entries)".to_owned(),
        peer: "raw pipelined XADD of 500-message entries",
        messages: MESSAGES,
        weir: rows[0].weir,
        peer_time: raw_runs.mul_f64(MESSAGES as f64 / runs_messages as f64),
    });
    let single = (0..3)
        .map(|_| rt.block_on(weir_single_produces(&url, MESSAGES)))
        .min()
        .unwrap_or_default();
    rows.push(Comparison {
        workload: "single produce calls, 64 callers, 1 partition".to_owned(),
        peer: "raw pipelined XADD",
        messages: MESSAGES,
        weir: single,
        peer_time: raw,
    });
    let (produce, consume) = rt.block_on(weir_halves(&url, MESSAGES));
    rows.push(Comparison {
        workload: "produce only, 1 partition".to_owned(),
        peer: "raw pipelined XADD",
        messages: MESSAGES,
        weir: produce,
        peer_time: raw,
    });
    rows.push(Comparison {
        workload: "consume+commit only, 1 partition".to_owned(),
        peer: "raw pipelined XADD",
        messages: MESSAGES,
        weir: consume,
        peer_time: raw,
    });
    report(
        "weir-redis end to end vs raw XADD on the same server (100-byte payloads, 200k messages, best of 3)",
        &rows,
    );
    println!("raw pipelined XADD (redis crate, 16 deep x 4): {raw_rate:.0} msg/s");
    match redis_benchmark_xadd(server.port(), MESSAGES) {
        Some(bench_rate) => {
            println!("redis-benchmark -P 16 XADD: {bench_rate:.0} msg/s");
            for r in rows.iter().filter(|r| r.peer == "raw pipelined XADD") {
                let weir = Comparison::rate(r.messages, r.weir);
                println!(
                    "ratio weir/redis-benchmark-P16-XADD ({}): {:.2}",
                    r.workload,
                    weir / bench_rate
                );
            }
        }
        None => println!("redis-benchmark not found: only the redis-crate baseline was measured"),
    }
    drop(server);
}
