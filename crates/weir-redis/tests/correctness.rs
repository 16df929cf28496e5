//! Calls that must not fail or leak: scripts a server forgot are loaded
//! again, and no secret shows in a config, a broker or an error.

mod common;

use std::time::Duration;

use common::TestBroker;
use weir_core::{Admin, Broker, CommitRequest, Consumer, Payload, Producer};
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::{collect, new_topic, produce_numbered, subscribed, unique_name};

/// Makes the server forget every script, as a restart without them does.
async fn flush_scripts(broker: &TestBroker) {
    let _: () = broker.raw(&redis::cmd("SCRIPT").arg("FLUSH")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_script_is_loaded_again_for_a_pipelined_produce() {
    let broker = TestBroker::start().await;
    let topic = new_topic(&broker, "noscript", 1).await;
    let producer = broker.producer().await.expect("producer");
    let first = producer
        .produce(topic.partition(0).into(), Payload::new("before"))
        .await
        .expect("produce");
    assert_eq!(first.offset, 0);
    flush_scripts(&broker).await;
    // produce runs the append script inside a pipeline.
    let second = producer
        .produce(topic.partition(0).into(), Payload::new("after"))
        .await
        .expect("produce after the server forgot its scripts");
    assert_eq!(second.offset, 1);
    flush_scripts(&broker).await;
    let batch = producer
        .produce_batch(vec![
            (topic.partition(0).into(), Payload::new("a")),
            (topic.partition(0).into(), Payload::new("b")),
        ])
        .await;
    for r in batch {
        r.expect("produce_batch after the server forgot its scripts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_produce_waiting_out_a_restart_loads_the_scripts_again() {
    let broker = TestBroker::start_with(RedisServer::builder().append_only(true), |c| c).await;
    let topic = new_topic(&broker, "outage", 1).await;
    let producer = broker.producer().await.expect("producer");
    produce_numbered(&producer, topic.partition(0).into(), "m", 1).await;
    broker.server.lock().expect("server").kill();
    // The produce retries while the server is down (more than a few
    // attempts), then meets a server that has no scripts.
    let waiting = tokio::spawn({
        let producer = producer.clone();
        let p = topic.partition(0);
        async move { producer.produce(p.into(), Payload::new("x")).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").restart())
        .await
        .expect("restart");
    let produced = waiting.await.expect("the produce task");
    let produced = produced.expect("produce rides out the restart");
    assert_eq!(
        produced.offset, 1,
        "the data survived (AOF), the scripts did not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_gets_its_scripts_again() {
    let broker = TestBroker::start().await;
    let producer = broker.producer().await.expect("producer");
    let server = std::sync::Arc::clone(&broker.server);
    tokio::task::spawn_blocking(move || server.lock().expect("server").restart())
        .await
        .expect("restart");
    // The server came back empty: creating a topic, producing, consuming
    // and committing all run scripts it no longer has.
    let topic = new_topic(&broker, "restarted", 1).await;
    let p = topic.partition(0);
    produce_numbered(&producer, p.clone().into(), "m", 3).await;
    let mut c = subscribed(&broker, &unique_name("g"), std::slice::from_ref(&topic)).await;
    collect(&mut c, false, |s| s.messages.len() >= 3).await;
    flush_scripts(&broker).await;
    c.commit(&CommitRequest::from_iter([(p, 3)]))
        .await
        .expect("commit after the server forgot its scripts");
    c.close().await.expect("close");
    flush_scripts(&broker).await;
    broker
        .admin()
        .await
        .expect("admin")
        .delete_topic(&topic)
        .await
        .expect("delete after the server forgot its scripts");
}
