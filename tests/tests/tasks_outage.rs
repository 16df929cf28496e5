//! A tasks worker rides through a Redis restart: the server (AOF on) is
//! killed while jobs run and started again seconds later, longer than the
//! clients' reconnect timeout. The worker's consumer and its jobs' calls
//! (records, events, retries) fail with transient errors meanwhile, are
//! tried again, and the worker keeps running: every job succeeds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weir_integration_tests::quick_redis_config;
use weir_redis::RedisBroker;
use weir_tasks::{Context, Job, RetryPolicy, Router, TaskState, Tasks, Worker};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::unique_name;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rides_through_a_redis_restart_and_finishes_every_job() {
    const JOBS: u64 = 300;
    let server = Arc::new(Mutex::new(RedisServer::builder().append_only(true).start()));
    let url = server.lock().expect("server").url();
    let session = Duration::from_millis(1500);
    let config = quick_redis_config(url, session);
    let broker = RedisBroker::connect(config).await.expect("connect");
    let tasks = Tasks::builder(broker).partitions(2).build();
    let queue = unique_name("outage");
    tasks
        .queue(queue.as_str())
        .declare()
        .await
        .expect("declare");
    // Every fifth job fails once and is retried: a retry crosses the outage too.
    let jobs = (0..JOBS).map(|i| {
        Job::new("work")
            .queue(queue.as_str())
            .retries(1)
            .args((i, i % 5 == 0))
    });
    let handles: Vec<_> = tasks
        .enqueue_many(jobs)
        .await
        .expect("enqueue")
        .into_iter()
        .map(|h| h.expect("enqueued"))
        .collect();

    let done = Arc::new(AtomicU64::new(0));
    let mut router = Router::new();
    let d = Arc::clone(&done);
    router
        .actor("work", move |(i, fail_once): (u64, bool), ctx: Context| {
            let d = Arc::clone(&d);
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                if fail_once && ctx.attempt() == 1 {
                    return Err(format!("job {i} fails once"));
                }
                d.fetch_add(1, Ordering::Relaxed);
                Ok(i)
            }
        })
        .queue(queue.as_str())
        .retry_policy(RetryPolicy::fixed(Duration::from_millis(100)));
    let worker = Worker::builder(&tasks)
        .router(router)
        .concurrency(5)
        .handle_signals([])
        .delay_poll_interval(Duration::from_millis(100))
        .outage_timeout(Duration::from_secs(60))
        .build();
    let stop = worker.shutdown_handle();
    let running = tokio::spawn(worker.run());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::Relaxed) < 50 {
        assert!(tokio::time::Instant::now() < deadline, "the worker works");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.lock().expect("server").kill())
        .await
        .expect("kill");
    let at_kill = done.load(Ordering::Relaxed);
    // Longer than the reconnect timeout (1 s) and the session (1.5 s).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !running.is_finished(),
        "the worker keeps running while Redis is down"
    );
    let s = Arc::clone(&server);
    tokio::task::spawn_blocking(move || s.lock().expect("server").restart())
        .await
        .expect("restart");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut ended = 0;
        for h in &handles {
            if let Ok(Some(r)) = h.record().await
                && r.state.is_final()
            {
                assert_eq!(r.state, TaskState::Success, "{r:?}");
                ended += 1;
            }
        }
        if ended == handles.len() {
            break;
        }
        assert!(
            !running.is_finished(),
            "the worker stopped: {:?}",
            running.await
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{ended} of {JOBS} jobs ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.shutdown();
    let stats = running
        .await
        .expect("the worker task")
        .expect("the worker stops cleanly");
    eprintln!("{at_kill} jobs done when Redis was killed; {stats:?}");
    assert!(at_kill < JOBS, "killed mid-queue");
    assert!(stats.succeeded >= JOBS - at_kill, "{stats:?}");
}
