//! A tasks worker on Kafka rides through a broker outage: the broker (tansu
//! on a free loopback port) is frozen with `SIGSTOP` while jobs run, so every
//! request hangs and times out, and let go again seconds later. The worker's
//! consumer and its jobs' calls (records, events, retries through the delay
//! topic) fail with transient errors meanwhile, are tried again, and the
//! worker keeps running: every job succeeds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weir_kafka::{CapabilityConfig, KafkaBroker, KafkaConfig};
use weir_tasks::{Context, Job, RetryPolicy, Router, TaskState, Tasks, Worker};
use weir_testkit::servers::tansu;
use weir_testkit::unique_name;

/// How long the broker stays frozen: longer than the requests' timeouts
/// here, so calls fail and are tried again.
const OUTAGE: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_on_kafka_rides_through_a_frozen_broker_and_finishes_every_job() {
    const JOBS: u64 = 200;
    let server = tansu::start();
    let capabilities = CapabilityConfig::builder()
        .results_topic(unique_name("results"))
        .events_topic(unique_name("events"))
        .build()
        .expect("valid capability settings");
    let config = KafkaConfig::builder(server.bootstrap())
        .fast_group_joins()
        .set_consumer("fetch.wait.max.ms", "100")
        .set_consumer("socket.timeout.ms", "2000")
        .set_producer("message.timeout.ms", "60000")
        .settle_before_leaving(Duration::from_millis(1200))
        .request_timeout(Duration::from_secs(2))
        .capabilities(capabilities)
        .build()
        .expect("a valid kafka config");
    let tasks = Tasks::builder(KafkaBroker::new(config))
        .partitions(2)
        .build();
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
                tokio::time::sleep(Duration::from_millis(20)).await;
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

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::Relaxed) < 30 {
        assert!(tokio::time::Instant::now() < deadline, "the worker works");
        assert!(
            !running.is_finished(),
            "the worker stopped before the outage"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.pause();
    let at_pause = done.load(Ordering::Relaxed);
    tokio::time::sleep(OUTAGE).await;
    assert!(
        !running.is_finished(),
        "the worker keeps running while the broker is frozen"
    );
    // The outage was real: unfrozen, the jobs would all have run by now
    // (200 jobs of 20 ms, 5 at a time, take under a second).
    let at_resume = done.load(Ordering::Relaxed);
    assert!(at_resume < JOBS, "the jobs went on without the broker");
    server.resume();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.shutdown();
    let stats = running
        .await
        .expect("the worker task")
        .expect("the worker stops cleanly");
    eprintln!("{at_pause} jobs done when the broker froze, {at_resume} when it went on; {stats:?}");
    assert!(at_pause < JOBS, "frozen mid-queue");
    assert!(stats.succeeded >= JOBS - at_pause, "{stats:?}");
}
