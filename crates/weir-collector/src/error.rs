//! The crate's errors: a collector's failure, configuration, start and send errors.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Event;

/// The error type a processor or lifecycle returns: anything that is an error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a collector did not produce a value for an event.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// The processor returned an error (the [`source`](std::error::Error::source)).
    #[error("processor failed")]
    Error(#[source] Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// The processor panicked; the queue kept running.
    #[error("processor panicked: {0}")]
    Panicked(String),
    /// The processor did not finish within the collector's timeout.
    #[error("processor timed out after {0:?}")]
    TimedOut(Duration),
    /// The queue shut down before the event could be processed or finished.
    #[error("the queue shut down before the event was processed")]
    ShutDown,
}

impl Failure {
    /// Wraps an error returned by a processor or a lifecycle step.
    pub fn error(source: BoxError) -> Self {
        Self::Error(Arc::from(source))
    }

    /// A panic caught while running a processor, with its message.
    pub(crate) fn panicked(payload: &(dyn Any + Send)) -> Self {
        Self::Panicked(panic_message(payload))
    }
}

/// The text of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A collector's failure for one event: which collector, why, after how many
/// attempts.
#[derive(Debug, Clone, thiserror::Error)]
#[error("collector `{key}` failed after {attempts} attempt(s)")]
#[non_exhaustive]
pub struct CollectorError {
    /// The key of the collector that failed.
    pub key: Arc<str>,
    /// The cause of the last attempt's failure.
    #[source]
    pub failure: Failure,
    /// How many attempts were made (0 if the event never started).
    pub attempts: u32,
}

impl CollectorError {
    /// A collector's failure.
    pub fn new(key: impl Into<Arc<str>>, failure: Failure, attempts: u32) -> Self {
        Self {
            key: key.into(),
            failure,
            attempts,
        }
    }

    /// The key of the collector that failed.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A queue configuration the builder refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The queue has no collector.
    #[error("a collector queue needs at least one collector")]
    NoCollectors,
    /// Two collectors share a key.
    #[error("two collectors share the key `{0}`")]
    DuplicateKey(String),
    /// The consumer bounds are not `1 <= min <= max`.
    #[error("consumer bounds must satisfy 1 <= min <= max, got min {min}, max {max}")]
    ConsumerBounds {
        /// The minimum asked for.
        min: usize,
        /// The maximum asked for.
        max: usize,
    },
    /// The queue capacity is zero.
    #[error("the queue capacity must be at least 1")]
    ZeroCapacity,
    /// The autoscaler interval is zero.
    #[error("the autoscale interval must be longer than zero")]
    ZeroInterval,
}

/// The queue could not start: a collector's setup failed. The collectors set
/// up before it were torn down again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A collector's lifecycle setup failed.
    #[error("setup of collector `{key}` failed")]
    Setup {
        /// The collector whose setup failed.
        key: Arc<str>,
        /// Why.
        #[source]
        failure: Failure,
    },
}

/// `send` failed because the queue is shut down; the event comes back.
#[derive(thiserror::Error)]
#[error("the collector queue is shut down")]
pub struct SendError<P>(pub Event<P>);

impl<P> SendError<P> {
    /// Gives the event back.
    pub fn into_event(self) -> Event<P> {
        self.0
    }
}

impl<P> fmt::Debug for SendError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// `try_send` could not enqueue the event; the event comes back.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TrySendError<P> {
    /// The queue is at capacity; try again later or use `send`.
    #[error("the collector queue is full")]
    Full(Event<P>),
    /// The queue is shut down.
    #[error("the collector queue is shut down")]
    Closed(Event<P>),
}

impl<P> TrySendError<P> {
    /// Gives the event back.
    pub fn into_event(self) -> Event<P> {
        match self {
            Self::Full(event) | Self::Closed(event) => event,
        }
    }

    /// Whether the queue was full (rather than shut down).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }
}

impl<P> fmt::Debug for TrySendError<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every message in the error's source chain, outermost first.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(e) = next {
            out.push(e.to_string());
            next = e.source();
        }
        out
    }

    #[test]
    fn collector_error_names_key_attempts_and_cause_once_each() {
        let err = CollectorError::new("db", Failure::error("disk full".into()), 3);
        assert_eq!(
            chain(&err),
            [
                "collector `db` failed after 3 attempt(s)",
                "processor failed",
                "disk full"
            ]
        );
        assert_eq!(err.key(), "db");
    }

    #[test]
    fn a_failed_setup_names_the_collector_then_the_cause() {
        let err = StartError::Setup {
            key: "db".into(),
            failure: Failure::TimedOut(Duration::from_secs(2)),
        };
        assert_eq!(
            chain(&err),
            [
                "setup of collector `db` failed",
                "processor timed out after 2s"
            ]
        );
    }

    #[test]
    fn send_errors_give_the_event_back() {
        let err = TrySendError::Full(Event::new(5));
        assert!(err.is_full());
        assert_eq!(err.into_event().into_payload(), 5);
        assert_eq!(SendError(Event::new(6)).into_event().into_payload(), 6);
    }
}
