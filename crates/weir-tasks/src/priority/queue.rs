//! Making prioritized queues, producing to them and consuming from them, on
//! any broker.

use std::future::Future;

use weir_core::{
    Admin, Broker, BrokerError, Consumer, ConsumerConfig, Destination, Payload, Produced, Producer,
    Topic,
};

use super::levels::level_topic;
use super::{PriorityConsumer, PriorityLevels};

/// Prioritized queues on any [`Broker`]: one topic per level, read by a
/// [`PriorityConsumer`].
///
/// Every broker has these methods (the trait is implemented for all of
/// them), because they need nothing but topics, producers and consumers:
/// priorities are served the same way on memory, Redis and Kafka, and a new
/// backend gets them for free. Bring the trait into scope to call them.
///
/// ```
/// use weir_core::{ConsumerConfig, Payload, Topic};
/// use weir_memory::MemoryBroker;
/// use weir_tasks::priority::{PriorityLevels, PriorityQueues};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let broker = MemoryBroker::new();
/// let (queue, levels) = (Topic::new("jobs"), PriorityLevels::high_medium_low());
/// broker.create_prioritized(&queue, 1, &levels).await?;
/// broker.produce_prioritized(&queue, 0, Payload::new("urgent")).await?;
/// let _worker = broker
///     .prioritized_consumer(ConsumerConfig::new("workers"), &queue, &levels)
///     .await?;
/// # Ok::<(), weir_core::BrokerError>(()) }).unwrap();
/// ```
pub trait PriorityQueues: Broker {
    /// Creates the topic of every level of `queue`, each with `partitions` partitions.
    fn create_prioritized(
        &self,
        queue: &Topic,
        partitions: u32,
        levels: &PriorityLevels,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        async move {
            let admin = self.admin().await?;
            for topic in levels.topics(queue) {
                admin.create_topic(&topic, partitions).await?;
            }
            Ok(())
        }
    }

    /// Produces `payload` at `level` (0 is the highest) of `queue`; a level
    /// the queue lacks is an unknown topic.
    fn produce_prioritized(
        &self,
        queue: &Topic,
        level: usize,
        payload: Payload,
    ) -> impl Future<Output = Result<Produced, BrokerError>> + Send {
        let destination = Destination::Topic(level_topic(queue, level));
        async move { self.producer().await?.produce(destination, payload).await }
    }

    /// A consumer of `queue` (already subscribed to all its levels) that
    /// serves the levels by weight, `config.max_poll_records()` at a time.
    fn prioritized_consumer(
        &self,
        config: ConsumerConfig,
        queue: &Topic,
        levels: &PriorityLevels,
    ) -> impl Future<Output = Result<PriorityConsumer<Self::Consumer>, BrokerError>> + Send {
        let max = config.max_poll_records();
        let (queue, levels) = (queue.clone(), levels.clone());
        async move {
            let inner = self.consumer(config).await?;
            let mut c = PriorityConsumer::new(inner, levels, max);
            c.subscribe(&[queue]).await?;
            Ok(c)
        }
    }
}

impl<B: Broker> PriorityQueues for B {}
