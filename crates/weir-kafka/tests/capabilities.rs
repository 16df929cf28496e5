//! The job capabilities on Kafka: the shared scenarios that apply (all but
//! dedup, which Kafka does not offer, and with `publish` unable to count
//! subscribers), then what is Kafka's own: dedup's typed refusal, results
//! read by a handle that did not write them, a delay partition holding more
//! than its mover holds at once, entries outliving their mover, a topic's
//! delay topic deleted with it, scheduled entries counted, and permits
//! refused as dedup is.

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use weir_core::capability::{Dedup, DelayedDelivery, Permits, ResultStore};
use weir_core::{Admin, Broker, BrokerError, Payload, Topic};
use weir_kafka::{CapabilityConfig, CapabilityConfigBuilder, KafkaBroker};
use weir_testkit::{collect, new_topic, subscribed, unique_name};

/// The test broker's settings, with results and events topics of the
/// test's own (the delay topics are per topic already).
fn capabilities() -> CapabilityConfigBuilder {
    CapabilityConfig::builder()
        .results_topic(unique_name("results"))
        .events_topic(unique_name("events"))
}

/// A broker on the test cluster whose consumers' fetches wait at most
/// 100 ms for data: tansu holds a fetch for its whole wait even when data
/// arrives meanwhile (Kafka answers at once), and a result or an event
/// must not wait out librdkafka's default half second to be read.
fn broker_with(capabilities: CapabilityConfigBuilder) -> KafkaBroker {
    common::broker_with(
        common::config()
            .set_consumer("fetch.wait.max.ms", "100")
            .capabilities(capabilities.build().expect("valid capability settings")),
    )
}

async fn broker() -> KafkaBroker {
    broker_with(capabilities())
}

// Left out: `events_stored_with_results_come_before_what_their_waiters_do`.
// Kafka stores the results, then publishes the events (two topics), so a
// waiter may wake before the events are sent.
weir_testkit::capability_suite!(broker, only: [
    delayed_entries_arrive_when_due,
    due_entries_move_exactly_once_with_many_workers,
    results_can_be_awaited_and_expire,
    results_go_in_and_out_together,
    events_reach_every_subscriber_uncounted,
    events_published_together_arrive_in_order,
    events_before_subscribing_are_not_delivered,
]);

/// Whether `r` is Kafka's refusal of `capability`.
fn unsupported(r: Result<bool, BrokerError>, capability: &str) -> bool {
    matches!(
        r,
        Err(BrokerError::Unsupported {
            backend: "kafka",
            capability: c
        }) if c == capability
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_is_unsupported_and_says_so() {
    let broker = broker().await;
    let ttl = Duration::from_secs(60);
    assert!(unsupported(
        broker.first_seen("jobs", "job-1", ttl).await,
        "dedup"
    ));
    assert!(unsupported(broker.forget("jobs", "job-1").await, "dedup"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_if_absent_are_unsupported_and_say_so() {
    let broker = broker().await;
    let stored = broker
        .put_result_if_absent("job-1", Bytes::from_static(b"r"), Duration::from_secs(60))
        .await;
    assert!(unsupported(stored, "result if absent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permits_are_unsupported_and_say_so() {
    let broker = broker().await;
    let lease = Duration::from_secs(30);
    assert!(unsupported(
        broker.try_acquire("actor", "me", 2, lease).await,
        "permits"
    ));
    assert!(unsupported(broker.release("actor", "me").await, "permits"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_entries_are_counted_until_they_move() {
    let broker = broker().await;
    let topic = new_topic(&broker, "counted", 2).await;
    assert_eq!(broker.scheduled(&topic).await.expect("scheduled"), Some(0));
    let later = SystemTime::now() + Duration::from_secs(3600);
    let now = SystemTime::now() - Duration::from_secs(1);
    for (i, due) in [later, now, later].into_iter().enumerate() {
        broker
            .produce_at(topic.partition(i as u32 % 2).into(), Payload::new("e"), due)
            .await
            .expect("produce_at");
    }
    assert_eq!(broker.scheduled(&topic).await.expect("scheduled"), Some(3));
    assert_eq!(broker.deliver_due(&topic).await.expect("deliver").len(), 1);
    // The entry due now moved, and its partition was committed past it.
    assert_eq!(broker.scheduled(&topic).await.expect("scheduled"), Some(2));
    assert_eq!(
        broker
            .scheduled(&Topic::new(unique_name("none")))
            .await
            .ok(),
        None,
        "an unknown topic is an error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_stored_by_one_handle_are_read_by_another() {
    let settings = capabilities();
    let writer = broker_with(settings.clone());
    let reader = broker_with(settings);
    let ttl = Duration::from_secs(60);
    writer
        .put_result("early", Bytes::from_static(b"1"), ttl)
        .await
        .expect("put");
    // The reader starts after the first result and reads it from the topic.
    assert_eq!(
        reader.get_result("early").await.expect("get"),
        Some(Bytes::from_static(b"1"))
    );
    writer
        .put_results(
            &[
                ("late".to_owned(), Bytes::from_static(b"2")),
                ("early".to_owned(), Bytes::from_static(b"3")),
            ],
            ttl,
        )
        .await
        .expect("put");
    assert_eq!(
        reader
            .get_results(&["late".to_owned(), "early".to_owned()])
            .await
            .expect("get"),
        vec![
            Some(Bytes::from_static(b"2")),
            Some(Bytes::from_static(b"3"))
        ],
        "a read sees what another handle stored before it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_partition_longer_than_the_hold_is_moved_whole() {
    let broker = broker_with(capabilities().delay_hold(4));
    let topic = new_topic(&broker, "held", 1).await;
    let past = SystemTime::now() - Duration::from_secs(1);
    for i in 0..25 {
        broker
            .produce_at(
                topic.partition(0).into(),
                Payload::new(format!("d-{i}")),
                past,
            )
            .await
            .expect("produce_at");
    }
    let mut moved = 0;
    for _ in 0..20 {
        moved += broker.deliver_due(&topic).await.expect("deliver_due").len();
        if moved >= 25 {
            break;
        }
    }
    assert_eq!(moved, 25, "every entry moved, four held at a time");
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 25).await;
    let want: Vec<String> = (0..25).map(|i| format!("d-{i}")).collect();
    assert_eq!(seen.values(), want, "in order, once each");
    weir_core::Consumer::close(&mut c).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_not_yet_due_outlive_their_mover() {
    let settings = capabilities();
    let first = broker_with(settings.clone());
    let topic = new_topic(&first, "outlive", 1).await;
    let due = SystemTime::now() + Duration::from_millis(300);
    first
        .produce_at(topic.clone().into(), Payload::new("waits"), due)
        .await
        .expect("produce_at");
    assert!(
        first
            .deliver_due(&topic)
            .await
            .expect("deliver_due")
            .is_empty(),
        "not due yet"
    );
    assert_eq!(
        first.next_due(&topic).await.expect("next_due").map(|_| ()),
        Some(())
    );
    drop(first);
    let second = broker_with(settings);
    let deadline = tokio::time::Instant::now() + weir_testkit::WAIT;
    let moved = loop {
        let moved = second.deliver_due(&topic).await.expect("deliver_due");
        if !moved.is_empty() {
            break moved;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the entry was lost with its first mover"
        );
        let next = second.next_due(&topic).await.expect("next_due");
        let wait = next
            .and_then(|at| at.duration_since(SystemTime::now()).ok())
            .unwrap_or(Duration::from_millis(50));
        tokio::time::sleep(wait).await;
    };
    assert_eq!(moved.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_topic_deletes_what_waits_for_it() {
    let broker = broker().await;
    let admin = broker.admin().await.expect("admin");
    let topic = new_topic(&broker, "deleted", 1).await;
    let later = SystemTime::now() + Duration::from_secs(3600);
    broker
        .produce_at(topic.clone().into(), Payload::new("waits"), later)
        .await
        .expect("produce_at");
    let delay = Topic::new(format!("{topic}.delay"));
    let names = |infos: Vec<weir_core::TopicInfo>| -> Vec<Topic> {
        infos.into_iter().map(|i| i.topic).collect()
    };
    assert!(names(admin.list_topics().await.expect("list")).contains(&delay));
    admin.delete_topic(&topic).await.expect("delete");
    let deadline = tokio::time::Instant::now() + weir_testkit::WAIT;
    loop {
        let left = names(admin.list_topics().await.expect("list"));
        if !left.contains(&topic) && !left.contains(&delay) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A topic that never waited for anything has no delay topic to delete.
    let plain = new_topic(&broker, "plain", 1).await;
    admin.delete_topic(&plain).await.expect("delete");
}
