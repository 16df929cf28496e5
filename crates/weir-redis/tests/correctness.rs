//! Calls that must not fail or leak: scripts a server forgot are loaded
//! again, and no secret shows in a config, a broker or an error.

mod common;

use std::time::Duration;

use common::TestBroker;
use weir_core::{Admin, Broker, CommitRequest, Consumer, Payload, Producer};
use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::free_port;
use weir_testkit::servers::redis::RedisServer;
use weir_testkit::{collect, new_topic, produce_numbered, subscribed, unique_name};

/// Makes the server forget every script, as a restart without them does.
async fn flush_scripts(broker: &TestBroker) {
    let _: () = broker.raw(redis::cmd("SCRIPT").arg("FLUSH")).await;
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

/// The secret every redaction test hides.
const SECRET: &str = "hunter2-Zq9";

/// Panics if `text` (a Debug or Display rendering of `what`) shows the secret.
fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_shows_in_a_config_a_broker_or_its_clients() {
    let server = RedisServer::builder().password(SECRET).start();
    for url in [
        format!("redis://:{SECRET}@127.0.0.1:{}/0", server.port()),
        format!("redis://default:{SECRET}@127.0.0.1:{}", server.port()),
    ] {
        let builder = common::fast(&url);
        assert_hidden("a config builder", &format!("{builder:?}"));
        let config = builder.build().expect("config");
        assert_hidden("a config", &format!("{config:?}"));
        assert_hidden("a config", &format!("{config:#?}"));
        assert!(
            format!("{config:?}").contains("***"),
            "the redaction shows: {config:?}"
        );
        let broker = RedisBroker::connect(config).await.expect("connect");
        assert_hidden("a broker", &format!("{broker:?}"));
        assert_hidden("a broker", &format!("{broker:#?}"));
        let producer = broker.producer().await.expect("producer");
        assert_hidden("a producer", &format!("{producer:?}"));
        let admin = broker.admin().await.expect("admin");
        assert_hidden("an admin", &format!("{admin:?}"));
        let consumer = broker
            .consumer(weir_core::ConsumerConfig::new("g"))
            .await
            .expect("consumer");
        assert_hidden("a consumer", &format!("{consumer:?}"));
    }
}

#[cfg(feature = "tls")]
#[test]
fn no_tls_private_key_shows_in_a_config() {
    let key = format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n");
    let builder = RedisConfig::builder("rediss://127.0.0.1:6380")
        .tls_client_identity("-----BEGIN CERTIFICATE-----\n", key);
    assert_hidden("a config builder", &format!("{builder:?}"));
    let config = builder.build().expect("config");
    assert_hidden("a config", &format!("{config:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_shows_in_the_errors_of_a_bad_connection() {
    let errors = |e: &weir_core::BrokerError| format!("{e} / {e:?} / {}", chain(e));
    // Nobody listens.
    let port = free_port();
    let unreachable = RedisConfig::builder(format!("redis://user:{SECRET}@127.0.0.1:{port}"))
        .reconnect_timeout(Duration::from_millis(500))
        .build()
        .expect("config");
    let err = RedisBroker::connect(unreachable)
        .await
        .expect_err("nobody listens");
    assert_hidden("the error of an unreachable server", &errors(&err));
    // A wrong password.
    let server = RedisServer::builder().password("the-right-one").start();
    let wrong = format!("redis://default:{SECRET}@127.0.0.1:{}", server.port());
    let err = RedisBroker::connect_url(&wrong)
        .await
        .expect_err("a wrong password");
    assert_hidden("the error of a wrong password", &errors(&err));
    // URLs the client cannot use.
    for url in [
        format!("redis://user:{SECRET}@127.0.0.1:notaport"),
        format!("http://user:{SECRET}@127.0.0.1:6379"),
        format!("redis://user:{SECRET}@[::1/0"),
    ] {
        let err = match RedisConfig::builder(&url).build() {
            Err(e) => e,
            Ok(config) => RedisBroker::connect(config)
                .await
                .expect_err("a URL the client cannot use"),
        };
        assert_hidden("the error of a bad URL", &errors(&err));
    }
}

/// An error and its causes, as a report prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
}
