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

service_scenarios!(broker;
    round_trip_with_many_in_flight,
    timeout_then_late_and_unknown_responses_are_dropped,
    streaming_responses_end_at_the_marker,
    config_pushes_apply_in_order_and_reach_a_late_subscriber,
    restart_after_a_panic_loses_no_message,
    graceful_shutdown_finishes_and_commits_in_flight_work,
    metrics_and_health_are_served_over_http,
    failures_dead_letter_and_rate_limits_retry,
    two_instances_share_the_partitions,
    a_failed_request_is_answered_with_an_error,
    a_service_calls_another_through_its_context,
);
