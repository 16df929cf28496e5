//! Cross-crate integration tests for Weir live in this package's `tests/`
//! folder; what their test processes and tests share lives here.

use std::time::Duration;

use weir_kafka::{KafkaConfig, KafkaConfigBuilder};
use weir_redis::RedisConfig;

/// A Redis config for crash and outage tests: a lease (consumer-group
/// session) of `session`, heartbeats five times per lease, blocking reads of
/// 50 ms, and reconnects given up after 1 s, so that a killed member's work
/// moves on and an outage shows within the test's time.
///
/// # Panics
///
/// If the config is invalid (a bad URL).
pub fn quick_redis_config(url: impl Into<String>, session: Duration) -> RedisConfig {
    RedisConfig::builder(url)
        .session_timeout(session)
        .heartbeat_interval(session / 5)
        .block_time(Duration::from_millis(50))
        .reconnect_timeout(Duration::from_secs(1))
        .build()
        .expect("a valid redis config")
}

/// Kafka settings for group tests on the test broker (tansu): quick group
/// joins, and members that settle before they leave (tansu loses a group
/// whose member leaves in the middle of a join; see
/// [`KafkaConfigBuilder::settle_before_leaving`]), holding a settled
/// assignment for 1.2 s first. Tests add their own settings.
pub fn settling_kafka_config(bootstrap: impl Into<String>) -> KafkaConfigBuilder {
    KafkaConfig::builder(bootstrap)
        .fast_group_joins()
        .settle_before_leaving(Duration::from_millis(1200))
}
