//! Errors, panics, timeouts, retries and dead letters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use weir_collector::{
    BoxError, Collector, CollectorQueue, Context, DeadLetter, Event, Failure, RetryPolicy,
};

/// A collector that fails its first `failures` attempts, then doubles.
fn failing_then_ok(
    failures: u32,
    calls: &Arc<AtomicU32>,
    policy: RetryPolicy,
) -> Collector<u32, u32> {
    let calls = Arc::clone(calls);
    Collector::builder("flaky")
        .retry(policy)
        .processor(move |n: u32, ctx: Context<()>| {
            let calls = Arc::clone(&calls);
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if ctx.attempt() <= failures {
                    return Err(BoxError::from(format!("attempt {} failed", ctx.attempt())));
                }
                Ok(n * 2)
            }
        })
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_is_retried_with_exponential_backoff() {
    let calls = Arc::new(AtomicU32::new(0));
    let policy = RetryPolicy::exponential(3, Duration::from_millis(100));
    let queue = CollectorQueue::builder()
        .collector(failing_then_ok(2, &calls, policy))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let started = Instant::now();
    let results = running.publisher().send(21).await.expect("sent").await;
    // 100 ms after the first failure, 200 ms after the second.
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(results.first().and_then(|r| r.as_ref().ok()), Some(&42));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_last_failure_carries_key_cause_and_attempts_and_is_dead_lettered() {
    let calls = Arc::new(AtomicU32::new(0));
    let (dead_tx, mut dead_rx) = mpsc::unbounded_channel::<DeadLetter<u32>>();
    let queue = CollectorQueue::builder()
        .collector(failing_then_ok(
            5,
            &calls,
            RetryPolicy::exponential(2, Duration::from_millis(10)),
        ))
        .dead_letter(dead_tx)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let results = running.publisher().send(9).await.expect("sent").await;
    let error = results
        .first()
        .and_then(|r| r.as_ref().err())
        .expect("the event failed");
    assert_eq!(error.key(), "flaky");
    assert_eq!(error.attempts, 2);
    assert!(matches!(&error.failure, Failure::Error(e) if e.to_string() == "attempt 2 failed"));
    assert!(results.is_delivered() && !results.all_ok());

    let letter = dead_rx.try_recv().expect("one dead letter");
    assert_eq!(letter.payload, 9);
    assert_eq!(letter.error.key(), "flaky");
    assert!(dead_rx.try_recv().is_err(), "exactly one dead letter");
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_times_out() {
    let collector = Collector::builder("slow")
        .timeout(Duration::from_secs(1))
        .processor(|n: u64, _: Context<()>| async move {
            tokio::time::sleep(Duration::from_secs(n)).await;
            Ok::<_, BoxError>(n)
        });
    let queue = CollectorQueue::builder()
        .collector(collector)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let slow = publisher.send(5).await.expect("sent").await;
    assert!(matches!(
        slow.first(),
        Some(Err(e)) if matches!(e.failure, Failure::TimedOut(d) if d == Duration::from_secs(1))
    ));
    let quick = publisher.send(0).await.expect("sent").await;
    assert!(quick.all_ok());
    running.shutdown().await;
}

#[tokio::test]
async fn a_panicking_processor_becomes_an_error_and_the_queue_keeps_running() {
    let boom = Collector::builder("boom").processor(|n: u32, _: Context<()>| async move {
        if n == 13 {
            panic!("unlucky {n}");
        }
        Ok::<_, BoxError>(n)
    });
    let calm = Collector::builder("calm")
        .processor(|n: u32, _: Context<()>| async move { Ok::<_, BoxError>(n + 1) });
    let queue = CollectorQueue::builder()
        .collectors([boom, calm])
        .consumers(1, 1)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let results = publisher.send(13).await.expect("sent").await;
    assert!(matches!(
        results.get("boom"),
        Some(Err(e)) if matches!(&e.failure, Failure::Panicked(m) if m == "unlucky 13")
    ));
    assert_eq!(results.get("calm").and_then(|r| r.as_ref().ok()), Some(&14));
    // The only consumer survived the panic.
    let after = publisher
        .send(Event::new(1).to_keys(["boom"]))
        .await
        .expect("sent")
        .await;
    assert_eq!(after.first().and_then(|r| r.as_ref().ok()), Some(&1));
    let report = running.shutdown().await;
    assert!(report.is_clean());
    assert_eq!(report.completed, 2);
}

#[tokio::test]
async fn a_panicking_dead_letter_sink_does_not_stop_the_queue() {
    struct Broken;
    impl weir_collector::DeadLetterSink<u32> for Broken {
        async fn dead_letter(&self, _letter: DeadLetter<u32>) {
            panic!("sink down");
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let queue = CollectorQueue::builder()
        .collector(failing_then_ok(1, &calls, RetryPolicy::none()))
        .consumers(1, 1)
        .dead_letter(Broken)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    // Attempt 1 of every event fails, and there is no retry.
    for n in 0..3 {
        let results = publisher.send(n).await.expect("sent").await;
        assert!(matches!(results.first(), Some(Err(e)) if e.attempts == 1));
    }
    let report = running.shutdown().await;
    assert!(report.is_clean());
    assert_eq!(report.completed, 3);
}
