//! weir-redis next to the same work done with raw Redis commands (the
//! `redis` crate) on the same server: 100-byte messages, each side building
//! a fresh buffer per message (`weir_benches::fresh_payload`).
//!
//! Each workload is a Weir side and its raw peer:
//! - produce only, 1 partition: four producers with a batch of 500 in
//!   flight each / four pipelines of 16 XADDs (one message per entry) in
//!   flight; and, as a second peer, the same pipelines of XADDs of entries
//!   holding 500 messages each, about as large as Weir stores them (each
//!   message with its length, format, timestamp, key and header fields):
//!   what the server can store in Weir's format;
//! - consume+commit only, 1 partition (filled beforehand, not timed): a group
//!   member reading batches of 500 and committing each / XREADGROUP COUNT
//!   500 and an XACK of the batch's ids;
//! - produce+consume+commit at once, 1 and 4 partitions: the two above at
//!   the same time (the raw peer spreads its XADDs over 1 or 4 streams and
//!   reads them all with one XREADGROUP);
//! - the same end to end on a local 3-master Redis Cluster
//!   (`redis+cluster://`), next to the raw peer on the single server (the
//!   cluster's nodes share the same two cores: this shows the cost of the
//!   cluster client and of per-slot round trips, not the scaling of more
//!   machines);
//! - single `produce` calls from 64 callers, 1 partition / single XADDs from
//!   64 callers on one multiplexed connection.
//!
//! On every side the clock starts once its connections, stream or topic,
//! group and assignment are ready (none of that is timed) and stops when
//! the last message is stored (produce) or read and committed or
//! acknowledged (consume, end to end); building the payloads is inside it.
//! Every side is measured in every run, the sides interleaved run by run,
//! `WEIR_BENCH_RUNS` runs (5 by default). Rates are printed as the median
//! with the range (min–max); each ratio weir/peer is computed per run pair
//! (Weir's rate over its peer's in the same run) and printed as the median
//! of those ratios with their range.
//!
//! `redis-benchmark -P 16` running XADD is measured in every run too, but it
//! cannot follow the method: it is an external process with its own payload
//! (built once), its own 50 connections and its own clock. Its section's
//! title says so.
//!
//! Settings (environment): `WEIR_BENCH_REDIS_MESSAGES` (messages per side
//! and run, 500,000; the 500-message-entry peer moves four times as many,
//! being that much faster), `WEIR_BENCH_RUNS` (5).
//!
//! `cargo xtask bench redis` (it installs redis-server when missing; the
//! bench starts its own server and cluster on free loopback ports).

use std::ops::Range;
use std::process::Command;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Value};
use tokio::task::JoinHandle;
use weir_benches::{
    Spread, consume_and_commit, env_or, fresh_payload, interleaved, per_second, produce_fresh,
    runs_from_env, runtime,
};
use weir_core::{
    Admin, Broker, Consumer, ConsumerConfig, ConsumerEvent, Destination, Payload, Producer, Topic,
};
use weir_redis::{RedisBroker, RedisConfig, RedisConsumer, RedisProducer};
use weir_testkit::servers::find_program;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::servers::redis_cluster::RedisCluster;
use weir_testkit::{delete_topic, subscribed_with};

/// Bytes of a message's value.
const SIZE: usize = 100;
/// Messages per produced batch, per consumer read and per large raw entry.
const BATCH: u64 = 500;
/// Producers (Weir) and pipelines (raw) in flight at once.
const PRODUCERS: u64 = 4;
/// Commands per raw pipeline.
const PIPELINE: u64 = 16;
/// Callers of single produce calls.
const CALLERS: u64 = 64;
/// Bytes Weir stores per message beside its value (length, format,
/// timestamp, key and header fields).
const FRAMING: usize = 21;
/// How many more messages the 500-message-entry peer moves per run.
const ENTRIES_SCALE: u64 = 4;
/// The raw peers' consumer group.
const GROUP: &str = "raw";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    RawProduce,
    WeirProduce,
    RawEntries,
    RedisBenchmark,
    RawConsume,
    WeirConsume,
    RawEndToEnd(u32),
    WeirEndToEnd(u32),
    WeirClusterEndToEnd(u32),
    RawSingle,
    WeirSingle,
}

impl Side {
    /// What the table calls the side.
    fn label(self) -> String {
        match self {
            Side::RawProduce => "raw pipelined XADD, produce only, 1 stream".to_owned(),
            Side::WeirProduce => "weir-redis, produce only, 1 partition".to_owned(),
            Side::RawEntries => "raw pipelined XADD of 500-message entries".to_owned(),
            Side::RedisBenchmark => "redis-benchmark -P 16 XADD (external)".to_owned(),
            Side::RawConsume => "raw XREADGROUP+XACK, consume only, 1 stream".to_owned(),
            Side::WeirConsume => "weir-redis, consume+commit only, 1 partition".to_owned(),
            Side::RawEndToEnd(1) => "raw XADD+XREADGROUP+XACK, 1 stream".to_owned(),
            Side::RawEndToEnd(p) => format!("raw XADD+XREADGROUP+XACK, {p} streams"),
            Side::WeirEndToEnd(p) => format!("weir-redis, end to end, {}", partitions(p)),
            Side::WeirClusterEndToEnd(p) => {
                format!("weir-redis, end to end, {}, cluster", partitions(p))
            }
            Side::RawSingle => "raw single XADD calls, 64 callers".to_owned(),
            Side::WeirSingle => "weir-redis, single produce calls, 64 callers".to_owned(),
        }
    }

    /// How many messages one run of the side moves.
    fn messages(self, n: u64) -> u64 {
        match self {
            Side::RawEntries => n * ENTRIES_SCALE,
            _ => n,
        }
    }
}

fn partitions(p: u32) -> String {
    if p == 1 {
        "1 partition".to_owned()
    } else {
        format!("{p} partitions")
    }
}

/// A ratio line: Weir's side, its peer, the peer's name and the workload.
struct Pair {
    weir: Side,
    peer: Side,
    peer_name: &'static str,
    workload: &'static str,
}

const PAIRS: &[Pair] = &[
    Pair {
        weir: Side::WeirProduce,
        peer: Side::RawProduce,
        peer_name: "raw pipelined XADD",
        workload: "produce only, 1 partition",
    },
    Pair {
        weir: Side::WeirProduce,
        peer: Side::RawEntries,
        peer_name: "raw pipelined XADD of 500-message entries",
        workload: "produce only, 1 partition",
    },
    Pair {
        weir: Side::WeirConsume,
        peer: Side::RawConsume,
        peer_name: "raw XREADGROUP+XACK",
        workload: "consume+commit only, 1 partition",
    },
    Pair {
        weir: Side::WeirEndToEnd(1),
        peer: Side::RawEndToEnd(1),
        peer_name: "raw XADD+XREADGROUP+XACK",
        workload: "produce+consume+commit, 1 partition",
    },
    Pair {
        weir: Side::WeirEndToEnd(4),
        peer: Side::RawEndToEnd(4),
        peer_name: "raw XADD+XREADGROUP+XACK",
        workload: "produce+consume+commit, 4 partitions",
    },
    Pair {
        weir: Side::WeirClusterEndToEnd(1),
        peer: Side::RawEndToEnd(1),
        peer_name: "raw XADD+XREADGROUP+XACK on one server",
        workload: "produce+consume+commit, 1 partition, 3-master cluster",
    },
    Pair {
        weir: Side::WeirClusterEndToEnd(4),
        peer: Side::RawEndToEnd(4),
        peer_name: "raw XADD+XREADGROUP+XACK on one server",
        workload: "produce+consume+commit, 4 partitions, 3-master cluster",
    },
    Pair {
        weir: Side::WeirSingle,
        peer: Side::RawSingle,
        peer_name: "raw single XADD calls",
        workload: "single produce calls, 64 callers, 1 partition",
    },
];

/// The pair whose peer cannot follow the method (see the module docs).
const EXTERNAL_PAIR: Pair = Pair {
    weir: Side::WeirProduce,
    peer: Side::RedisBenchmark,
    peer_name: "redis-benchmark -P 16 XADD",
    workload: "produce only, 1 partition",
};

fn suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

/// `n` split into `parts` consecutive ranges (the first ones one longer
/// when `parts` does not divide `n`).
fn shares(n: u64, parts: u64) -> Vec<Range<u64>> {
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + u64::from(i < extra);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

// ---------------------------------------------------------------- weir-redis

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

/// A consumer of `topic` in a new group, polled until it has its assignment.
async fn assigned_consumer(broker: &RedisBroker, topic: &Topic) -> RedisConsumer {
    let config = ConsumerConfig::builder(format!("g-{}", suffix()))
        .max_poll_records(BATCH as usize)
        .build()
        .expect("a valid consumer config");
    let mut consumer = subscribed_with(broker, config, std::slice::from_ref(topic)).await;
    while !matches!(
        consumer.poll().await.expect("poll"),
        ConsumerEvent::Assigned(_)
    ) {}
    consumer
}

/// `PRODUCERS` producers, made before any clock starts.
async fn weir_producers(broker: &RedisBroker) -> Vec<RedisProducer> {
    let mut producers = Vec::new();
    for _ in 0..PRODUCERS {
        producers.push(broker.producer().await.expect("producer"));
    }
    producers
}

/// The producers send `n` messages between them to `topic`, each with a
/// batch of `BATCH` in flight (as the raw peer has a pipeline in flight per
/// task).
fn spawn_weir_producers(
    producers: Vec<RedisProducer>,
    topic: &Topic,
    n: u64,
) -> Vec<JoinHandle<()>> {
    producers
        .into_iter()
        .zip(shares(n, PRODUCERS))
        .map(|(producer, range)| {
            let topic = topic.clone();
            tokio::spawn(async move {
                produce_fresh(&producer, &topic, range, BATCH, SIZE).await;
            })
        })
        .collect()
}

async fn join_all(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        t.await.expect("a bench task");
    }
}

async fn weir_produce(url: &str, n: u64) -> Duration {
    let (broker, topic) = with_topic(url, "produce", 1).await;
    let producers = weir_producers(&broker).await;
    let started = Instant::now();
    join_all(spawn_weir_producers(producers, &topic, n)).await;
    let elapsed = started.elapsed();
    delete_topic(&broker, &topic).await;
    elapsed
}

async fn weir_consume(url: &str, n: u64) -> Duration {
    let (broker, topic) = with_topic(url, "consume", 1).await;
    let producers = weir_producers(&broker).await;
    join_all(spawn_weir_producers(producers, &topic, n)).await;
    let mut consumer = assigned_consumer(&broker, &topic).await;
    let started = Instant::now();
    consume_and_commit(&mut consumer, n).await;
    let elapsed = started.elapsed();
    consumer.close().await.expect("close");
    delete_topic(&broker, &topic).await;
    elapsed
}

async fn weir_end_to_end(url: &str, partitions: u32, n: u64) -> Duration {
    let (broker, topic) = with_topic(url, &format!("e2e-{partitions}"), partitions).await;
    let mut consumer = assigned_consumer(&broker, &topic).await;
    let producers = weir_producers(&broker).await;
    let started = Instant::now();
    let producing = spawn_weir_producers(producers, &topic, n);
    consume_and_commit(&mut consumer, n).await;
    join_all(producing).await;
    let elapsed = started.elapsed();
    consumer.close().await.expect("close");
    delete_topic(&broker, &topic).await;
    elapsed
}

/// Single `produce` calls (no batches) from `CALLERS` callers at once.
async fn weir_single(url: &str, n: u64) -> Duration {
    let (broker, topic) = with_topic(url, "single", 1).await;
    let producer = broker.producer().await.expect("producer");
    let started = Instant::now();
    let callers = shares(n, CALLERS)
        .into_iter()
        .map(|range| {
            let (producer, topic) = (producer.clone(), topic.clone());
            tokio::spawn(async move {
                for s in range {
                    producer
                        .produce(
                            Destination::Topic(topic.clone()),
                            Payload::new(fresh_payload(SIZE, s)),
                        )
                        .await
                        .expect("produce");
                }
            })
        })
        .collect();
    join_all(callers).await;
    let elapsed = started.elapsed();
    delete_topic(&broker, &topic).await;
    elapsed
}

// ---------------------------------------------------------------- raw redis

/// A multiplexed connection without a response timeout (a large stream's
/// commands may take longer than the default half second on a busy machine).
async fn raw_connection(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection_with_config(
            &AsyncConnectionConfig::new().set_response_timeout(None),
        )
        .await
        .expect("connection")
}

fn stream_keys(streams: u32) -> Vec<String> {
    let s = suffix();
    (0..streams).map(|i| format!("raw-{s}-{i}")).collect()
}

async fn unlink(conn: &mut MultiplexedConnection, keys: &[String]) {
    redis::cmd("UNLINK")
        .arg(keys)
        .query_async::<()>(conn)
        .await
        .expect("UNLINK");
}

async fn create_group(conn: &mut MultiplexedConnection, keys: &[String], from: &str) {
    for key in keys {
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(GROUP)
            .arg(from)
            .arg("MKSTREAM")
            .query_async::<()>(conn)
            .await
            .expect("XGROUP CREATE");
    }
}

/// `n` messages XADDed as entries of `per_entry` messages, entry `e` to
/// `keys[e % keys.len()]`, by `PRODUCERS` tasks with a pipeline of
/// `PIPELINE` XADDs in flight each. An entry of one message holds it as field
/// `v`; a larger one holds `n` (how many) and `m` (the messages, each with
/// `FRAMING` bytes beside it, as Weir stores them).
fn spawn_raw_producers(
    conn: &MultiplexedConnection,
    keys: &[String],
    n: u64,
    per_entry: u64,
) -> Vec<JoinHandle<()>> {
    shares(n.div_ceil(per_entry), PRODUCERS)
        .into_iter()
        .map(|entries| {
            let (mut conn, keys) = (conn.clone(), keys.to_vec());
            tokio::spawn(async move {
                let mut e = entries.start;
                while e < entries.end {
                    let end = (e + PIPELINE).min(entries.end);
                    let mut pipe = redis::pipe();
                    for entry in e..end {
                        let key = &keys[(entry % keys.len() as u64) as usize];
                        let first = entry * per_entry;
                        let messages = first..(first + per_entry).min(n);
                        let cmd = pipe.cmd("XADD").arg(key).arg("*");
                        if per_entry == 1 {
                            cmd.arg("v").arg(&fresh_payload(SIZE, first)[..]);
                        } else {
                            let mut m = Vec::with_capacity(per_entry as usize * (SIZE + FRAMING));
                            let count = messages.end - messages.start;
                            for s in messages {
                                m.extend_from_slice(&fresh_payload(SIZE, s));
                                m.extend_from_slice(&[0; FRAMING]);
                            }
                            cmd.arg("n").arg(count).arg("m").arg(m);
                        }
                        cmd.ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await.expect("XADD");
                    e = end;
                }
            })
        })
        .collect()
}

/// The ids of the entries an XREADGROUP reply holds, by stream (RESP2
/// arrays or RESP3 maps); nothing for a read that timed out.
fn entry_ids(reply: Value) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let streams: Vec<(Value, Value)> = match reply {
        Value::Nil => return Vec::new(),
        Value::Map(streams) => streams,
        Value::Array(streams) => streams
            .into_iter()
            .map(|s| match s {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop().unwrap_or_default();
                    (kv.pop().unwrap_or_default(), entries)
                }
                other => panic!("an XREADGROUP stream that is not [key, entries]: {other:?}"),
            })
            .collect(),
        other => panic!("an XREADGROUP reply that is not streams: {other:?}"),
    };
    streams
        .into_iter()
        .map(|(key, entries)| {
            let (Value::BulkString(key), Value::Array(entries)) = (key, entries) else {
                panic!("an XREADGROUP stream without a key or entries");
            };
            let ids = entries
                .into_iter()
                .map(|entry| match entry {
                    Value::Array(mut parts) if !parts.is_empty() => match parts.swap_remove(0) {
                        Value::BulkString(id) => id,
                        other => panic!("an XREADGROUP entry id that is not a string: {other:?}"),
                    },
                    other => panic!("an XREADGROUP entry that is not [id, fields]: {other:?}"),
                })
                .collect();
            (key, ids)
        })
        .collect()
}

/// Reads `n` messages (one per entry) from `keys` as a member of `GROUP`:
/// XREADGROUP COUNT `BATCH` of every stream at once, then one XACK per
/// stream of the ids read, in one round trip.
async fn raw_consume_loop(conn: &mut MultiplexedConnection, keys: &[String], n: u64) {
    let mut read = redis::cmd("XREADGROUP");
    read.arg("GROUP")
        .arg(GROUP)
        .arg("member")
        .arg("COUNT")
        .arg(BATCH)
        .arg("BLOCK")
        .arg(100)
        .arg("STREAMS")
        .arg(keys);
    for _ in keys {
        read.arg(">");
    }
    let mut got = 0u64;
    while got < n {
        let reply: Value = read.query_async(conn).await.expect("XREADGROUP");
        let batch = entry_ids(reply);
        if batch.is_empty() {
            continue;
        }
        let mut acks = redis::pipe();
        for (key, ids) in &batch {
            got += ids.len() as u64;
            acks.cmd("XACK").arg(key).arg(GROUP).arg(ids).ignore();
        }
        acks.query_async::<()>(conn).await.expect("XACK");
    }
}

/// Raw XADDs of `n` messages to one stream, `per_entry` messages an entry.
async fn raw_produce(url: &str, n: u64, per_entry: u64) -> Duration {
    let mut conn = raw_connection(url).await;
    let keys = stream_keys(1);
    let started = Instant::now();
    join_all(spawn_raw_producers(&conn, &keys, n, per_entry)).await;
    let elapsed = started.elapsed();
    unlink(&mut conn, &keys).await;
    elapsed
}

async fn raw_consume(url: &str, n: u64) -> Duration {
    let mut conn = raw_connection(url).await;
    let keys = stream_keys(1);
    join_all(spawn_raw_producers(&conn, &keys, n, 1)).await;
    create_group(&mut conn, &keys, "0").await;
    let mut reader = raw_connection(url).await;
    let started = Instant::now();
    raw_consume_loop(&mut reader, &keys, n).await;
    let elapsed = started.elapsed();
    unlink(&mut conn, &keys).await;
    elapsed
}

async fn raw_end_to_end(url: &str, streams: u32, n: u64) -> Duration {
    let mut conn = raw_connection(url).await;
    let keys = stream_keys(streams);
    create_group(&mut conn, &keys, "$").await;
    // The reader blocks in XREADGROUP: a connection of its own, as Weir's
    // consumer has.
    let mut reader = raw_connection(url).await;
    let started = Instant::now();
    let producing = spawn_raw_producers(&conn, &keys, n, 1);
    raw_consume_loop(&mut reader, &keys, n).await;
    join_all(producing).await;
    let elapsed = started.elapsed();
    unlink(&mut conn, &keys).await;
    elapsed
}

/// Single XADDs (no pipelines) from `CALLERS` callers on one multiplexed
/// connection.
async fn raw_single(url: &str, n: u64) -> Duration {
    let mut conn = raw_connection(url).await;
    let keys = stream_keys(1);
    let started = Instant::now();
    let callers = shares(n, CALLERS)
        .into_iter()
        .map(|range| {
            let (mut conn, key) = (conn.clone(), keys[0].clone());
            tokio::spawn(async move {
                for s in range {
                    redis::cmd("XADD")
                        .arg(&key)
                        .arg("*")
                        .arg("v")
                        .arg(&fresh_payload(SIZE, s)[..])
                        .query_async::<()>(&mut conn)
                        .await
                        .expect("XADD");
                }
            })
        })
        .collect();
    join_all(callers).await;
    let elapsed = started.elapsed();
    unlink(&mut conn, &keys).await;
    elapsed
}

/// `redis-benchmark -P 16` running `n` XADDs of a 100-byte value: messages
/// per second as it reports them; NaN when its output cannot be read.
fn redis_benchmark_xadd(
    rt: &tokio::runtime::Runtime,
    program: &std::path::Path,
    url: &str,
    port: u16,
    n: u64,
) -> f64 {
    let key = format!("benchmark-{}", suffix());
    let rate = Command::new(program)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-P", "16", "-q"])
        .args(["-n", &n.to_string()])
        .args(["XADD", &key, "*", "v"])
        .arg("x".repeat(SIZE))
        .output()
        .ok()
        .and_then(|out| {
            // "XADD benchmark-... * v xxx...: 512345.67 requests per second, p50=..."
            let text = String::from_utf8_lossy(&out.stdout);
            text.split("requests per second")
                .next()?
                .rsplit(':')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(f64::NAN);
    rt.block_on(async {
        unlink(&mut raw_connection(url).await, &[key]).await;
    });
    rate
}

// ---------------------------------------------------------------- report

fn print_rates(title: &str, sides: &[Side], samples: &[Vec<f64>]) {
    println!("\n== {title} ==");
    println!("{:<52} {:>34}", "side", "msg/s: median (min–max)");
    for (side, runs) in sides.iter().zip(samples) {
        let shown = Spread::of(runs).map_or_else(|| "n/a".to_owned(), |s| s.show(0));
        println!("{:<52} {:>34}", side.label(), shown);
    }
}

/// `ratio weir/PEER (WORKLOAD): median (min–max)` of the per-run ratios.
fn print_ratio(pair: &Pair, sides: &[Side], samples: &[Vec<f64>]) {
    let of = |side: Side| sides.iter().position(|s| *s == side).map(|i| &samples[i]);
    let (Some(weir), Some(peer)) = (of(pair.weir), of(pair.peer)) else {
        return;
    };
    let ratios: Vec<f64> = weir.iter().zip(peer).map(|(w, p)| w / p).collect();
    let shown = Spread::of(&ratios).map_or_else(|| "n/a".to_owned(), |s| s.show(2));
    println!("ratio weir/{} ({}): {shown}", pair.peer_name, pair.workload);
}

fn main() {
    // `cargo bench` passes flags such as `--bench`; there is nothing to filter.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n = env_or("WEIR_BENCH_REDIS_MESSAGES", 500_000u64).max(BATCH);
    let runs = runs_from_env(5);
    let server = RedisServer::start();
    let cluster = RedisCluster::start();
    let (url, cluster_url, port) = (server.url(), cluster.url(), server.port());
    let benchmark = find_program("WEIR_REDIS_BENCHMARK", "redis-benchmark");
    let mut sides = vec![Side::RawProduce, Side::WeirProduce, Side::RawEntries];
    if benchmark.is_some() {
        sides.push(Side::RedisBenchmark);
    }
    sides.extend([
        Side::RawConsume,
        Side::WeirConsume,
        Side::RawEndToEnd(1),
        Side::WeirEndToEnd(1),
        Side::WeirClusterEndToEnd(1),
        Side::RawEndToEnd(4),
        Side::WeirEndToEnd(4),
        Side::WeirClusterEndToEnd(4),
        Side::RawSingle,
        Side::WeirSingle,
    ]);
    let rt = runtime();
    let samples = interleaved(runs, &sides, |_, side| {
        let m = side.messages(n);
        let elapsed = match side {
            Side::RedisBenchmark => {
                let program = benchmark.as_deref().expect("found above");
                return redis_benchmark_xadd(&rt, program, &url, port, m);
            }
            Side::RawProduce => rt.block_on(raw_produce(&url, m, 1)),
            Side::RawEntries => rt.block_on(raw_produce(&url, m, BATCH)),
            Side::WeirProduce => rt.block_on(weir_produce(&url, m)),
            Side::RawConsume => rt.block_on(raw_consume(&url, m)),
            Side::WeirConsume => rt.block_on(weir_consume(&url, m)),
            Side::RawEndToEnd(p) => rt.block_on(raw_end_to_end(&url, p, m)),
            Side::WeirEndToEnd(p) => rt.block_on(weir_end_to_end(&url, p, m)),
            Side::WeirClusterEndToEnd(p) => rt.block_on(weir_end_to_end(&cluster_url, p, m)),
            Side::RawSingle => rt.block_on(raw_single(&url, m)),
            Side::WeirSingle => rt.block_on(weir_single(&url, m)),
        };
        per_second(m, elapsed)
    });
    let (main_sides, main_samples): (Vec<Side>, Vec<Vec<f64>>) = sides
        .iter()
        .zip(&samples)
        .filter(|(s, _)| **s != Side::RedisBenchmark)
        .map(|(s, v)| (*s, v.clone()))
        .unzip();
    print_rates(
        &format!(
            "weir-redis vs raw commands on the same server: {n} messages of {SIZE} bytes, a fresh buffer each, {runs} interleaved runs (ratios per run pair)"
        ),
        &main_sides,
        &main_samples,
    );
    for pair in PAIRS {
        print_ratio(pair, &sides, &samples);
    }
    if benchmark.is_some() {
        let at = |side: Side| sides.iter().position(|s| *s == side).expect("a side");
        let (bench_sides, bench_samples) = (
            [Side::WeirProduce, Side::RedisBenchmark],
            [
                samples[at(Side::WeirProduce)].clone(),
                samples[at(Side::RedisBenchmark)].clone(),
            ],
        );
        print_rates(
            "redis-benchmark -P 16 XADD, in the same interleaved runs but NOT the same method: an external process with its own payload (built once), 50 connections and its own clock",
            &bench_sides,
            &bench_samples,
        );
        print_ratio(&EXTERNAL_PAIR, &sides, &samples);
    } else {
        println!("\nredis-benchmark not found: only the redis-crate peers were measured");
    }
    drop(cluster);
    drop(server);
}
