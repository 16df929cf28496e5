//! Delayed delivery in memory: a heap of due entries per topic; moving takes
//! them out under one lock, so each moves exactly once.
//!
//! Due times are kept on tokio's clock, as dedup and results expire on it:
//! a due time is turned into "that long from now" when it is given, so a
//! test that pauses and advances the clock sees delayed entries fall due as
//! its time moves (wall-clock due times are as before on a running clock).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use tokio::time::Instant;

use weir_core::capability::DelayedDelivery;
use weir_core::{BrokerError, Destination, Payload, Produced, Producer, Topic};

use super::lock;
use crate::{MemoryBroker, MemoryProducer};

/// One topic's waiting entries, by (due, arrival).
type Waiting = BTreeMap<(Instant, u64), (Destination, Payload)>;

/// `due` on tokio's clock.
fn instant_of(due: SystemTime) -> Instant {
    let now = Instant::now();
    match due.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(past) => now.checked_sub(past.duration()).unwrap_or(now),
    }
}

/// `due` on the wall clock.
fn system_time_of(due: Instant) -> SystemTime {
    let now = Instant::now();
    if due >= now {
        SystemTime::now() + (due - now)
    } else {
        SystemTime::now()
            .checked_sub(now - due)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

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
            .insert((instant_of(due), seq), (destination, payload));
        Ok(())
    }

    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        self.inner.topic(topic)?;
        let now = Instant::now();
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
            .map(|(due, _)| system_time_of(*due)))
    }

    async fn scheduled(&self, topic: &Topic) -> Result<Option<u64>, BrokerError> {
        let d = lock(&self.inner.capabilities.delayed);
        Ok(Some(d.topics.get(topic).map_or(0, |e| e.len() as u64)))
    }
}
