//! Consumers follow the load between the bounds (on tokio's paused clock).

use std::time::Duration;

use weir_collector::{Autoscale, BoxError, Collector, CollectorQueue, Context};

#[tokio::test(start_paused = true)]
async fn consumers_grow_under_load_and_shrink_to_min_when_idle() {
    let (min, max) = (2, 8);
    let work = Collector::builder("work").processor(|ms: u64, _: Context<()>| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, BoxError>(())
    });
    let queue = CollectorQueue::builder()
        .collector(work)
        .consumers(min, max)
        .autoscale(
            Autoscale::default()
                .with_interval(Duration::from_millis(100))
                .with_idle_grace(Duration::from_millis(500)),
        )
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    assert_eq!(running.stats().consumers, min);

    let mut handles = Vec::new();
    for _ in 0..200 {
        handles.push(publisher.send(100).await.expect("sent"));
    }
    let mut peak = 0;
    let mut steps = 0;
    while running.stats().completed < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let consumers = running.stats().consumers;
        assert!((min..=max).contains(&consumers), "{consumers} consumers");
        peak = peak.max(consumers);
        steps += 1;
        assert!(steps < 10_000, "the load never finished");
    }
    assert_eq!(
        peak, max,
        "a backlog of 200 x 100 ms grows the pool to its maximum"
    );
    // With 8 consumers the backlog takes ~2.5 s; with 2 it would take 10 s.
    assert!(steps * 10 < 4_000, "finished after {} ms", steps * 10);
    for handle in handles {
        assert!(handle.await.all_ok());
    }

    let mut path = Vec::new();
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let consumers = running.stats().consumers;
        assert!(consumers >= min, "never below min");
        path.push(consumers);
    }
    assert_eq!(
        path.last(),
        Some(&min),
        "idle pool shrinks to min: {path:?}"
    );
    assert!(
        path.windows(2).all(|w| w[0] <= w[1] + 1),
        "shrinks one step at a time: {path:?}"
    );
    assert!(
        path[0] == max,
        "waits out the grace before shrinking: {path:?}"
    );
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_light_load_keeps_the_minimum() {
    let work = Collector::builder("work").processor(|ms: u64, _: Context<()>| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, BoxError>(())
    });
    let queue = CollectorQueue::builder()
        .collector(work)
        .consumers(1, 8)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    // One 10 ms event every 100 ms: λ·S = 0.1, one consumer is plenty.
    for _ in 0..30 {
        assert!(publisher.send(10).await.expect("sent").await.all_ok());
        tokio::time::sleep(Duration::from_millis(90)).await;
        assert_eq!(running.stats().consumers, 1);
    }
    running.shutdown().await;
}
