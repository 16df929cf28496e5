//! The topics the capabilities create on demand: the results and events
//! topics, and a delay topic beside each topic something waits for.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use weir_core::{Broker, BrokerError, Topic};

use crate::KafkaBroker;

/// The partition counts of the topics known to exist, so each is looked up
/// (or created) once per broker handle.
#[derive(Debug, Default)]
pub(crate) struct Topics(Mutex<HashMap<Topic, u32>>);

impl Topics {
    fn cached(&self, topic: &Topic) -> Option<u32> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(topic)
            .copied()
    }

    /// Forgets what is known of `topic` (it was deleted).
    pub(crate) fn forget(&self, topic: &Topic) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }

    /// How many partitions `topic` has, creating it first (with
    /// `partitions` partitions and the topic `settings`) if it does not
    /// exist. Another process creating it at the same time is fine.
    pub(crate) async fn ensure(
        &self,
        broker: &KafkaBroker,
        topic: &Topic,
        partitions: u32,
        settings: &[(&str, &str)],
    ) -> Result<u32, BrokerError> {
        if let Some(n) = self.cached(topic) {
            return Ok(n);
        }
        let producer = broker.producer().await?;
        let n = match producer.partition_count(topic).await {
            Ok(n) => n,
            Err(BrokerError::UnknownTopic { .. }) => {
                let admin = broker.admin().await?;
                match admin.create_topic_with(topic, partitions, settings).await {
                    Ok(()) | Err(BrokerError::TopicExists { .. }) => {}
                    Err(e) => return Err(e),
                }
                producer.partition_count(topic).await?
            }
            Err(e) => return Err(e),
        };
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(topic.clone(), n);
        Ok(n)
    }
}
