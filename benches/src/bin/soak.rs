//! Soak: millions of messages through a backpressured StreamProcessor
//! pipeline, on the memory broker and on Redis, with this process's
//! resident memory read (`/proc/self/status`: `VmRSS` now, `VmHWM` peak) at
//! 1M messages and at the end. Memory must stay flat: the memory broker
//! keeps a bounded log (retention), and Redis keeps its data in its own
//! process. `cargo xtask soak` runs it in release mode.
//!
//! ```text
//! soak [--memory N] [--redis N]     (defaults: 10000000 and 2000000; 0 skips)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use weir_core::{Admin, Broker, ConsumerConfig, Destination, Payload, Producer, Topic};
use weir_memory::{MemoryBroker, Retention};
use weir_redis::{RedisBroker, RedisConfig};
use weir_strategies::{CommitPolicy, Pipeline, StreamProcessor};
use weir_testkit::servers::redis::RedisServer;

const PARTITIONS: u32 = 4;
const BATCH: u64 = 1000;
/// The producer waits while this many messages are produced and not yet
/// processed: the backlog (and the broker's data on memory) stays bounded.
const MAX_LAG: u64 = 200_000;

/// `(VmRSS, VmHWM)` in KiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn soak<B: Broker>(name: &str, broker: &B, topic: &Topic, total: u64) {
    let processed = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let consumer = broker
        .consumer(
            ConsumerConfig::builder(format!("soak-{name}"))
                .max_poll_records(500)
                .build()
                .expect("consumer config"),
        )
        .await
        .expect("consumer");
    let (count, total_sum) = (Arc::clone(&processed), Arc::clone(&sum));
    let processor = StreamProcessor::builder(consumer, [topic.clone()], move |_: &_| {
        let (count, total_sum) = (Arc::clone(&count), Arc::clone(&total_sum));
        // A bounded async step: when its tasks are all busy it refuses
        // messages, and the processor pauses the partitions.
        Pipeline::new()
            .map_async(move |p: Payload| {
                let (count, total_sum) = (Arc::clone(&count), Arc::clone(&total_sum));
                async move {
                    tokio::task::yield_now().await;
                    let n: u64 = std::str::from_utf8(&p.value)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .expect("a number");
                    total_sum.fetch_add(n, Ordering::Relaxed);
                    count.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            })
            .concurrency(8)
            .commit()
    })
    .commit_policy(CommitPolicy::every(Duration::from_millis(500)))
    .pause_after(Duration::from_millis(5))
    .build();
    let stop = processor.shutdown_handle();
    let running = tokio::spawn(processor.run());

    let producer = broker.producer().await.expect("producer");
    let start = Instant::now();
    let at_start = memory();
    let mut at_1m = None;
    let mut next = 0u64;
    while processed.load(Ordering::Relaxed) < total {
        let done = processed.load(Ordering::Relaxed);
        if at_1m.is_none() && done >= 1_000_000 {
            at_1m = Some(memory());
        }
        if next < total && next - done < MAX_LAG {
            let end = (next + BATCH).min(total);
            let batch = (next..end)
                .map(|i| {
                    (
                        Destination::Partition(topic.partition((i % u64::from(PARTITIONS)) as u32)),
                        Payload::new(i.to_string()),
                    )
                })
                .collect();
            for r in producer.produce_batch(batch).await {
                r.expect("produced");
            }
            next = end;
        } else {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!running.is_finished(), "the processor stopped");
    }
    let elapsed = start.elapsed();
    let at_end = memory();
    stop.shutdown();
    let report = running.await.expect("joins").expect("stops cleanly");
    let expected_sum = total * (total - 1) / 2;
    assert_eq!(processed.load(Ordering::Relaxed), total, "processed");
    assert_eq!(
        sum.load(Ordering::Relaxed),
        expected_sum,
        "every number once"
    );
    let (rss_1m, hwm_1m) = at_1m.unwrap_or_default();
    println!(
        "{name}: {total} messages in {:.1} s ({:.0}/s), {} pauses, {} commits",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        report.pauses,
        report.commits
    );
    println!(
        "{name}: RSS at start {}, at 1M {} (peak {}), at the end {} (peak {})",
        mib(at_start.0),
        mib(rss_1m),
        mib(hwm_1m),
        mib(at_end.0),
        mib(at_end.1)
    );
}

fn count_arg(args: &[String], flag: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a count"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let on_memory = count_arg(&args, "--memory", 10_000_000);
    let on_redis = count_arg(&args, "--redis", 2_000_000);
    if on_memory > 0 {
        // The log keeps at most twice the producer's lead per partition:
        // nothing unread is dropped, and the broker's data stays bounded.
        let broker = MemoryBroker::new();
        let topic = Topic::new("soak");
        broker
            .create_topic_with_retention(
                &topic,
                PARTITIONS,
                Retention::messages((2 * MAX_LAG / u64::from(PARTITIONS)) as usize),
            )
            .expect("topic");
        soak("memory", &broker, &topic, on_memory).await;
    }
    if on_redis > 0 {
        let server = RedisServer::start();
        let broker =
            RedisBroker::connect(RedisConfig::builder(server.url()).build().expect("config"))
                .await
                .expect("connect");
        let topic = Topic::new("soak");
        broker
            .admin()
            .await
            .expect("admin")
            .create_topic(&topic, PARTITIONS)
            .await
            .expect("topic");
        soak("redis", &broker, &topic, on_redis).await;
    }
}
