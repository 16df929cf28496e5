//! Shutdown drains what was accepted, and reports what it could not.

mod common;

use std::time::Duration;

use weir_collector::{BoxError, Collector, CollectorQueue, Context, Failure};

fn sleeper() -> Collector<u64, u64> {
    Collector::builder("sleeper").processor(|ms: u64, _: Context<()>| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, BoxError>(ms)
    })
}

#[tokio::test(start_paused = true)]
async fn shutdown_drains_everything_accepted() {
    let queue = CollectorQueue::builder()
        .collector(sleeper())
        .consumers(2, 2)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let mut handles = Vec::new();
    for _ in 0..20 {
        handles.push(publisher.send(50).await.expect("sent"));
    }
    let report = running.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.completed, 20);
    for handle in handles {
        assert!(handle.await.all_ok());
    }
    assert!(publisher.is_closed());
}

#[tokio::test(start_paused = true)]
async fn what_the_drain_timeout_cuts_off_is_reported() {
    let queue = CollectorQueue::builder()
        .collector(sleeper())
        .consumers(1, 1)
        .drain_timeout(Duration::from_secs(1))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let quick = publisher.send(10).await.expect("sent");
    let long = publisher.send(60_000).await.expect("sent");
    let waiting = publisher.send(20).await.expect("sent");

    let report = running.shutdown().await;
    assert!(!report.drained);
    assert_eq!(
        report.completed, 2,
        "the quick one and the cut-off one finished"
    );
    assert_eq!(report.interrupted, [60_000]);
    assert_eq!(report.unprocessed, [20]);

    assert!(quick.await.all_ok());
    let long = long.await;
    assert!(
        matches!(long.first(), Some(Err(e)) if matches!(e.failure, Failure::ShutDown) && e.attempts == 1)
    );
    let waiting = waiting.await;
    assert!(
        matches!(waiting.first(), Some(Err(e)) if matches!(e.failure, Failure::ShutDown) && e.attempts == 0)
    );
    assert_eq!(waiting.targets().collect::<Vec<_>>(), ["sleeper"]);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_running_queue_abandons_waiting_events() {
    let queue = CollectorQueue::builder()
        .collector(sleeper())
        .consumers(1, 1)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let first = publisher.send(60_000).await.expect("sent");
    common::until("a consumer is busy", || running.stats().busy > 0).await;
    let second = publisher.send(1).await.expect("sent");
    drop(running);
    assert!(matches!(first.await.first(), Some(Err(e)) if matches!(e.failure, Failure::ShutDown)));
    assert!(second.await.is_abandoned());
    assert!(publisher.send(2).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn the_autoscaler_helps_drain_a_backlog_at_shutdown() {
    let queue = CollectorQueue::builder()
        .collector(sleeper())
        .consumers(1, 8)
        .drain_timeout(Duration::from_secs(4))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    for _ in 0..80 {
        publisher.send_detached(100).await.expect("sent");
    }
    // One consumer would need 8 s; the pool grows and drains within 4 s.
    let started = tokio::time::Instant::now();
    let report = running.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.completed, 80);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn events_a_consumer_took_but_never_started_are_reported() {
    let queue = CollectorQueue::builder()
        .collector(sleeper())
        .consumers(1, 1)
        .drain_timeout(Duration::from_secs(1))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    // Quick events first: the consumer then takes several at once.
    for _ in 0..5 {
        assert!(publisher.send(0).await.expect("sent").await.all_ok());
    }
    let mut handles = Vec::new();
    for ms in [60_000, 1, 2, 3] {
        handles.push(publisher.send(ms).await.expect("sent"));
    }
    common::until("the consumer took every event", || {
        running.stats().depth == 0
    })
    .await;
    let report = running.shutdown().await;
    assert_eq!(report.interrupted, [60_000]);
    let mut unprocessed = report.unprocessed.clone();
    unprocessed.sort_unstable();
    assert_eq!(unprocessed, [1, 2, 3]);
    for handle in handles {
        let results = handle.await;
        assert!(matches!(results.first(), Some(Err(e)) if matches!(e.failure, Failure::ShutDown)));
    }
}
