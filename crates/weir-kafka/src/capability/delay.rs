//! Delayed delivery on Kafka: an entry waits on the delay topic beside its
//! topic (`{topic}.delay`, created on demand with as many partitions as the
//! topic), with its due time and destination in headers (see
//! `delay_entry`); a mover per topic (see `mover`) appends what is due.
//!
//! An entry for a named partition waits on the delay partition of the same
//! index (modulo the delay topic's partition count); any other waits where
//! the producer's partitioner puts it (by key, when it has one).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError};
use std::time::SystemTime;

use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};
use weir_core::capability::DelayedDelivery;
use weir_core::{
    Admin, Broker, BrokerError, Destination, Payload, Produced, Producer, Topic, check_partition,
    check_payload_size,
};

use super::delay_entry;
use super::mover::{Mover, group_of};
use crate::KafkaBroker;

/// One mover per topic, made on first use; calls take it in turns.
type Shared = Arc<Mutex<Option<Mover>>>;

/// The movers of a broker handle, by topic.
#[derive(Debug, Default)]
pub(crate) struct Movers(std::sync::Mutex<HashMap<Topic, Shared>>);

impl Movers {
    fn of(&self, topic: &Topic) -> Shared {
        let mut movers = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(movers.entry(topic.clone()).or_default())
    }

    /// Drops the mover of `topic` (a call using it finishes first).
    pub(crate) fn forget(&self, topic: &Topic) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(topic);
    }
}

/// A delay topic and the partition counts of it and its topic.
struct DelayTopic {
    topic: Topic,
    partitions: u32,
    target_partitions: u32,
}

impl KafkaBroker {
    /// The delay topic of `topic` (which must exist), created if needed.
    async fn delay_topic(&self, topic: &Topic) -> Result<DelayTopic, BrokerError> {
        let target_partitions = self.producer().await?.partition_count(topic).await?;
        let delay = super::delay_topic_of(topic, self.config().capabilities());
        let partitions = self
            .capabilities()
            .topics
            .ensure(self, &delay, target_partitions, &[])
            .await?;
        Ok(DelayTopic {
            topic: delay,
            partitions,
            target_partitions,
        })
    }

    /// The mover of `topic` (made on first use), once it has read its
    /// delay topic to the end; other calls for the topic wait their turn.
    async fn mover(
        &self,
        topic: &Topic,
    ) -> Result<OwnedMappedMutexGuard<Option<Mover>, Mover>, BrokerError> {
        let mut slot = self.capabilities().movers.of(topic).lock_owned().await;
        if slot.is_none() {
            let delay = self.delay_topic(topic).await?;
            *slot = Some(Mover::start(self, topic.clone(), delay.topic, delay.partitions).await?);
        }
        let mut mover = OwnedMutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| BrokerError::Closed("delay mover"))?;
        mover.catch_up(self).await?;
        Ok(mover)
    }
}

impl DelayedDelivery for KafkaBroker {
    /// Produces the entry to the delay topic (created if needed) and waits
    /// for its acknowledgement.
    async fn produce_at(
        &self,
        destination: Destination,
        payload: Payload,
        due: SystemTime,
    ) -> Result<(), BrokerError> {
        let topic = destination.topic().clone();
        let delay = self.delay_topic(&topic).await?;
        if let Destination::Partition(p) = &destination {
            check_partition(p, delay.target_partitions)?;
        }
        check_payload_size(&topic, &payload, self.config().max_message_bytes())?;
        let waits_at = match &destination {
            Destination::Partition(p) => {
                Destination::Partition(delay.topic.partition(p.index % delay.partitions.max(1)))
            }
            Destination::Topic(_) => Destination::Topic(delay.topic),
        };
        let entry = delay_entry::wrap(&destination, payload, due);
        let produced = self.producer().await?.produce(waits_at, entry).await;
        self.capabilities().note(produced)
    }

    /// Reads the delay topic's partitions this handle owns to their end,
    /// then appends what is due by the time of the call. The first call for
    /// a topic joins the movers' group (seconds, on some brokers).
    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        let now = SystemTime::now();
        self.mover(topic).await?.move_due(now).await
    }

    /// The entries past the movers' committed offsets on the delay topic:
    /// not moved yet (or moved a moment ago and not committed yet).
    async fn scheduled(&self, topic: &Topic) -> Result<Option<u64>, BrokerError> {
        self.producer().await?.partition_count(topic).await?;
        let delay = super::delay_topic_of(topic, self.config().capabilities());
        let admin = self.admin().await?;
        let offsets = match admin.offsets(&delay, Some(&group_of(topic))).await {
            Ok(offsets) => offsets,
            // Nothing ever waited for the topic.
            Err(BrokerError::UnknownTopic { .. }) => return Ok(Some(0)),
            Err(e) => return Err(e),
        };
        let written = &self.capabilities().written;
        Ok(Some(
            offsets
                .iter()
                .map(|o| {
                    let end = o.end.max(written.end(&o.partition));
                    let from = o.committed.unwrap_or(o.start).max(o.start);
                    end.saturating_sub(from)
                })
                .sum(),
        ))
    }

    /// The earliest due time among the entries this handle's mover holds,
    /// after reading its partitions to their end: the partitions other
    /// processes move are theirs to tell.
    async fn next_due(&self, topic: &Topic) -> Result<Option<SystemTime>, BrokerError> {
        Ok(self.mover(topic).await?.next_due())
    }
}
