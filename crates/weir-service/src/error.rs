//! The errors of the service base, and what a handler returns when it fails.

use std::fmt;
use std::time::Duration;

use weir_core::{BrokerError, CodecError};
use weir_strategies::{BoxError, ProcessorError};

/// Why a service, a client or the base itself failed. Each variant names
/// the service part (consumer, producer, topic, address) it concerns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// A broker call failed.
    #[error("{what} failed")]
    Broker {
        /// What the base was doing (`creating topic "requests"`, ...).
        what: String,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// A consumer stopped with an error (a panic in a handler, a fatal
    /// handler error, a broker outage longer than its limit).
    #[error("consumer `{consumer}` of service `{service}` failed")]
    ConsumerFailed {
        /// The service.
        service: String,
        /// The consumer's name.
        consumer: String,
        /// The processor's error.
        #[source]
        source: Box<ProcessorError>,
    },
    /// A lifecycle hook (`on_start`, `on_stop`) or a task spawned through
    /// the context failed.
    #[error("{what} of service `{service}` failed: {reason}")]
    Task {
        /// The service.
        service: String,
        /// Which hook or task.
        what: String,
        /// Its error or panic message.
        reason: String,
    },
    /// A producer name the service did not declare.
    #[error("service `{service}` has no producer `{producer}`")]
    UnknownProducer {
        /// The service.
        service: String,
        /// The name asked for.
        producer: String,
    },
    /// A producer asked for with another type than its spec declares.
    #[error("producer `{producer}` sends `{declared}`, not `{asked}`")]
    ProducerType {
        /// The producer's name.
        producer: String,
        /// The type its spec declares.
        declared: &'static str,
        /// The type asked for.
        asked: &'static str,
    },
    /// A value could not be encoded or decoded.
    #[error("{what}")]
    Codec {
        /// What was encoded or decoded, and where.
        what: String,
        /// The codec's error.
        #[source]
        source: CodecError,
    },
    /// The service definition or a setting is invalid.
    #[error("invalid service setting: {0}")]
    InvalidConfig(String),
    /// A broker URL the base cannot use (an unknown scheme, or a backend
    /// left out at build time).
    #[error("cannot use broker `{url}`: {reason}")]
    BrokerUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// A request got no response within its timeout.
    #[error("no response to request `{id}` on `{topic}` within {timeout:?}")]
    Timeout {
        /// The correlation id.
        id: String,
        /// The request topic.
        topic: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The service answered a request with an error (its handler failed
    /// for good; the request went to its dead-letter topic).
    #[error("request `{id}` failed in the service: {reason}")]
    Remote {
        /// The correlation id.
        id: String,
        /// What the service said.
        reason: String,
    },
    /// The client or the service was stopped.
    #[error("the {0} is closed")]
    Closed(&'static str),
    /// The metrics and health endpoint could not start.
    #[error("cannot serve metrics and health on {addr}")]
    Http {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ServiceError {
    pub(crate) fn broker(what: impl Into<String>, source: BrokerError) -> Self {
        ServiceError::Broker {
            what: what.into(),
            source,
        }
    }
}

/// What a handler returns when it could not handle a message.
///
/// Any error converts into [`HandlerError::Failed`] with `?`; the other
/// variants say more.
///
/// | variant | the base |
/// |---|---|
/// | `Failed` | retries with backoff up to the [`RetryPolicy`](crate::RetryPolicy)'s limit, then dead-letters the original bytes |
/// | `RateLimited` | pauses the consumer for `retry_after` and retries, not counted as a failure |
/// | `Invalid` | dead-letters at once (retrying cannot help) |
/// | `Fatal` | stops the service; the supervisor restarts it and the message is read again |
#[non_exhaustive]
pub enum HandlerError {
    /// A failure that retrying may cure.
    Failed(BoxError),
    /// A downstream limit: retry after this long without counting a failure.
    RateLimited {
        /// How long to pause.
        retry_after: Duration,
    },
    /// The message cannot be handled: dead-letter it now.
    Invalid(String),
    /// Something beyond this message is wrong: stop and restart the service.
    Fatal(BoxError),
}

impl HandlerError {
    /// A failure that retrying may cure.
    pub fn failed(error: impl Into<BoxError>) -> Self {
        HandlerError::Failed(error.into())
    }

    /// Rate limited: retry after `retry_after`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        HandlerError::RateLimited { retry_after }
    }

    /// The message cannot be handled, for `reason`.
    pub fn invalid(reason: impl Into<String>) -> Self {
        HandlerError::Invalid(reason.into())
    }

    /// Stop the service.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        HandlerError::Fatal(error.into())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::Failed(Box::new(error))
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Failed(e) => write!(f, "{}", weir_core::ErrorReport::new(e.as_ref())),
            HandlerError::RateLimited { retry_after } => {
                write!(f, "rate limited, retry after {retry_after:?}")
            }
            HandlerError::Invalid(r) => write!(f, "invalid message: {r}"),
            HandlerError::Fatal(e) => {
                write!(f, "fatal: {}", weir_core::ErrorReport::new(e.as_ref()))
            }
        }
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_error_converts_with_the_question_mark() {
        fn parse(s: &str) -> Result<u32, HandlerError> {
            Ok(s.parse::<u32>()?)
        }
        let e = parse("x").unwrap_err();
        assert!(matches!(e, HandlerError::Failed(_)));
        assert_eq!(e.to_string(), "invalid digit found in string");
    }

    #[test]
    fn errors_name_what_they_concern() {
        let e = ServiceError::UnknownProducer {
            service: "word-count".into(),
            producer: "counts".into(),
        };
        assert_eq!(
            e.to_string(),
            "service `word-count` has no producer `counts`"
        );
    }
}
