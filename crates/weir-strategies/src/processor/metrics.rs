//! The metrics the processor records, through the `metrics` facade.

use std::time::Duration;

/// Time spent waiting in the consumer's poll (histogram, seconds).
pub const CONSUMER_POLL_SECONDS: &str = "weir_processor_consumer_poll_seconds";
/// Time spent in strategy submit and poll calls (histogram, seconds).
pub const PROCESSING_SECONDS: &str = "weir_processor_processing_seconds";
/// How long each backpressure episode lasted (histogram, seconds).
pub const BACKPRESSURE_SECONDS: &str = "weir_processor_backpressure_seconds";
/// How long joining a strategy took (histogram, seconds).
pub const JOIN_SECONDS: &str = "weir_processor_join_seconds";
/// Messages read and submitted (counter).
pub const MESSAGES_TOTAL: &str = "weir_processor_messages_total";
/// Commits made (counter).
pub const COMMITS_TOTAL: &str = "weir_processor_commits_total";
/// Times the partitions were paused for backpressure (counter).
pub const PAUSES_TOTAL: &str = "weir_processor_pauses_total";
/// Times they were resumed (counter).
pub const RESUMES_TOTAL: &str = "weir_processor_resumes_total";
/// Invalid messages, labelled `action` = fail / skip / dead_letter (counter).
pub const INVALID_TOTAL: &str = "weir_processor_invalid_messages_total";
/// Partitions assigned (counter).
pub const ASSIGNED_TOTAL: &str = "weir_processor_partitions_assigned_total";
/// Partitions revoked (counter).
pub const REVOKED_TOTAL: &str = "weir_processor_partitions_revoked_total";
/// Messages past the consumer's position, per `partition`, when the backend knows (gauge).
pub const CONSUMER_LAG: &str = "weir_processor_consumer_lag";

pub(crate) fn seconds(name: &'static str, d: Duration) {
    metrics::histogram!(name).record(d.as_secs_f64());
}

pub(crate) fn count(name: &'static str, n: u64) {
    metrics::counter!(name).increment(n);
}
