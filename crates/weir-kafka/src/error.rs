//! Mapping rdkafka's errors onto [`BrokerError`].
//!
//! The four failures a user must tell apart each get their own variant:
//! an unreachable cluster ([`BrokerError::Unreachable`]), a missing topic
//! ([`BrokerError::UnknownTopic`]), refused credentials or ACLs
//! ([`BrokerError::Unauthorized`]) and an oversized message
//! ([`BrokerError::PayloadTooLarge`]). Everything else is
//! [`BrokerError::Backend`] wrapping rdkafka's own error, marked transient
//! ([`BrokerError::transient`]) when Kafka says a retry may pass (a leader
//! moving, a coordinator loading, a rebalance in progress).

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use weir_core::{BrokerError, Topic};

/// The backend name used in errors and metrics.
pub(crate) const BACKEND: &str = "kafka";

/// What an error concerns, so the mapped error can name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    /// The bootstrap servers, for "unreachable".
    pub bootstrap: &'a str,
    /// The topic involved, if one is.
    pub topic: Option<&'a Topic>,
    /// The payload size and the configured limit, for "too large".
    pub size: Option<(usize, usize)>,
}

impl<'a> Context<'a> {
    /// An error about the cluster as a whole.
    pub(crate) fn cluster(bootstrap: &'a str) -> Self {
        Context {
            bootstrap,
            topic: None,
            size: None,
        }
    }

    /// An error about `topic`.
    pub(crate) fn topic(mut self, topic: &'a Topic) -> Self {
        self.topic = Some(topic);
        self
    }

    /// An error about a payload of `size` bytes, against `limit`.
    pub(crate) fn payload(mut self, size: usize, limit: usize) -> Self {
        self.size = Some((size, limit));
        self
    }
}

/// Whether `code` means the cluster could not be reached.
pub(crate) fn is_unreachable(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::Resolve
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::TimedOutQueue
            | RDKafkaErrorCode::SSL
    )
}

/// Whether `code` means the broker refused the credentials or the operation.
pub(crate) fn is_unauthorized(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::DelegationTokenAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::Authentication
    )
}

/// Whether `code` is one Kafka calls retriable: the same request may pass
/// once the cluster settles (leaders and coordinators move, replicas catch
/// up, the local queue drains).
pub(crate) fn is_retriable(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::ReplicaNotAvailable
            | RDKafkaErrorCode::NetworkException
            | RDKafkaErrorCode::CoordinatorLoadInProgress
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::NotController
            | RDKafkaErrorCode::KafkaStorageError
            | RDKafkaErrorCode::FencedLeaderEpoch
            | RDKafkaErrorCode::UnknownLeaderEpoch
            | RDKafkaErrorCode::OffsetNotAvailable
            | RDKafkaErrorCode::PreferredLeaderNotAvailable
            | RDKafkaErrorCode::ThrottlingQuotaExceeded
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::InProgress
            | RDKafkaErrorCode::Retry
    )
}

/// Maps an rdkafka error code met in `cx` onto a [`BrokerError`].
pub(crate) fn from_code(code: RDKafkaErrorCode, cx: Context<'_>) -> BrokerError {
    from_kafka(KafkaError::Global(code), cx)
}

/// Maps an rdkafka error met in `cx` onto a [`BrokerError`].
pub(crate) fn from_kafka(err: KafkaError, cx: Context<'_>) -> BrokerError {
    let Some(code) = err.rdkafka_error_code() else {
        return match err {
            KafkaError::ClientConfig(_, desc, key, value) => {
                // librdkafka's message repeats the value: not a secret's.
                let (desc, value) = if crate::is_secret_setting(&key) && !value.is_empty() {
                    (desc.replace(&value, "***"), "***".to_owned())
                } else {
                    (desc, value)
                };
                BrokerError::InvalidConfig(format!("Client config error: {desc} {key} {value}"))
            }
            other => BrokerError::backend(BACKEND, other),
        };
    };
    match (code, cx.topic, cx.size) {
        (c, _, _) if is_unreachable(c) => BrokerError::Unreachable {
            endpoint: cx.bootstrap.to_owned(),
            reason: err.to_string(),
        },
        (c, _, _) if is_unauthorized(c) => BrokerError::Unauthorized {
            reason: err.to_string(),
        },
        (
            RDKafkaErrorCode::UnknownTopicOrPartition
            | RDKafkaErrorCode::UnknownTopic
            | RDKafkaErrorCode::UnknownTopicId,
            Some(topic),
            _,
        ) => BrokerError::UnknownTopic {
            topic: topic.clone(),
        },
        (RDKafkaErrorCode::MessageSizeTooLarge, Some(topic), Some((size, limit))) => {
            BrokerError::PayloadTooLarge {
                topic: topic.clone(),
                size,
                limit,
            }
        }
        (RDKafkaErrorCode::TopicAlreadyExists, Some(topic), _) => BrokerError::TopicExists {
            topic: topic.clone(),
        },
        (RDKafkaErrorCode::InvalidPartitions, Some(topic), _) => BrokerError::NoPartitions {
            topic: topic.clone(),
        },
        (c, _, _) if is_retriable(c) => BrokerError::transient(BACKEND, err),
        _ => BrokerError::backend(BACKEND, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_user_facing_failures_are_distinct() {
        let topic = Topic::new("orders");
        let cx = Context::cluster("127.0.0.1:9").topic(&topic).payload(10, 5);
        assert!(matches!(
            from_code(RDKafkaErrorCode::AllBrokersDown, cx),
            BrokerError::Unreachable { endpoint, .. } if endpoint == "127.0.0.1:9"
        ));
        assert!(matches!(
            from_code(RDKafkaErrorCode::UnknownTopicOrPartition, cx),
            BrokerError::UnknownTopic { topic: t } if t == topic
        ));
        assert!(matches!(
            from_code(RDKafkaErrorCode::TopicAuthorizationFailed, cx),
            BrokerError::Unauthorized { .. }
        ));
        assert!(matches!(
            from_code(RDKafkaErrorCode::MessageSizeTooLarge, cx),
            BrokerError::PayloadTooLarge {
                size: 10,
                limit: 5,
                ..
            }
        ));
        assert!(matches!(
            from_code(RDKafkaErrorCode::InvalidRecord, cx),
            BrokerError::Backend {
                transient: false,
                ..
            }
        ));
    }

    #[test]
    fn retriable_codes_are_transient_and_others_are_not() {
        let cx = Context::cluster("127.0.0.1:9");
        for code in [
            RDKafkaErrorCode::RebalanceInProgress,
            RDKafkaErrorCode::NotLeaderForPartition,
            RDKafkaErrorCode::CoordinatorLoadInProgress,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::AllBrokersDown,
        ] {
            assert!(from_code(code, cx).is_transient(), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::InvalidRecord,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ] {
            assert!(!from_code(code, cx).is_transient(), "{code:?}");
        }
    }

    #[test]
    fn a_backend_error_names_the_cause_once() {
        let err = from_code(RDKafkaErrorCode::InvalidRecord, Context::cluster("b:9"));
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(err.to_string(), "kafka error");
        assert!(source.is_some_and(|s| !s.starts_with("kafka error")));
    }
}
