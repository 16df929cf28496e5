//! The service scenarios on a Kafka-protocol broker: tansu on a free
//! loopback port (one per test process), or the cluster named by
//! `WEIR_KAFKA_BOOTSTRAP`.

mod scenarios;

use std::time::Duration;

use weir_kafka::{KafkaBroker, KafkaConfig};
use weir_testkit::servers::tansu;

async fn broker() -> (KafkaBroker, ()) {
    let config = KafkaConfig::builder(tansu::bootstrap())
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
        .build()
        .expect("a valid kafka config");
    (KafkaBroker::new(config), ())
}

service_scenarios!(broker);
