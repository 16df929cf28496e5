//! The error every broker operation returns.

use crate::{Partition, Topic};

/// Why a broker operation failed. Each variant names what it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The topic does not exist.
    #[error("unknown topic `{topic}`")]
    UnknownTopic {
        /// The topic asked for.
        topic: Topic,
    },
    /// The topic exists but has no such partition.
    #[error("unknown partition {partition} (the topic has {partitions} partitions)")]
    UnknownPartition {
        /// The partition asked for.
        partition: Partition,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A topic by that name already exists.
    #[error("topic `{topic}` already exists")]
    TopicExists {
        /// The topic.
        topic: Topic,
    },
    /// A topic needs at least one partition.
    #[error("topic `{topic}` needs at least one partition")]
    NoPartitions {
        /// The topic.
        topic: Topic,
    },
    /// The consumer does not own this partition (it was never assigned, or a
    /// rebalance gave it to another member), so it may not commit or seek it.
    #[error("partition {partition} is not assigned to this consumer")]
    NotAssigned {
        /// The partition.
        partition: Partition,
    },
    /// The payload is larger than the broker accepts.
    #[error("payload of {size} bytes for topic `{topic}` exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The destination topic.
        topic: Topic,
        /// The payload's size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The consumer has not subscribed to any topic.
    #[error("the consumer has no subscription: call subscribe first")]
    NotSubscribed,
    /// The broker could not be reached.
    #[error("broker at {endpoint} is unreachable: {reason}")]
    Unreachable {
        /// Where it was looked for.
        endpoint: String,
        /// What happened.
        reason: String,
    },
    /// The broker refused the credentials or the operation.
    #[error("not authorized: {reason}")]
    Unauthorized {
        /// What the broker said.
        reason: String,
    },
    /// This backend does not offer the capability.
    #[error("{backend} does not support {capability}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What was asked for.
        capability: &'static str,
    },
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The client was closed.
    #[error("the {0} is closed")]
    Closed(&'static str),
    /// Any other failure the backend reports.
    #[error("{backend} error: {source}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BrokerError {
    /// Wraps a backend's own error.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BrokerError::Backend {
            backend,
            source: source.into(),
        }
    }

    /// Whether retrying the same call later may succeed (the broker was
    /// unreachable, or the backend reported a transient failure).
    pub fn is_transient(&self) -> bool {
        matches!(self, BrokerError::Unreachable { .. })
    }
}
