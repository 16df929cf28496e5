//! Producing to the memory broker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use weir_core::{BrokerError, Destination, Payload, Produced, Producer, Topic, check_payload_size};

use crate::MemoryBroker;
use crate::topic::TopicState;

/// Appends payloads to the memory broker's partitions. Clones share the broker.
#[derive(Clone, Debug)]
pub struct MemoryProducer {
    broker: MemoryBroker,
}

impl MemoryProducer {
    pub(crate) fn new(broker: MemoryBroker) -> Self {
        MemoryProducer { broker }
    }

    /// Appends without waking consumers; the caller wakes them.
    fn append(
        &self,
        topic: &TopicState,
        destination: &Destination,
        payload: Payload,
        timestamp: SystemTime,
    ) -> Result<Produced, BrokerError> {
        check_payload_size(
            &topic.topic,
            &payload,
            self.broker.inner.max_payload_bytes(),
        )?;
        // A named partition is checked by `append` itself (an index past
        // the end finds no log), so only a topic-wide one needs choosing.
        let index = match destination {
            Destination::Topic(_) => topic.choose(&payload)?,
            Destination::Partition(p) => p.index,
        };
        let partition = topic.topic.partition(index);
        match topic.append(partition.index, payload, timestamp) {
            Some(offset) => Ok(Produced { partition, offset }),
            None => Err(BrokerError::UnknownPartition {
                partition,
                partitions: topic.partition_count(),
            }),
        }
    }
}

impl Producer for MemoryProducer {
    async fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let topic = self.broker.inner.topic(destination.topic())?;
        let out = self.append(&topic, &destination, payload, SystemTime::now());
        if out.is_ok() {
            topic.wake();
        }
        out
    }

    async fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> Vec<Result<Produced, BrokerError>> {
        let mut topics: HashMap<Topic, Arc<TopicState>> = HashMap::new();
        let mut out = Vec::with_capacity(batch.len());
        // One call stores its messages at one time.
        let now = SystemTime::now();
        for (destination, payload) in batch {
            let t = destination.topic();
            let state = match topics.get(t) {
                Some(s) => Ok(Arc::clone(s)),
                None => self.broker.inner.topic(t).inspect(|s| {
                    topics.insert(t.clone(), Arc::clone(s));
                }),
            };
            out.push(state.and_then(|s| self.append(&s, &destination, payload, now)));
        }
        for state in topics.values() {
            state.wake();
        }
        out
    }
}
