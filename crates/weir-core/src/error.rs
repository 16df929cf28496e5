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
    /// The offset lies past the partition's end (the offset the next
    /// message produced there will get): committing it would skip messages
    /// not written yet. Committing up to the end is fine.
    #[error("offset {offset} of partition {partition} is past its end {end}")]
    OffsetOutOfRange {
        /// The partition.
        partition: Partition,
        /// The offset asked for.
        offset: u64,
        /// The partition's end when it was checked.
        end: u64,
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
    /// Any other failure the backend reports. Its own error is the
    /// [`source`](std::error::Error::source), not part of this message, so a
    /// report that walks the chain prints it once.
    #[error("{backend} error")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// Whether the backend says retrying may succeed (a leader moving, a
        /// rebalance in progress, a full local queue).
        transient: bool,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl BrokerError {
    /// Wraps a backend's own error, one that retrying will not cure.
    pub fn backend(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BrokerError::Backend {
            backend,
            transient: false,
            source: source.into(),
        }
    }

    /// Wraps a backend's own error that retrying later may cure; see
    /// [`BrokerError::is_transient`].
    pub fn transient(
        backend: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        BrokerError::Backend {
            backend,
            transient: true,
            source: source.into(),
        }
    }

    /// Whether retrying the same call later may succeed: the broker was
    /// unreachable ([`BrokerError::Unreachable`]), or the backend reported a
    /// transient failure ([`BrokerError::transient`]). Everything else fails
    /// again until something changes: the topic, the configuration, the
    /// credentials, the assignment or the payload.
    pub fn is_transient(&self) -> bool {
        match self {
            BrokerError::Unreachable { .. } => true,
            BrokerError::Backend { transient, .. } => *transient,
            BrokerError::UnknownTopic { .. }
            | BrokerError::UnknownPartition { .. }
            | BrokerError::TopicExists { .. }
            | BrokerError::NoPartitions { .. }
            | BrokerError::NotAssigned { .. }
            | BrokerError::OffsetOutOfRange { .. }
            | BrokerError::PayloadTooLarge { .. }
            | BrokerError::NotSubscribed
            | BrokerError::Unauthorized { .. }
            | BrokerError::Unsupported { .. }
            | BrokerError::InvalidConfig(_)
            | BrokerError::Closed(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message in the error's source chain, outermost first.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        crate::ErrorReport::new(e).messages()
    }

    #[test]
    fn a_backend_error_prints_its_cause_once() {
        let io = std::io::Error::other("connection reset");
        let e = BrokerError::backend("redis", io);
        assert_eq!(chain(&e), ["redis error", "connection reset"]);
    }

    #[test]
    fn transient_means_a_retry_may_pass() {
        let unreachable = BrokerError::Unreachable {
            endpoint: "127.0.0.1:9".into(),
            reason: "refused".into(),
        };
        assert!(unreachable.is_transient());
        assert!(BrokerError::transient("kafka", "rebalance in progress").is_transient());
        assert!(!BrokerError::backend("kafka", "corrupt message").is_transient());
        let lasting = [
            BrokerError::UnknownTopic { topic: "t".into() },
            BrokerError::TopicExists { topic: "t".into() },
            BrokerError::NotAssigned {
                partition: Partition::new("t", 0),
            },
            BrokerError::OffsetOutOfRange {
                partition: Partition::new("t", 0),
                offset: 1_000_000,
                end: 10,
            },
            BrokerError::NotSubscribed,
            BrokerError::Unauthorized {
                reason: "no".into(),
            },
            BrokerError::InvalidConfig("bad".into()),
            BrokerError::Closed("producer"),
        ];
        for e in lasting {
            assert!(!e.is_transient(), "{e}");
        }
    }
}
