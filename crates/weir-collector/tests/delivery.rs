//! Routing, results, ordering and backpressure of a running queue.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::{entries, log, logging};
use proptest::prelude::*;
use tokio::sync::Semaphore;
use weir_collector::{
    BoxError, Collector, CollectorQueue, Context, Delivery, Directory, Event, QueueType, Route,
    Router, SimpleRouter,
};

fn three_collectors(log: &common::Log) -> Vec<Collector<u32, String>> {
    vec![
        logging("a", &["sensors", "temp"], log),
        logging("b", &["sensors"], log),
        logging("c", &[], log),
    ]
}

#[tokio::test]
async fn key_topic_and_broadcast_reach_the_selected_collectors() {
    let log = log();
    let queue = CollectorQueue::builder()
        .collectors(three_collectors(&log))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();

    let by_key = publisher
        .send(Event::new(1).to_keys(["c", "a"]))
        .await
        .expect("sent")
        .await;
    assert_eq!(by_key.targets().collect::<Vec<_>>(), ["c", "a"]);
    assert!(by_key.all_ok());

    let by_topic = publisher
        .send(Event::new(2).to_topics(["sensors"]))
        .await
        .expect("sent")
        .await;
    assert_eq!(by_topic.targets().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        by_topic
            .get("b")
            .and_then(|r| r.as_ref().ok())
            .map(String::as_str),
        Some("b:2")
    );

    let broadcast = publisher.send(3).await.expect("sent").await;
    assert_eq!(broadcast.len(), 3);
    assert_eq!(
        broadcast.values().cloned().collect::<Vec<_>>(),
        ["a:3", "b:3", "c:3"]
    );

    let report = running.shutdown().await;
    assert!(report.is_clean());
    let mut seen = entries(&log);
    seen.sort();
    assert_eq!(seen.len(), 2 + 2 + 3);
}

#[tokio::test]
async fn unknown_keys_and_topics_deliver_nowhere_and_say_so() {
    let log = log();
    let queue = CollectorQueue::builder()
        .collectors(three_collectors(&log))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();

    let nowhere = publisher
        .send(Event::new(1).to_keys(["ghost"]))
        .await
        .expect("sent")
        .await;
    assert!(!nowhere.is_delivered());
    assert!(!nowhere.all_ok(), "delivered nowhere is not all-succeeded");
    assert!(nowhere.first().is_none());
    assert_eq!(nowhere.unmatched(), ["ghost"]);

    let partly = publisher
        .send(Event::new(2).to_topics(["temp", "humidity"]))
        .await
        .expect("sent")
        .await;
    assert_eq!(partly.targets().collect::<Vec<_>>(), ["a"]);
    assert_eq!(partly.unmatched(), ["humidity"]);

    running.shutdown().await;
    assert_eq!(entries(&log), [("a".to_owned(), 2)]);
}

#[tokio::test]
async fn a_custom_router_decides_by_content() {
    struct Parity;
    impl Router<u32> for Parity {
        fn route(&self, event: &Event<u32>, collectors: &Directory) -> Route {
            let key = if event.payload().is_multiple_of(2) {
                "even"
            } else {
                "odd"
            };
            Route::to(collectors.by_key(key))
        }
    }
    let log = log();
    let queue = CollectorQueue::builder()
        .collector(logging("even", &[], &log))
        .collector(logging("odd", &[], &log))
        .router(Parity)
        .build()
        .expect("valid queue");
    let ((), report) = queue
        .run(|publisher| async move {
            for n in 0..6 {
                let results = publisher.send(n).await.expect("sent").await;
                assert_eq!(results.len(), 1);
            }
        })
        .await
        .expect("starts");
    assert!(report.is_clean());
    let mut seen = entries(&log);
    seen.sort();
    let expected: Vec<(String, u32)> = [
        ("even", 0),
        ("even", 2),
        ("even", 4),
        ("odd", 1),
        ("odd", 3),
        ("odd", 5),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n))
    .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn fire_and_forget_events_are_still_processed() {
    let log = log();
    let queue = CollectorQueue::builder()
        .collector(logging("a", &[], &log))
        .consumers(2, 4)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    for n in 0..100 {
        drop(publisher.send(n).await.expect("sent"));
    }
    for n in 100..200 {
        publisher.send_detached(n).await.expect("sent");
    }
    let mut detached = 0;
    for n in 200..300 {
        match publisher.try_send_detached(n) {
            Ok(()) => detached += 1,
            Err(e) => assert!(e.is_full()),
        }
    }
    let report = running.shutdown().await;
    assert!(report.is_clean());
    assert_eq!(report.completed, 200 + detached);
    let mut seen: Vec<u32> = entries(&log).into_iter().map(|(_, n)| n).collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 200 + usize::try_from(detached).expect("small"));
    assert!(publisher.send_detached(0).await.is_err());
}

/// A collector that waits for a permit before each event, so a test can hold
/// the consumers busy and let events pile up.
fn gated(gate: &Arc<Semaphore>, order: &common::Log) -> Collector<u32, ()> {
    let gate = Arc::clone(gate);
    let order = Arc::clone(order);
    Collector::builder("gated").processor(move |n: u32, _: Context<()>| {
        let gate = Arc::clone(&gate);
        let order = Arc::clone(&order);
        async move {
            gate.acquire().await?.forget();
            order
                .lock()
                .map_err(|_| "poisoned")?
                .push((String::new(), n));
            Ok::<_, BoxError>(())
        }
    })
}

async fn service_order(queue_type: QueueType, events: &[(u32, Option<i64>)]) -> Vec<u32> {
    let gate = Arc::new(Semaphore::new(0));
    let order = log();
    let queue = CollectorQueue::builder()
        .collector(gated(&gate, &order))
        .consumers(1, 1)
        .queue_type(queue_type)
        .default_priority(100)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    // The first event occupies the only consumer.
    let first = publisher.send(0).await.expect("sent");
    common::until("a consumer is busy", || running.stats().busy > 0).await;
    let mut handles = vec![first];
    for &(n, priority) in events {
        let event = match priority {
            Some(p) => Event::new(n).with_priority(p),
            None => Event::new(n),
        };
        handles.push(publisher.send(event).await.expect("sent"));
    }
    gate.add_permits(events.len() + 1);
    for handle in handles {
        assert!(handle.await.all_ok());
    }
    running.shutdown().await;
    entries(&order)
        .into_iter()
        .map(|(_, n)| n)
        .skip(1)
        .collect()
}

#[tokio::test]
async fn priorities_order_service_when_consumers_are_saturated() {
    let events = [
        (1, Some(5)),
        (2, None),
        (3, Some(-1)),
        (4, Some(5)),
        (5, Some(0)),
    ];
    // Lowest value first, FIFO among equals, no priority means the default 100.
    assert_eq!(
        service_order(QueueType::Priority, &events).await,
        [3, 5, 1, 4, 2]
    );
    assert_eq!(
        service_order(QueueType::Fifo, &events).await,
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        service_order(QueueType::Lifo, &events).await,
        [5, 4, 3, 2, 1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_try_send_and_makes_send_wait() {
    let gate = Arc::new(Semaphore::new(0));
    let order = log();
    let queue = CollectorQueue::builder()
        .collector(gated(&gate, &order))
        .consumers(1, 1)
        .capacity(2)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let mut handles = vec![publisher.send(0).await.expect("sent")];
    common::until("a consumer is busy", || running.stats().busy > 0).await;
    handles.push(publisher.try_send(1).expect("room for one"));
    handles.push(publisher.try_send(2).expect("room for two"));
    let refused = publisher.try_send(3).expect_err("the queue is full");
    assert!(refused.is_full());
    assert_eq!(refused.into_event().into_payload(), 3);

    let waiting = tokio::spawn({
        let publisher = publisher.clone();
        async move { publisher.send(4).await.map(|_| ()).is_ok() }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiting.is_finished(), "send waits while the queue is full");
    gate.add_permits(1);
    assert!(
        waiting.await.expect("joins"),
        "send went through once room was made"
    );
    gate.add_permits(10);
    for handle in handles {
        assert!(handle.await.all_ok());
    }
    let report = running.shutdown().await;
    assert_eq!(report.completed, 4);
    assert!(publisher.try_send(5).is_err_and(|e| !e.is_full()));
    assert!(publisher.send(6).await.is_err());
}

#[tokio::test]
async fn try_result_does_not_block() {
    let gate = Arc::new(Semaphore::new(0));
    let order = log();
    let queue = CollectorQueue::builder()
        .collector(gated(&gate, &order))
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let mut handle = running.publisher().send(7).await.expect("sent");
    tokio::task::yield_now().await;
    assert!(handle.try_result().is_none());
    assert!(!handle.is_done());
    gate.add_permits(1);
    let mut results = None;
    for _ in 0..10_000 {
        results = handle.try_result();
        if results.is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let results = results.expect("the event finished");
    assert!(results.all_ok());
    running.shutdown().await;
}

/// Builds the three test collectors' routing rule independently of the crate.
fn expected_targets(delivery: &Delivery) -> Vec<&'static str> {
    let topics: [(&str, &[&str]); 3] =
        [("a", &["sensors", "temp"]), ("b", &["sensors"]), ("c", &[])];
    match delivery {
        Delivery::Broadcast => vec!["a", "b", "c"],
        Delivery::Key(keys) => topics
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| keys.iter().any(|x| x == k))
            .collect(),
        Delivery::Topic(wanted) => topics
            .iter()
            .filter(|(_, ts)| ts.iter().any(|t| wanted.iter().any(|w| w == t)))
            .map(|(k, _)| *k)
            .collect(),
    }
}

fn delivery() -> impl Strategy<Value = Delivery> {
    let names = proptest::sample::select(vec!["a", "b", "c", "zz"]);
    let topics = proptest::sample::select(vec!["sensors", "temp", "none"]);
    prop_oneof![
        Just(Delivery::Broadcast),
        proptest::collection::vec(names, 0..4).prop_map(Delivery::keys),
        proptest::collection::vec(topics, 0..3).prop_map(Delivery::topics),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Every accepted event reaches each collector its delivery selects
    /// exactly once, and its results name exactly those collectors: with
    /// the default router (which the queue runs directly) and with a
    /// `SimpleRouter` set explicitly (asked through the `Router` trait).
    #[test]
    fn every_event_reaches_each_selected_collector_exactly_once(
        deliveries in proptest::collection::vec(delivery(), 1..60),
        consumers in 1usize..6,
        queue_type in proptest::sample::select(vec![QueueType::Fifo, QueueType::Lifo, QueueType::Priority]),
        explicit_router in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let log = log();
        let sent = deliveries.clone();
        let (results, report) = runtime.block_on(async {
            let mut builder = CollectorQueue::builder()
                .collectors(three_collectors(&log))
                .consumers(consumers, consumers + 2)
                .queue_type(queue_type)
                .capacity(8);
            if explicit_router {
                builder = builder.router(SimpleRouter);
            }
            let queue = builder.build().expect("valid queue");
            queue
                .run(|publisher| async move {
                    let mut handles = Vec::new();
                    for (n, delivery) in sent.iter().enumerate() {
                        let n = u32::try_from(n).expect("small");
                        let event = Event::new(n).with_delivery(delivery.clone());
                        handles.push(publisher.send(event).await.expect("sent"));
                    }
                    let mut results = Vec::new();
                    for handle in handles {
                        results.push(handle.await);
                    }
                    results
                })
                .await
                .expect("starts")
        });
        prop_assert!(report.is_clean());

        let mut expected: HashMap<(String, u32), usize> = HashMap::new();
        for (n, (delivery, results)) in deliveries.iter().zip(&results).enumerate() {
            let n = u32::try_from(n).expect("small");
            let targets = expected_targets(delivery);
            let mut got: Vec<&str> = results.targets().collect();
            got.sort_unstable();
            prop_assert_eq!(&got, &targets);
            prop_assert!(results.iter().all(Result::is_ok));
            for key in targets {
                *expected.entry((key.to_owned(), n)).or_default() += 1;
            }
        }
        let mut seen: HashMap<(String, u32), usize> = HashMap::new();
        for entry in entries(&log) {
            *seen.entry(entry).or_default() += 1;
        }
        prop_assert_eq!(seen, expected);
    }
}

#[tokio::test]
async fn a_panicking_router_delivers_nowhere_and_says_why() {
    struct Picky;
    impl Router<u32> for Picky {
        fn route(&self, event: &Event<u32>, collectors: &Directory) -> Route {
            assert!(*event.payload() != 13, "unlucky");
            Route::to(collectors.by_key("a"))
        }
    }
    let log = log();
    let queue = CollectorQueue::builder()
        .collector(logging("a", &[], &log))
        .consumers(1, 1)
        .router(Picky)
        .build()
        .expect("valid queue");
    let running = queue.start().await.expect("starts");
    let publisher = running.publisher();
    let unlucky = publisher.send(13).await.expect("sent").await;
    assert!(!unlucky.is_delivered());
    assert!(
        unlucky
            .routing_failure()
            .is_some_and(|f| f.contains("unlucky"))
    );
    // The only consumer is still there.
    let lucky = publisher.send(7).await.expect("sent").await;
    assert!(lucky.all_ok());
    assert!(lucky.routing_failure().is_none());
    assert!(running.shutdown().await.is_clean());
    assert_eq!(entries(&log), [("a".to_owned(), 7)]);
}
