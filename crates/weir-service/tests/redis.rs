//! The service scenarios on a real redis-server of each test's own, on a
//! free loopback port.

mod scenarios;

use std::time::Duration;

use weir_redis::{RedisBroker, RedisConfig};
use weir_testkit::servers::redis::RedisServer;

async fn broker() -> (RedisBroker, RedisServer) {
    let server = RedisServer::start();
    let config = RedisConfig::builder(server.url())
        .session_timeout(Duration::from_millis(1500))
        .heartbeat_interval(Duration::from_millis(300))
        .block_time(Duration::from_millis(50))
        .build()
        .expect("a valid redis config");
    let broker = RedisBroker::connect(config)
        .await
        .expect("the test server answers");
    (broker, server)
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
