//! Producing to the memory broker.
//!
//! A single `produce` does its work while the topic map is read, rather than
//! take a reference count of the topic for the call. `produce_batch` looks
//! each topic up once, reads the clock once, and locks each partition once
//! (see [`PartitionLocks`]), appending in the batch's order. A
//! [`TopicProducer`] skips the look-up: it holds its topic.

use std::sync::Arc;

use weir_core::{BrokerError, Destination, Payload, Produced, Producer, Topic, check_payload_size};

use crate::MemoryBroker;
use crate::locks::PartitionLocks;
use crate::stamp;
use crate::topic::TopicState;
use crate::topic_producer::TopicProducer;

/// Appends payloads to the memory broker's partitions. Clones share the broker.
#[derive(Clone, Debug)]
pub struct MemoryProducer {
    broker: MemoryBroker,
}

impl MemoryProducer {
    pub(crate) fn new(broker: MemoryBroker) -> Self {
        MemoryProducer { broker }
    }

    /// The partition of `topic` that `payload` goes to, checked.
    fn place(
        &self,
        topic: &TopicState,
        destination: &Destination,
        payload: &Payload,
    ) -> Result<u32, BrokerError> {
        check_payload_size(&topic.topic, payload, self.broker.inner.max_payload_bytes())?;
        match destination {
            Destination::Topic(_) => topic.choose(payload),
            Destination::Partition(p) if p.index < topic.partition_count() => Ok(p.index),
            Destination::Partition(p) => Err(unknown_partition(topic, p.index)),
        }
    }

    /// A producer for `topic` alone, which skips the look-up of the topic's
    /// name in every call (see [`TopicProducer`]).
    ///
    /// # Errors
    ///
    /// [`BrokerError::UnknownTopic`] if there is no such topic.
    pub fn topic(&self, topic: &Topic) -> Result<TopicProducer, BrokerError> {
        Ok(TopicProducer {
            producer: self.clone(),
            state: self.broker.inner.topic(topic)?,
        })
    }

    /// Appends `payload` now, looking its topic up while the topic map is
    /// read.
    #[inline]
    pub(crate) fn produce_now(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        self.broker
            .inner
            .with_topic(destination.topic(), |topic| {
                self.append(topic, &destination, payload)
            })
            .and_then(|r| r)
    }

    /// Appends `payload` to `topic`, which `destination` names.
    #[inline]
    pub(crate) fn append(
        &self,
        topic: &TopicState,
        destination: &Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let index = self.place(topic, destination, &payload)?;
        let offset = topic
            .append(index, payload, stamp::now())
            .ok_or_else(|| unknown_partition(topic, index))?;
        topic.wake();
        Ok(Produced {
            partition: topic.topic.partition(index),
            offset,
        })
    }
}

fn unknown_partition(topic: &TopicState, index: u32) -> BrokerError {
    BrokerError::UnknownPartition {
        partition: topic.topic.partition(index),
        partitions: topic.partition_count(),
    }
}

impl Producer for MemoryProducer {
    async fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        self.produce_now(destination, payload)
    }

    async fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> Vec<Result<Produced, BrokerError>> {
        // The batch's topics, looked up once each (most batches have one).
        let mut topics: Vec<Arc<TopicState>> = Vec::new();
        // Per message, its topic's place in `topics` and its partition.
        let placed: Vec<Result<(usize, u32), BrokerError>> = batch
            .iter()
            .map(|(destination, payload)| {
                let name = destination.topic();
                let t = match topics.iter().rposition(|t| t.topic == *name) {
                    Some(t) => t,
                    None => {
                        topics.push(self.broker.inner.topic(name)?);
                        topics.len() - 1
                    }
                };
                Ok((t, self.place(&topics[t], destination, payload)?))
            })
            .collect();
        let now = stamp::now();
        let mut locks = PartitionLocks::lock(&topics, placed.iter().flatten().copied());
        let out = batch
            .into_iter()
            .zip(placed)
            .map(|((_, payload), placed)| {
                let (t, partition) = placed?;
                let topic = &topics[t];
                // `place` checked the partition, so it is locked.
                let offset = locks
                    .append(t, partition, payload, now)
                    .ok_or_else(|| unknown_partition(topic, partition))?;
                Ok(Produced {
                    partition: topic.topic.partition(partition),
                    offset,
                })
            })
            .collect();
        drop(locks);
        for topic in &topics {
            topic.wake();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use weir_core::{Broker, Topic};

    use super::*;

    #[tokio::test]
    async fn a_batch_answers_in_its_order_and_keeps_each_partitions_order() {
        let broker = MemoryBroker::builder().max_payload_bytes(10).build();
        let (a, b) = (Topic::new("a"), Topic::new("b"));
        broker.create_topic(&a, 2).expect("a");
        broker.create_topic(&b, 1).expect("b");
        let to = |t: &Topic, i: u32| Destination::Partition(t.partition(i));
        let batch = vec![
            (to(&a, 1), Payload::new("a1-0")),
            (to(&b, 0), Payload::new("b0-0")),
            (Destination::Topic(Topic::new("none")), Payload::new("x")),
            (to(&a, 0), Payload::new("a0-0")),
            (to(&a, 1), Payload::new("far too large")),
            (to(&a, 7), Payload::new("x")),
            (to(&a, 1), Payload::new("a1-1")),
            (to(&b, 0), Payload::new("b0-1")),
        ];
        let producer = broker.producer().await.expect("producer");
        let got: Vec<Result<(String, u64), &str>> = producer
            .produce_batch(batch)
            .await
            .into_iter()
            .map(|r| match r {
                Ok(p) => Ok((p.partition.to_string(), p.offset)),
                Err(BrokerError::UnknownTopic { .. }) => Err("unknown topic"),
                Err(BrokerError::PayloadTooLarge { .. }) => Err("too large"),
                Err(BrokerError::UnknownPartition { .. }) => Err("unknown partition"),
                Err(_) => Err("other"),
            })
            .collect();
        let ok = |p: &str, o| Ok((p.to_owned(), o));
        assert_eq!(
            got,
            vec![
                ok("a/1", 0),
                ok("b/0", 0),
                Err("unknown topic"),
                ok("a/0", 0),
                Err("too large"),
                Err("unknown partition"),
                ok("a/1", 1),
                ok("b/0", 1),
            ]
        );
        let producer_again = producer.produce(to(&a, 1), Payload::new("a1-2")).await;
        assert_eq!(producer_again.map(|p| p.offset).ok(), Some(2));
    }
}
