//! Why a stream processor stopped.

use weir_core::{BrokerError, Partition};

use crate::processor::InvalidLimit;
use crate::{InvalidMessage, StrategyError};

/// Why [`StreamProcessor::run`](crate::StreamProcessor::run) stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessorError {
    /// The consumer failed.
    #[error("the consumer failed: {0}")]
    Consumer(#[source] BrokerError),
    /// Committing failed.
    #[error("committing failed: {0}")]
    Commit(#[source] BrokerError),
    /// A strategy failed (a panic or a fatal task error names the message).
    #[error(transparent)]
    Strategy(StrategyError),
    /// An invalid message arrived and the policy is to fail.
    #[error("{0} (no dead-letter queue is configured)")]
    Invalid(InvalidMessage),
    /// Too many invalid messages.
    #[error("stopping: {limit}; the last was {last}")]
    TooManyInvalid {
        /// The limit exceeded.
        limit: InvalidLimit,
        /// The last invalid message.
        last: InvalidMessage,
    },
    /// Producing to the dead-letter topic failed.
    #[error("sending {invalid} to the dead-letter topic failed: {source}")]
    DeadLetter {
        /// The invalid message.
        invalid: InvalidMessage,
        /// The producer's error.
        #[source]
        source: BrokerError,
    },
    /// Pausing or resuming partitions failed.
    #[error("pausing or resuming {partitions:?} failed: {source}")]
    Pause {
        /// The partitions.
        partitions: Vec<Partition>,
        /// The consumer's error.
        #[source]
        source: BrokerError,
    },
}
