//! A backlog before the first worker: 100,000 jobs wait on Redis (enqueued
//! in bulk) when a worker of concurrency 100 starts, and every one of them
//! completes. (apalis-redis 1.0's worker dies at 8,000 waiting jobs.)
//!
//! It takes about 10 s in the test (debug) build on two shared cores (the
//! enqueue about 2 s, the worker about 20,000 jobs/s), the longest of the
//! job layer's tests; the timeout below is for a worker that stalls.

use std::time::{Duration, Instant};

use weir_redis::{RedisBroker, RedisConfig};
use weir_tasks::{Context, Job, Router, Tasks, Worker};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::unique_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_waiting_jobs_all_complete() {
    const JOBS: u64 = 100_000;
    const BULK: u64 = 10_000;
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url()).build().expect("config");
    let broker = RedisBroker::connect(config).await.expect("connect");
    let tasks = Tasks::builder(broker).partitions(4).build();
    let queue = unique_name("backlog");
    tasks
        .queue(queue.as_str())
        .declare()
        .await
        .expect("declare");

    let t0 = Instant::now();
    for start in (0..JOBS).step_by(BULK as usize) {
        let jobs = (start..start + BULK).map(|i| Job::new("noop").queue(queue.as_str()).args(i));
        for h in tasks.enqueue_many(jobs).await.expect("enqueue") {
            h.expect("enqueued");
        }
    }
    let enqueued_in = t0.elapsed();

    let mut router = Router::new();
    router
        .actor(
            "noop",
            |i: u64, _: Context| async move { Ok::<_, String>(i) },
        )
        .queue(queue.as_str());
    let worker = Worker::builder(&tasks)
        .router(router)
        .concurrency(100)
        .messages_limit(JOBS)
        .handle_signals([])
        .build();
    let t1 = Instant::now();
    let stats = tokio::time::timeout(Duration::from_secs(100), worker.run())
        .await
        .expect("the worker finishes in time")
        .expect("the worker runs");
    let processed_in = t1.elapsed();
    eprintln!(
        "{JOBS} jobs: enqueued in {enqueued_in:?} ({:.0}/s), processed in {processed_in:?} ({:.0}/s): {stats:?}",
        JOBS as f64 / enqueued_in.as_secs_f64(),
        JOBS as f64 / processed_in.as_secs_f64()
    );
    assert_eq!(stats.succeeded, JOBS, "{stats:?}");
    assert_eq!(stats.processed, JOBS, "{stats:?}");
}
