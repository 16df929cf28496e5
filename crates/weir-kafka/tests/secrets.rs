//! No password, SASL secret or TLS key shows in a config, a broker, a
//! client or an error, whatever librdkafka setting carried it.

use std::time::Duration;

use weir_core::{Admin, Broker, BrokerError};
use weir_kafka::{KafkaBroker, KafkaConfig, KafkaConfigBuilder};
use weir_testkit::servers::free_port;

const SECRET: &str = "hunter2-Zq9";

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "{what} shows the secret: {text}");
}

/// An error and its causes, as a report prints them.
fn report(e: &BrokerError) -> String {
    let mut out = format!("{e} / {e:?}");
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        out.push_str(&format!(": {cause}"));
        next = cause.source();
    }
    out
}

/// SASL secrets, through every way of passing a setting.
fn with_sasl_secrets(bootstrap: &str) -> KafkaConfigBuilder {
    KafkaConfig::builder(bootstrap)
        .request_timeout(Duration::from_secs(1))
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", "PLAIN")
        .set("sasl.username", "app")
        .set("sasl.password", SECRET)
        .set_consumer("sasl.password", format!("consumer-{SECRET}"))
        .set_producer("sasl.password", format!("producer-{SECRET}"))
}

/// Every kind of secret: SASL ones and TLS keys.
fn with_secrets(bootstrap: &str) -> KafkaConfigBuilder {
    let key = format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n");
    with_sasl_secrets(bootstrap)
        .set("ssl.key.password", SECRET)
        .set("ssl.key.pem", key)
        .set_consumer("sasl.oauthbearer.client.secret", SECRET)
        .set_producer(
            "sasl.oauthbearer.config",
            format!("principal=app token={SECRET}"),
        )
}

#[test]
fn no_secret_shows_in_a_kafka_config() {
    let builder = with_secrets("127.0.0.1:9092");
    assert_hidden("a config builder", &format!("{builder:?}"));
    let config = builder.build().expect("config");
    let shown = format!("{config:?} {config:#?}");
    assert_hidden("a config", &shown);
    assert!(shown.contains("***"), "the redaction shows: {shown}");
    assert!(
        shown.contains("PLAIN") && shown.contains("app"),
        "settings that are no secret still show: {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_a_kafka_broker_its_clients_or_their_errors() {
    let port = free_port();
    let broker = KafkaBroker::new(
        with_sasl_secrets(&format!("127.0.0.1:{port}"))
            .build()
            .expect("config"),
    );
    assert_hidden("a broker", &format!("{broker:?}"));
    let producer = broker.producer().await.expect("producer");
    assert_hidden("a producer", &format!("{producer:?}"));
    let consumer = broker
        .consumer(weir_core::ConsumerConfig::new("g"))
        .await
        .expect("consumer");
    assert_hidden("a consumer", &format!("{consumer:?}"));
    let admin = broker.admin().await.expect("admin");
    assert_hidden("an admin", &format!("{admin:?}"));
    let err = admin.list_topics().await.expect_err("nobody listens");
    assert_hidden("the error of an unreachable cluster", &report(&err));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_the_error_of_a_setting_librdkafka_refuses() {
    // An unknown setting librdkafka refuses, naming it and its value.
    let config = KafkaConfig::builder("127.0.0.1:9092")
        .set("app.secret.value", SECRET)
        .build()
        .expect("config");
    let err = KafkaBroker::new(config)
        .producer()
        .await
        .expect_err("an unknown setting");
    assert!(matches!(err, BrokerError::InvalidConfig(_)), "got {err:?}");
    assert_hidden("the error of a refused setting", &report(&err));
    assert!(report(&err).contains("app.secret.value"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tls_key_shows_when_a_client_cannot_be_made() {
    let broker = KafkaBroker::new(with_secrets("127.0.0.1:9092").build().expect("config"));
    assert_hidden("a broker", &format!("{broker:?}"));
    // A build without OpenSSL refuses the TLS settings; one with it may
    // refuse the key. Either way the error hides the secret.
    if let Err(err) = broker.producer().await {
        assert_hidden("the error of a client with a TLS key", &report(&err));
    }
    if let Err(err) = broker.consumer(weir_core::ConsumerConfig::new("g")).await {
        assert_hidden("the error of a client with a TLS key", &report(&err));
    }
}
