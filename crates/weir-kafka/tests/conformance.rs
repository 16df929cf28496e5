//! weir-kafka passes the whole conformance suite against a real
//! Kafka-protocol broker: tansu on a free loopback port (one per test
//! process), or the cluster named by `WEIR_KAFKA_BOOTSTRAP`.

mod common;

use weir_kafka::KafkaBroker;
use weir_testkit::interleave::check_interleavings;

async fn broker() -> KafkaBroker {
    common::broker()
}

weir_testkit::conformance_suite!(broker);

#[test]
fn random_interleavings_lose_nothing_and_never_commit_backwards() {
    check_interleavings(common::interleavings(), common::broker);
}
