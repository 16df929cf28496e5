//! weir-kafka passes the whole conformance suite against a real
//! Kafka-protocol broker: tansu on a free loopback port (one per test
//! process), or the cluster named by `WEIR_KAFKA_BOOTSTRAP`.

use std::time::Duration;

use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_testkit::interleave::{InterleavingConfig, check_interleavings};
use weir_testkit::servers::tansu;

fn config() -> KafkaConfig {
    KafkaConfig::new(tansu::bootstrap())
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
}

async fn broker() -> KafkaBroker {
    KafkaBroker::new(config())
}

weir_testkit::conformance_suite!(broker);

#[test]
fn random_interleavings_lose_nothing_and_never_commit_backwards() {
    check_interleavings(
        InterleavingConfig {
            cases: 3,
            max_len: 30,
            partitions: 3,
            poll_wait: Duration::from_millis(200),
            paused_clock: false,
        },
        || KafkaBroker::new(config()),
    );
}
