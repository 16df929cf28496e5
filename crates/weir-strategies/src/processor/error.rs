//! Why a stream processor stopped.

use std::time::Duration;

use weir_core::{BrokerError, Partition};

use crate::processor::InvalidLimit;
use crate::{InvalidMessage, StrategyError};

/// Why [`StreamProcessor::run`](crate::StreamProcessor::run) stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProcessorError {
    /// The consumer failed.
    #[error("the consumer failed")]
    Consumer(#[source] BrokerError),
    /// Committing failed.
    #[error("committing failed")]
    Commit(#[source] BrokerError),
    /// The broker kept failing with transient errors (it is unreachable, or
    /// says to retry) for longer than the
    /// [outage timeout](crate::StreamProcessorBuilder::outage_timeout).
    #[error("{operation} kept failing for {lasted:?}, past the outage timeout")]
    Outage {
        /// What kept failing: `"subscribing"`, `"polling"` or `"committing"`.
        operation: &'static str,
        /// How long it had been failing.
        lasted: Duration,
        /// The last error.
        #[source]
        source: BrokerError,
    },
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
    #[error("sending {invalid} to the dead-letter topic failed")]
    DeadLetter {
        /// The invalid message.
        invalid: InvalidMessage,
        /// The producer's error.
        #[source]
        source: BrokerError,
    },
    /// Pausing or resuming partitions failed.
    #[error("pausing or resuming {partitions:?} failed")]
    Pause {
        /// The partitions.
        partitions: Vec<Partition>,
        /// The consumer's error.
        #[source]
        source: BrokerError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message in the error's source chain, outermost first.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        weir_core::ErrorReport::new(e).messages()
    }

    #[test]
    fn each_cause_is_printed_once() {
        let closed = || BrokerError::Closed("consumer");
        assert_eq!(
            chain(&ProcessorError::Commit(closed())),
            ["committing failed", "the consumer is closed"]
        );
        assert_eq!(
            chain(&ProcessorError::Consumer(closed())),
            ["the consumer failed", "the consumer is closed"]
        );
        let invalid = InvalidMessage::new(Partition::new("orders", 0), 4, "bad json");
        assert_eq!(
            chain(&ProcessorError::DeadLetter {
                invalid,
                source: closed()
            }),
            [
                "sending invalid message at orders/0 offset 4: bad json to the dead-letter topic failed",
                "the consumer is closed"
            ]
        );
    }
}
