//! Delayed delivery in memory: a heap of due entries per topic; moving takes
//! them out under one lock, so each moves exactly once.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use weir_core::capability::DelayedDelivery;
use weir_core::{BrokerError, Destination, Payload, Produced, Producer, Topic};

use super::lock;
use crate::{MemoryBroker, MemoryProducer};

/// One topic's waiting entries, by (due, arrival).
type Waiting = BTreeMap<(SystemTime, u64), (Destination, Payload)>;

#[derive(Debug, Default)]
pub(super) struct Delayed {
    next: u64,
    /// Per topic, entries by (due, arrival).
    topics: HashMap<Topic, Waiting>,
}

impl DelayedDelivery for MemoryBroker {
    async fn produce_at(
        &self,
        destination: Destination,
        payload: Payload,
        due: SystemTime,
    ) -> Result<(), BrokerError> {
        let topic = destination.topic().clone();
        self.inner.topic(&topic)?;
        weir_core::check_payload_size(&topic, &payload, self.inner.max_payload_bytes())?;
        let mut d = lock(&self.inner.capabilities.delayed);
        d.next += 1;
        let seq = d.next;
        d.topics
            .entry(topic)
            .or_default()
            .insert((due, seq), (destination, payload));
        Ok(())
    }

    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        self.inner.topic(topic)?;
        let now = SystemTime::now();
        let due: Vec<(Destination, Payload)> = {
            let mut d = lock(&self.inner.capabilities.delayed);
            let Some(entries) = d.topics.get_mut(topic) else {
                return Ok(Vec::new());
            };
            let later = entries.split_off(&(now, u64::MAX));
            std::mem::replace(entries, later).into_values().collect()
        };
        let producer = MemoryProducer::new(self.clone());
        // Entries of a topic deleted meanwhile go with it.
        Ok(producer
            .produce_batch(due)
            .await
            .into_iter()
            .flatten()
            .collect())
    }

    async fn next_due(&self, topic: &Topic) -> Result<Option<SystemTime>, BrokerError> {
        let d = lock(&self.inner.capabilities.delayed);
        Ok(d.topics
            .get(topic)
            .and_then(|e| e.keys().next())
            .map(|(due, _)| *due))
    }
}
