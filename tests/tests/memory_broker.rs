//! The memory broker through the facade: typed payloads, corrupt payloads,
//! retention, waking, topic deletion and the rebalance deadline.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weir::core::Json;
use weir::memory::{MemoryBroker, Retention};
use weir::prelude::*;
use weir_testkit::{collect, new_topic, subscribed, unique_name};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: u32,
    item: String,
}

#[tokio::test]
async fn typed_orders_round_trip_with_either_codec() {
    let broker = MemoryBroker::new();
    let topic = new_topic(&broker, "typed", 2).await;
    let producer = broker.producer().await.expect("producer");
    let order = Order {
        id: 1,
        item: "pear".into(),
    };
    producer
        .produce(
            topic.partition(0).into(),
            Payload::new(MsgPack.encode(&order).expect("encode")),
        )
        .await
        .expect("produce");
    producer
        .produce(
            topic.partition(1).into(),
            Payload::new(Json.encode(&order).expect("encode")),
        )
        .await
        .expect("produce");
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 2).await;
    for m in seen.messages {
        let msg = Message::Broker(m);
        let decoded = if msg.position().map(|(p, _)| p.index) == Some(0) {
            MsgPack.decode_message::<Order>(msg).map_err(|u| u.error)
        } else {
            Json.decode_message::<Order>(msg).map_err(|u| u.error)
        };
        assert_eq!(decoded.expect("decodes").payload(), &order);
    }
}

#[tokio::test]
async fn a_corrupt_payload_is_reported_with_its_position_and_kept() {
    let broker = MemoryBroker::new();
    let topic = new_topic(&broker, "corrupt", 1).await;
    let producer = broker.producer().await.expect("producer");
    producer
        .produce(
            topic.clone().into(),
            Payload::new(&b"\x92\xc1\xc1 not msgpack"[..]),
        )
        .await
        .expect("produce");
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| !s.messages.is_empty()).await;
    let m = Message::Broker(seen.messages[0].clone());
    let failed = MsgPack
        .decode_message::<Order>(m)
        .expect_err("corrupt payloads fail to decode");
    let (kept, err) = (failed.message, failed.error);
    assert_eq!(err.partition, Some(topic.partition(0)));
    assert_eq!(err.offset, Some(0));
    assert!(
        err.to_string().contains(&format!("{}/0 offset 0", topic)),
        "{err}"
    );
    assert_eq!(
        &kept.payload().value[..],
        b"\x92\xc1\xc1 not msgpack",
        "the original bytes are kept"
    );
}

#[tokio::test]
async fn retention_drops_the_oldest_and_readers_continue_from_the_oldest_kept() {
    let broker = MemoryBroker::new();
    let topic = Topic::new(unique_name("retained"));
    broker
        .create_topic_with_retention(&topic, 1, Retention::messages(10))
        .expect("create");
    let producer = broker.producer().await.expect("producer");
    for i in 0..25 {
        producer
            .produce(topic.clone().into(), Payload::new(format!("m{i}")))
            .await
            .expect("produce");
    }
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    let seen = collect(&mut c, false, |s| s.messages.len() >= 10).await;
    assert_eq!(
        seen.messages[0].offset, 15,
        "offsets stay dense; the oldest kept is 15"
    );
    assert_eq!(seen.messages.len(), 10);
    assert_eq!(c.lag(&topic.partition(0)), Some(0));
}

#[tokio::test]
async fn an_oversized_payload_is_refused_naming_the_topic() {
    let broker = MemoryBroker::builder().max_payload_bytes(1024).build();
    let topic = new_topic(&broker, "small", 1).await;
    let producer = broker.producer().await.expect("producer");
    let err = producer
        .produce(topic.clone().into(), Payload::new(vec![0u8; 2048]))
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            BrokerError::PayloadTooLarge {
                size: 2048,
                limit: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(topic.as_str()));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_consumer_is_woken_by_new_data_not_by_a_timer() {
    let broker = MemoryBroker::new();
    let topic = new_topic(&broker, "wake", 1).await;
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    assert!(matches!(
        c.poll().await.expect("poll"),
        ConsumerEvent::Assigned(_)
    ));
    let waiting = tokio::spawn(async move { c.poll().await });
    // An hour of (paused) time passes: the consumer keeps waiting, nothing spins it awake.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!waiting.is_finished(), "poll returned without data");
    broker
        .producer()
        .await
        .expect("producer")
        .produce(topic.clone().into(), Payload::new("now"))
        .await
        .expect("produce");
    let event = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("woken by the produce")
        .expect("task")
        .expect("poll");
    assert!(matches!(event, ConsumerEvent::Messages(m) if &m[0].payload.value[..] == b"now"));
}

#[tokio::test]
async fn deleting_a_topic_revokes_its_partitions() {
    let broker = MemoryBroker::new();
    let keep = new_topic(&broker, "keep", 1).await;
    let gone = new_topic(&broker, "gone", 2).await;
    let mut c = subscribed(&broker, &unique_name("g"), &[keep.clone(), gone.clone()]).await;
    collect(&mut c, false, |s| {
        s.assigned.iter().map(|a| a.len()).sum::<usize>() >= 3
    })
    .await;
    broker.delete_topic(&gone).expect("delete");
    let seen = collect(&mut c, false, |s| !s.revoked.is_empty()).await;
    assert_eq!(
        seen.revoked[0],
        [gone.partition(0), gone.partition(1)].into_iter().collect()
    );
    assert_eq!(c.assignment(), [keep.partition(0)].into_iter().collect());
}

#[tokio::test(start_paused = true)]
async fn a_member_that_stops_polling_loses_its_partitions_after_the_rebalance_timeout() {
    let broker = MemoryBroker::builder()
        .rebalance_timeout(Duration::from_secs(5))
        .build();
    let topic = new_topic(&broker, "stuck", 2).await;
    let group = unique_name("g");
    let mut stuck = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    assert!(
        matches!(stuck.poll().await.expect("poll"), ConsumerEvent::Assigned(a) if a.len() == 2)
    );
    let mut fresh = subscribed(&broker, &group, std::slice::from_ref(&topic)).await;
    // `stuck` never polls again; after the timeout `fresh` gets its share anyway.
    let started = tokio::time::Instant::now();
    let event = fresh.poll().await.expect("poll");
    assert!(matches!(event, ConsumerEvent::Assigned(a) if a.len() == 1));
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "handed over before the deadline"
    );
    let err = stuck
        .commit(&[(topic.partition(1), 1)].into_iter().collect())
        .await
        .expect_err("the stuck member no longer owns its revoked partition");
    assert!(matches!(err, BrokerError::NotAssigned { .. }));
}
