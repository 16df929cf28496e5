//! Kafka-specific behaviour beyond the conformance suite: rebalances while
//! messages flow, a killed member's messages going to the survivor, producer
//! ordering, the cooperative-sticky protocol, and clear errors.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use weir_core::{Admin, Broker, BrokerError, Destination, Headers, Payload, Producer, Topic};
use weir_kafka::{KafkaConfig, RebalanceProtocol};
use weir_testkit::servers::free_port;
use weir_testkit::{
    RunningMember, collect, delete_topic, new_topic, produce_numbered, subscribed, unique_name,
    wait_until,
};

use common::{broker, broker_with, config};

/// Every (partition, offset) of `partitions` partitions with `per` messages each.
fn all_positions(partitions: u32, per: u64) -> BTreeSet<(u32, u64)> {
    (0..partitions)
        .flat_map(|p| (0..per).map(move |o| (p, o)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_joining_mid_stream_rebalances_without_loss() {
    let broker = broker();
    let topic = new_topic(&broker, "join-mid-stream", 4).await;
    let producer = broker.producer().await.expect("producer");
    let group = unique_name("g");
    let a = RunningMember::spawn(
        subscribed(&broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    wait_until("the first member owns every partition", || {
        a.assignment().len() == 4
    })
    .await;
    for i in 0..4 {
        produce_numbered(&producer, topic.partition(i).into(), "early", 50).await;
    }
    let b = RunningMember::spawn(
        subscribed(&broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    wait_until("both members own partitions", || {
        !a.assignment().is_empty() && !b.assignment().is_empty()
    })
    .await;
    assert!(
        a.assignment().is_disjoint(&b.assignment()),
        "no partition has two owners"
    );
    for i in 0..4 {
        produce_numbered(&producer, topic.partition(i).into(), "late", 50).await;
    }
    let want = all_positions(4, 100);
    wait_until("every message reached a member", || {
        let got: BTreeSet<(u32, u64)> = a
            .received()
            .iter()
            .chain(b.received().iter())
            .map(|m| (m.partition.index, m.offset))
            .collect();
        want.is_subset(&got)
    })
    .await;
    assert_eq!(a.error(), None);
    assert_eq!(b.error(), None);
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_s_uncommitted_messages_go_to_the_survivor() {
    let broker = broker();
    let topic = new_topic(&broker, "killed", 2).await;
    let producer = broker.producer().await.expect("producer");
    let group = unique_name("g");
    let doomed = RunningMember::spawn(
        subscribed(&broker, &group, std::slice::from_ref(&topic)).await,
        false,
    );
    let survivor = RunningMember::spawn(
        subscribed(&broker, &group, std::slice::from_ref(&topic)).await,
        true,
    );
    wait_until("both members own a partition", || {
        doomed.assignment().len() == 1 && survivor.assignment().len() == 1
    })
    .await;
    let lost = doomed
        .assignment()
        .into_iter()
        .next()
        .expect("the doomed member owns a partition");
    for i in 0..2 {
        produce_numbered(&producer, topic.partition(i).into(), "m", 30).await;
    }
    wait_until("the doomed member read its partition", || {
        doomed.received().len() >= 30
    })
    .await;
    let read = doomed.crash().await;
    assert!(read.iter().all(|m| m.partition == lost));
    wait_until(
        "the survivor re-reads the killed member's partition",
        || {
            let offsets: BTreeSet<u64> = survivor
                .received()
                .iter()
                .filter(|m| m.partition == lost)
                .map(|m| m.offset)
                .collect();
            offsets == (0..30).collect()
        },
    )
    .await;
    assert_eq!(survivor.error(), None);
    survivor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_keep_per_partition_order() {
    let broker = broker();
    let topic = new_topic(&broker, "order", 3).await;
    let producer = broker.producer().await.expect("producer");
    let batch: Vec<(Destination, Payload)> = (0..600)
        .map(|i| {
            let key = format!("k{}", i % 9);
            (
                Destination::Topic(topic.clone()),
                Payload::new(format!("{i}")).with_key(key),
            )
        })
        .collect();
    let results = producer.produce_batch(batch).await;
    let mut last: std::collections::BTreeMap<u32, u64> = Default::default();
    for (i, r) in results.into_iter().enumerate() {
        let produced = r.unwrap_or_else(|e| panic!("message {i}: {e}"));
        if let Some(before) = last.insert(produced.partition.index, produced.offset) {
            assert!(
                produced.offset > before,
                "message {i} got offset {} after {before} on {}",
                produced.offset,
                produced.partition
            );
        }
    }
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 600).await;
    let mut by_key: std::collections::BTreeMap<Vec<u8>, Vec<u64>> = Default::default();
    for m in &seen.messages {
        let n: u64 = String::from_utf8_lossy(&m.payload.value)
            .parse()
            .expect("a number");
        by_key
            .entry(m.payload.key.clone().unwrap_or_default().to_vec())
            .or_default()
            .push(n);
    }
    for (key, ns) in by_key {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "key {key:?} arrived out of order"
        );
    }
    weir_core::Consumer::close(&mut c).await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_members_split_partitions_and_take_over() {
    let broker = broker_with(config().rebalance_protocol(RebalanceProtocol::CooperativeSticky));
    weir_testkit::conformance::group_members_split_partitions_and_take_over(&broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_resumes_at_the_committed_offset() {
    let broker = broker_with(config().rebalance_protocol(RebalanceProtocol::CooperativeSticky));
    weir_testkit::conformance::commit_then_resume_after_restart(&broker).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_a_clear_error() {
    let nobody = format!("127.0.0.1:{}", free_port());
    let broker = broker_with(KafkaConfig::builder(&nobody).request_timeout(Duration::from_secs(2)));
    let admin = broker.admin().await.expect("the admin client is created");
    let err = admin.list_topics().await.expect_err("nobody listens");
    assert!(
        matches!(&err, BrokerError::Unreachable { endpoint, .. } if *endpoint == nobody),
        "got {err:?}"
    );
    assert!(err.is_transient());
    let producer = broker.producer().await.expect("the producer is created");
    let err = producer
        .produce(Topic::new("anything").into(), Payload::new("x"))
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(err, BrokerError::Unreachable { .. }),
        "got {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_payload_is_a_clear_error_naming_the_topic() {
    let broker = broker_with(config().max_message_bytes(10_000));
    let topic = new_topic(&broker, "large", 1).await;
    let producer = broker.producer().await.expect("producer");
    let err = producer
        .produce(topic.clone().into(), Payload::new(vec![7u8; 20_000]))
        .await
        .expect_err("too large");
    assert!(
        matches!(&err, BrokerError::PayloadTooLarge { topic: t, size: 20_000, limit: 10_000 } if *t == topic),
        "got {err:?}"
    );
    assert!(err.to_string().contains(topic.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_headers_reach_the_dead_letter_topic() {
    // What a dead-letter policy writes: the original payload plus where it came from.
    let broker = broker();
    let dlq = new_topic(&broker, "dlq", 1).await;
    let producer = broker.producer().await.expect("producer");
    let headers = Headers::new()
        .with("weir.original.topic", "orders")
        .with("weir.original.partition", "3")
        .with("weir.original.offset", "41")
        .with("weir.error", "could not decode");
    let payload = Payload::new(vec![0xde, 0xad])
        .with_key("order-7")
        .with_headers(headers.clone());
    producer
        .produce(dlq.clone().into(), payload.clone())
        .await
        .expect("produce");
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&dlq)).await;
    let seen = collect(&mut c, false, |s| !s.messages.is_empty()).await;
    assert_eq!(seen.messages[0].payload, payload);
    weir_core::Consumer::close(&mut c).await.expect("close");
    delete_topic(&broker, &dlq).await;
}
