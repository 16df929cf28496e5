//! The job capabilities on Redis pass the shared scenarios.

mod common;

use common::TestBroker;

async fn broker() -> TestBroker {
    TestBroker::start().await
}

weir_testkit::capability_suite!(broker);

/// What another program publishes on an event channel (`redis-cli
/// PUBLISH`, say) arrives as one event, beside weir's packed batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_published_by_another_program_is_one_event() {
    use bytes::Bytes;
    use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};

    let broker = TestBroker::start().await;
    let mut events = broker.redis.subscribe("news").await.expect("subscribe");
    let _: u64 = broker
        .raw(redis::cmd("PUBLISH").arg("weir:events:news").arg("plain"))
        .await;
    broker
        .redis
        .publish_many("news", &[Bytes::from("a"), Bytes::from("b")])
        .await
        .expect("publish_many");
    let mut got = Vec::new();
    while got.len() < 3 {
        match events.next_event().await.expect("event") {
            ChannelEvent::Message(m) => got.push(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(got, ["plain", "a", "b"]);
}
