//! What every Kafka test file shares: the client settings for the test
//! broker, and how hard the interleaving property tests push it.

#![allow(dead_code)]

use std::time::Duration;

use weir_kafka::{KafkaBroker, KafkaConfig, KafkaConfigBuilder};
use weir_testkit::interleave::InterleavingConfig;
use weir_testkit::servers::tansu;

/// Tansu on a free loopback port (one per test process), or the cluster named
/// by `WEIR_KAFKA_BOOTSTRAP`, with quick group joins; tests add their own
/// settings and make a broker with [`broker_with`].
pub fn config() -> KafkaConfigBuilder {
    KafkaConfig::builder(tansu::bootstrap())
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
}

/// A broker with these settings.
pub fn broker_with(config: KafkaConfigBuilder) -> KafkaBroker {
    KafkaBroker::new(config.build().expect("a valid kafka config"))
}

pub fn broker() -> KafkaBroker {
    broker_with(config())
}

/// Few, short interleavings: every group change costs a real rebalance.
pub fn interleavings() -> InterleavingConfig {
    InterleavingConfig {
        cases: 3,
        max_len: 30,
        partitions: 3,
        poll_wait: Duration::from_millis(200),
        paused_clock: false,
    }
}
