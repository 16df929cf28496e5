//! A weir-tasks worker on Redis or Kafka as a process of its own, for the
//! crash tests: actor `count` appends its task id and attempt number to a
//! file at the start of every run (so a run cut off by a kill is counted too), works for the
//! milliseconds its job says, and fails its attempts below the one its job
//! names.
//!
//! ```text
//! tasks_worker <broker> <queue> <out-file> <session-ms> <concurrency>
//! ```
//!
//! `<broker>` is a `redis://` URL, or Kafka's bootstrap servers.
//!
//! It runs until killed, or stops gracefully on SIGTERM; it exits non-zero
//! if the worker fails.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_integration_tests::quick_redis_config;
use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_redis::RedisBroker;
use weir_tasks::{Context, RetryPolicy, Router, TaskBroker, Tasks, Worker};

fn arg(args: &[String], i: usize, what: &str) -> String {
    args.get(i)
        .cloned()
        .unwrap_or_else(|| panic!("argument {i} ({what}) is missing"))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = arg(&args, 1, "broker");
    let queue = arg(&args, 2, "queue");
    let out = arg(&args, 3, "output file");
    let session_ms: u64 = arg(&args, 4, "session ms")
        .parse()
        .expect("session ms is a number");
    let concurrency: usize = arg(&args, 5, "concurrency")
        .parse()
        .expect("concurrency is a number");
    // The lease: a worker that dies leaves its jobs to the others after
    // the session timeout.
    let session = Duration::from_millis(session_ms);
    if url.starts_with("redis") {
        let config = quick_redis_config(url, session);
        let broker = RedisBroker::connect_lazy(config).expect("broker");
        work(broker, &queue, &out, concurrency).await;
    } else {
        let config = KafkaConfig::builder(url)
            .fast_group_joins()
            // tansu holds a fetch for its whole wait even when data comes
            // (see docs/kafka.md), and the priority consumer's pauses make
            // resumed partitions fetch again: keep the wait short.
            .set_consumer("fetch.wait.max.ms", "10")
            .set_consumer("session.timeout.ms", session_ms.to_string())
            .set_consumer("heartbeat.interval.ms", (session_ms / 10).to_string())
            .build()
            .expect("config");
        work(KafkaBroker::new(config), &queue, &out, concurrency).await;
    }
}

async fn work<B: TaskBroker>(broker: B, queue: &str, out: &str, concurrency: usize) {
    let tasks = Tasks::builder(broker).partitions(4).build();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out)
        .expect("output file");
    let file = Arc::new(Mutex::new(file));
    let mut router = Router::new();
    router
        .actor(
            "count",
            move |(work_ms, succeed_at): (u64, u32), ctx: Context| {
                {
                    let mut f = file
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    writeln!(f, "{} {}", ctx.id(), ctx.attempt()).expect("writing the output file");
                }
                async move {
                    tokio::time::sleep(Duration::from_millis(work_ms)).await;
                    if ctx.attempt() < succeed_at {
                        Err(format!("attempt {} fails on purpose", ctx.attempt()))
                    } else {
                        Ok(ctx.attempt())
                    }
                }
            },
        )
        .queue(queue)
        .retry_policy(RetryPolicy::fixed(Duration::from_millis(50)));
    let worker = Worker::builder(&tasks)
        .router(router)
        .concurrency(concurrency)
        .delay_poll_interval(Duration::from_millis(100))
        .outage_timeout(Duration::from_secs(60))
        .build();
    match worker.run().await {
        Ok(stats) => eprintln!("stopped: {stats:?}"),
        Err(e) => {
            eprintln!("the worker failed: {e:?}");
            std::process::exit(1);
        }
    }
}
