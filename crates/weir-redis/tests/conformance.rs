//! weir-redis passes the whole conformance suite, on a redis-server per test
//! (and, through `conformance_cluster.rs`, on a 3-master Redis Cluster per test).

mod common;

use std::time::Duration;

use common::TestBroker;
use weir_testkit::delete_topic;
use weir_testkit::interleave::{InterleavingConfig, check_interleavings};
use weir_testkit::servers::redis::RedisServer;

async fn broker() -> TestBroker {
    TestBroker::start().await
}

weir_testkit::conformance_suite!(broker);

#[test]
fn random_interleavings_lose_nothing_and_never_commit_backwards() {
    let server = common::Server::start(RedisServer::builder());
    let url = server.url();
    check_interleavings(
        InterleavingConfig {
            cases: 16,
            max_len: 40,
            partitions: 3,
            poll_wait: Duration::from_millis(100),
            paused_clock: false,
        },
        || {
            weir_redis::RedisBroker::connect_lazy(common::fast(&url).build().expect("config"))
                .expect("a lazy handle")
        },
    );
    drop(server);
}

/// `lag` counts what is left after the position, as of the last read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_counts_what_is_left_to_hand_out() {
    use weir_core::{Broker, Consumer, ConsumerConfig, ConsumerEvent};

    let broker = TestBroker::start().await;
    let topic = weir_testkit::new_topic(&broker, "lag", 1).await;
    let producer = broker.producer().await.expect("producer");
    weir_testkit::produce_numbered(&producer, topic.clone().into(), "m", 10).await;
    let mut c = broker
        .consumer(
            ConsumerConfig::builder("lag")
                .max_poll_records(4)
                .build()
                .expect("a valid consumer config"),
        )
        .await
        .expect("consumer");
    c.subscribe(std::slice::from_ref(&topic))
        .await
        .expect("subscribe");
    let p = topic.partition(0);
    let mut handed = 0u64;
    while handed < 10 {
        let event = tokio::time::timeout(weir_testkit::WAIT, c.poll())
            .await
            .expect("a poll within the wait")
            .expect("poll");
        if let ConsumerEvent::Messages(batch) = event {
            handed += batch.len() as u64;
            assert_eq!(c.lag(&p), Some(10 - handed), "after {handed} handed out");
        }
    }
    let rest = tokio::time::timeout(Duration::from_millis(300), c.poll()).await;
    assert!(rest.is_err(), "nothing more to hand out: {rest:?}");
    assert_eq!(c.lag(&p), Some(0));
}

/// A producer whose cached partition count outlived the topic gets a clear
/// error, and does not make the deleted partition's stream again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producing_to_a_deleted_topic_is_refused_and_makes_nothing() {
    use weir_core::{Broker, BrokerError, Payload, Producer};

    let broker = TestBroker::start().await;
    let topic = weir_testkit::new_topic(&broker, "gone", 2).await;
    let producer = broker.producer().await.expect("producer");
    producer
        .produce(topic.partition(1).into(), Payload::new("before"))
        .await
        .expect("produce before the deletion");
    // Deleted through another handle: this producer's cache still says 2 partitions.
    let other = broker.other(|c| c).await;
    delete_topic(&other, &topic).await;
    let err = producer
        .produce(topic.partition(1).into(), Payload::new("after"))
        .await
        .expect_err("the topic is gone");
    assert!(
        matches!(&err, BrokerError::UnknownTopic { topic: t } if *t == topic),
        "{err:?}"
    );
    let left: u32 = broker
        .raw(
            redis::cmd("EXISTS")
                .arg(common::stream_key(&topic, 1))
                .arg(common::end_key(&topic, 1)),
        )
        .await;
    assert_eq!(
        left, 0,
        "the deleted partition's stream and counter stay deleted"
    );
}
