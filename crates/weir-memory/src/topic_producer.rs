//! A producer bound to one topic: the memory broker's topic handle, as
//! librdkafka has its `rd_kafka_topic_t`.
//!
//! [`Producer::produce`](weir_core::Producer::produce) looks its topic's
//! name up in the broker's topic map, under the map's read lock, at every
//! call, and answers through a future. A [`TopicProducer`] holds the topic
//! itself, so a call is the append alone, and answers at once: the memory
//! broker never waits. Single calls run a fifth to a third faster this way (see
//! `docs/benchmarks.md`).
//!
//! A deleted topic is noticed at the next call, which then looks the name
//! up again as `produce` does: it reaches a topic created again under the
//! same name, or fails with [`BrokerError::UnknownTopic`]. A call racing
//! with the deletion may append just before it, as a `produce` call may.

use std::sync::Arc;

use weir_core::{BrokerError, Destination, Payload, Produced, Topic};

use crate::MemoryProducer;
use crate::topic::TopicState;

/// Appends to one topic of the memory broker; made by
/// [`MemoryProducer::topic`]. Clones share the topic.
///
/// ```
/// use weir_core::{Broker, Payload, Topic};
/// use weir_memory::MemoryBroker;
///
/// # async fn example() -> Result<(), weir_core::BrokerError> {
/// let broker = MemoryBroker::new();
/// let orders = Topic::new("orders");
/// broker.create_topic(&orders, 4)?;
/// let orders_out = broker.producer().await?.topic(&orders)?;
/// let stored = orders_out.produce(Payload::new("apple").with_key("user-7"))?;
/// let first = orders_out.produce_to(0, Payload::new("pear"))?;
/// assert_eq!((stored.partition.topic, first.offset), (orders, 0));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct TopicProducer {
    pub(crate) producer: MemoryProducer,
    pub(crate) state: Arc<TopicState>,
}

impl TopicProducer {
    /// The topic it appends to.
    pub fn topic(&self) -> &Topic {
        &self.state.topic
    }

    /// Appends `payload` to the partition its key chooses, or spread over
    /// the partitions without a key, as [`Destination::Topic`] does.
    ///
    /// # Errors
    ///
    /// [`BrokerError::PayloadTooLarge`] above the broker's limit;
    /// [`BrokerError::UnknownTopic`] once the topic is deleted (and not
    /// created again).
    #[inline]
    pub fn produce(&self, payload: Payload) -> Result<Produced, BrokerError> {
        self.send(Destination::Topic(self.state.topic.clone()), payload)
    }

    /// Appends `payload` to partition `index`.
    ///
    /// # Errors
    ///
    /// [`BrokerError::UnknownPartition`] if the topic has no such
    /// partition; otherwise as [`TopicProducer::produce`].
    #[inline]
    pub fn produce_to(&self, index: u32, payload: Payload) -> Result<Produced, BrokerError> {
        self.send(
            Destination::Partition(self.state.topic.partition(index)),
            payload,
        )
    }

    #[inline]
    fn send(&self, destination: Destination, payload: Payload) -> Result<Produced, BrokerError> {
        if self.state.is_deleted() {
            return self.producer.produce_now(destination, payload);
        }
        self.producer.append(&self.state, &destination, payload)
    }
}

#[cfg(test)]
mod tests {
    use weir_core::{Broker, BrokerError, Consumer, ConsumerConfig, ConsumerEvent, Producer};

    use super::*;
    use crate::MemoryBroker;

    /// A topic "orders" of `partitions` on `broker`, a producer, and a
    /// handle on the topic.
    async fn orders(
        broker: &MemoryBroker,
        partitions: u32,
    ) -> (Topic, MemoryProducer, TopicProducer) {
        let topic = Topic::new("orders");
        broker.create_topic(&topic, partitions).expect("created");
        let producer = broker.producer().await.expect("producer");
        let handle = producer.topic(&topic).expect("handle");
        (topic, producer, handle)
    }

    #[tokio::test]
    async fn it_appends_where_produce_would_and_consumers_read_it() {
        let broker = MemoryBroker::new();
        let (topic, producer, handle) = orders(&broker, 4).await;
        let keyed = || Payload::new("v").with_key("user-7");
        let by_handle = handle.produce(keyed()).expect("by handle");
        let by_trait = producer
            .produce(Destination::Topic(topic.clone()), keyed())
            .await
            .expect("by trait");
        assert_eq!(by_handle.partition, by_trait.partition);
        assert_eq!((by_handle.offset, by_trait.offset), (0, 1));
        let other = (by_handle.partition.index + 1) % 4;
        let third = handle
            .produce_to(other, Payload::new("x"))
            .expect("to another");
        assert_eq!((third.partition.index, third.offset), (other, 0));
        let mut consumer = broker
            .consumer(ConsumerConfig::new("g"))
            .await
            .expect("consumer");
        consumer.subscribe(&[topic]).await.expect("subscribe");
        let mut read = 0;
        while read < 3 {
            if let ConsumerEvent::Messages(batch) = consumer.poll().await.expect("poll") {
                read += batch.len();
            }
        }
        assert_eq!(read, 3);
    }

    #[tokio::test]
    async fn bad_calls_are_the_errors_produce_gives() {
        let broker = MemoryBroker::builder().max_payload_bytes(4).build();
        let (_, producer, handle) = orders(&broker, 2).await;
        assert!(matches!(
            producer.topic(&Topic::new("none")),
            Err(BrokerError::UnknownTopic { .. })
        ));
        assert!(matches!(
            handle.produce_to(2, Payload::new("x")),
            Err(BrokerError::UnknownPartition { partitions: 2, .. })
        ));
        assert!(matches!(
            handle.produce(Payload::new("too large")),
            Err(BrokerError::PayloadTooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_deleted_topic_is_looked_up_again() {
        let broker = MemoryBroker::new();
        let (topic, producer, handle) = orders(&broker, 1).await;
        handle.produce(Payload::new("a")).expect("before");
        handle.produce(Payload::new("b")).expect("before");
        broker.delete_topic(&topic).expect("deleted");
        assert!(matches!(
            handle.produce(Payload::new("lost?")),
            Err(BrokerError::UnknownTopic { .. })
        ));
        broker.create_topic(&topic, 1).expect("created again");
        // The new topic's log, not the deleted one's: it starts at 0.
        assert_eq!(handle.produce(Payload::new("c")).expect("again").offset, 0);
        let fresh = producer.topic(&topic).expect("fresh handle");
        assert_eq!(fresh.produce(Payload::new("d")).expect("fresh").offset, 1);
    }
}
