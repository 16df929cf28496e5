//! Why a job capability could not answer: the causes weir-kafka puts in a
//! [`BrokerError`]'s source.

use std::time::Duration;

use weir_core::{BrokerError, Topic};

use crate::error::BACKEND;

/// A failure of the job capabilities on Kafka, carried as the
/// [`source`](std::error::Error::source) of a transient
/// [`BrokerError::Backend`]: each names the topic (and group) concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KafkaCapabilityError {
    /// A reader did not reach the end its caller waited for in time (the
    /// cluster is slow or unreachable).
    #[error("the reader of `{topic}` did not reach the topic's end within {waited:?}")]
    Behind {
        /// The topic read.
        topic: Topic,
        /// How long the caller waited.
        waited: Duration,
    },
    /// The delay mover's consumer did not join its group in time.
    #[error("the delay mover of `{topic}` did not join group `{group}` within {waited:?}")]
    NotJoined {
        /// The delay topic.
        topic: Topic,
        /// The mover's consumer group.
        group: String,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A reader stopped (its broker handle is being dropped).
    #[error("the reader of `{topic}` stopped")]
    ReaderStopped {
        /// The topic it read.
        topic: Topic,
    },
}

impl From<KafkaCapabilityError> for BrokerError {
    fn from(e: KafkaCapabilityError) -> Self {
        match e {
            KafkaCapabilityError::ReaderStopped { .. } => BrokerError::backend(BACKEND, e),
            _ => BrokerError::transient(BACKEND, e),
        }
    }
}
