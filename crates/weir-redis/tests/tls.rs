//! `rediss://`: the conformance suite over TLS (the server's certificate
//! signed by a CA made for the test), mutual TLS, and clear errors when the
//! server cannot be trusted or wants a client certificate.

#![cfg(feature = "tls")]

mod common;

use std::time::{Duration, Instant};

use common::TestBroker;
use weir_core::{Admin, Broker, BrokerError, Topic};
use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::{ClientAuth, RedisServer};
use weir_testkit::servers::tls::TestCertificates;

async fn broker() -> TestBroker {
    TestBroker::start_tls(ClientAuth::None).await
}

weir_testkit::conformance_suite!(broker);

/// The error of connecting to `url` trusting only `ca_pem`, without a
/// client certificate (which must fail, and promptly).
async fn connect_error(url: &str, ca_pem: &str) -> BrokerError {
    let config = RedisConfig::builder(url)
        .tls_root_certificate(ca_pem)
        .reconnect_timeout(Duration::from_secs(2))
        .build()
        .expect("config");
    let started = Instant::now();
    let err = match RedisBroker::connect(config).await {
        Ok(broker) => match broker.admin().await {
            Ok(admin) => admin
                .create_topic(&Topic::new("t"), 1)
                .await
                .expect_err("a connection that should fail"),
            Err(e) => e,
        },
        Err(e) => e,
    };
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "failing took {:?}",
        started.elapsed()
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_signed_by_an_unknown_ca_is_refused_with_a_clear_error() {
    let server = RedisServer::builder().tls(ClientAuth::None).start();
    // A CA of another test: valid, but not the one that signed the server.
    let stranger = TestCertificates::generate();
    let err = connect_error(&server.url(), stranger.ca_pem()).await;
    let text = err.to_string();
    assert!(
        text.contains("certificate") && text.contains(&format!("127.0.0.1:{}", server.port())),
        "the error names the certificate problem and the endpoint: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate() {
    let with_identity = TestBroker::start_tls(ClientAuth::Required).await;
    let topic = weir_testkit::new_topic(&with_identity, "mtls", 1).await;
    let producer = with_identity.producer().await.expect("producer");
    weir_testkit::produce_numbered(&producer, topic.clone().into(), "m", 3).await;
    let mut consumer = weir_testkit::subscribed(&with_identity, "mtls", &[topic]).await;
    let seen = weir_testkit::collect(&mut consumer, true, |s| s.messages.len() >= 3).await;
    assert_eq!(
        seen.values(),
        ["m-0", "m-1", "m-2"],
        "a round trip over mutual TLS"
    );

    // The same server without the client certificate: the handshake fails.
    let certs = with_identity
        .server
        .lock()
        .expect("server")
        .single()
        .certificates()
        .expect("a TLS server")
        .clone();
    let err = connect_error(&with_identity.url(), certs.ca_pem()).await;
    assert!(
        matches!(
            err,
            BrokerError::Unreachable { .. } | BrokerError::Unauthorized { .. }
        ),
        "refused without a client certificate: {err:?}"
    );
}

#[test]
fn a_corrupt_ca_certificate_is_a_config_error() {
    let config = RedisConfig::builder("rediss://127.0.0.1:1")
        .tls_root_certificate("not a certificate")
        .build()
        .expect("config");
    let err = RedisBroker::connect_lazy(config).expect_err("a corrupt CA");
    assert!(
        matches!(&err, BrokerError::InvalidConfig(m) if m.contains("rediss://127.0.0.1:1")),
        "{err:?}"
    );
}
