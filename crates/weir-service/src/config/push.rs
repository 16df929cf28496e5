//! A configuration push and the publisher that sends it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_core::{Destination, Payload, Produced, Producer, Topic};

use crate::producer::{AnyProducer, SharedProducer};
use crate::{Encoding, ServiceError};

/// One version of the whole configuration: key → JSON value. Sent as JSON,
/// readable in broker tools.
///
/// ```
/// use weir_service::ConfigPush;
/// let push = ConfigPush::new(3).set("stopwords", &["a", "the"]).unwrap();
/// assert_eq!(push.version(), 3);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigPush {
    version: u64,
    values: BTreeMap<String, serde_json::Value>,
}

impl ConfigPush {
    /// An empty configuration at `version`.
    pub fn new(version: u64) -> Self {
        ConfigPush {
            version,
            values: BTreeMap::new(),
        }
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::InvalidConfig`] when `value` has no JSON form.
    pub fn set<T: Serialize + ?Sized>(
        mut self,
        key: &str,
        value: &T,
    ) -> Result<Self, ServiceError> {
        let v = serde_json::to_value(value).map_err(|e| {
            ServiceError::InvalidConfig(format!("config key `{key}` has no JSON form: {e}"))
        })?;
        self.values.insert(key.to_owned(), v);
        Ok(self)
    }

    /// Its version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Its values.
    pub fn values(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.values
    }

    pub(crate) fn into_values(self) -> BTreeMap<String, serde_json::Value> {
        self.values
    }
}

/// Sends [`ConfigPush`]es to a configuration topic.
pub struct ConfigPublisher {
    producer: SharedProducer,
    topic: Topic,
}

impl std::fmt::Debug for ConfigPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigPublisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ConfigPublisher {
    /// Publishes to `topic` (one partition, created by the services or by
    /// hand) through `producer`.
    pub fn new<P: Producer>(producer: P, topic: impl Into<Topic>) -> Self {
        let producer: SharedProducer = std::sync::Arc::new(producer);
        ConfigPublisher {
            producer,
            topic: topic.into(),
        }
    }

    /// Sends `push`.
    ///
    /// # Errors
    ///
    /// [`ServiceError::Broker`] when the broker refuses it.
    pub async fn publish(&self, push: &ConfigPush) -> Result<Produced, ServiceError> {
        // JSON whatever the services' encoding: one format per config topic.
        let bytes = Encoding::Json
            .encode(push)
            .map_err(|source| ServiceError::Codec {
                what: format!("encoding config version {}", push.version),
                source,
            })?;
        AnyProducer::produce(
            self.producer.as_ref(),
            Destination::Topic(self.topic.clone()),
            Payload::new(bytes),
        )
        .await
        .map_err(|e| {
            ServiceError::broker(
                format!(
                    "publishing config version {} to `{}`",
                    push.version, self.topic
                ),
                e,
            )
        })
    }
}
