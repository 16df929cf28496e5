//! The producer trait: append payloads to a topic or a partition.

use std::future::Future;

use crate::{BrokerError, Partition, Payload, Topic};

/// Where to produce a payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Any partition of the topic: chosen by the payload's key when it has one
    /// (the same key always lands on the same partition), spread otherwise.
    Topic(Topic),
    /// Exactly this partition.
    Partition(Partition),
}

impl Destination {
    /// The topic produced to.
    pub fn topic(&self) -> &Topic {
        match self {
            Destination::Topic(t) => t,
            Destination::Partition(p) => &p.topic,
        }
    }
}

impl From<Topic> for Destination {
    fn from(t: Topic) -> Self {
        Destination::Topic(t)
    }
}

impl From<&Topic> for Destination {
    fn from(t: &Topic) -> Self {
        Destination::Topic(t.clone())
    }
}

impl From<&str> for Destination {
    fn from(name: &str) -> Self {
        Destination::Topic(Topic::new(name))
    }
}

impl From<String> for Destination {
    fn from(name: String) -> Self {
        Destination::Topic(Topic::new(name))
    }
}

impl From<Partition> for Destination {
    fn from(p: Partition) -> Self {
        Destination::Partition(p)
    }
}

impl From<&Partition> for Destination {
    fn from(p: &Partition) -> Self {
        Destination::Partition(p.clone())
    }
}

/// Where a produced payload was stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Produced {
    /// The partition it went to.
    pub partition: Partition,
    /// Its offset there.
    pub offset: u64,
}

/// Appends payloads to a broker's partitions.
///
/// Cheap to share: implementations are `Send + Sync` and take `&self`, so one
/// producer serves many tasks.
pub trait Producer: Send + Sync + 'static {
    /// Appends `payload` and resolves once the broker stored it, with where.
    ///
    /// [`ProducerExt::produce_to`](crate::ProducerExt::produce_to) takes a
    /// topic's name, a [`Topic`] or a [`Partition`] instead of a [`Destination`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Destination, Payload, Producer, Topic};
    ///
    /// async fn send<P: Producer>(producer: &P) -> Result<(), weir_core::BrokerError> {
    ///     let orders = Destination::Topic(Topic::new("orders"));
    ///     let stored = producer.produce(orders, Payload::new("apple").with_key("user-7")).await?;
    ///     println!("stored at {} offset {}", stored.partition, stored.offset);
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokerError::UnknownTopic`] or [`BrokerError::UnknownPartition`] when
    /// the destination does not exist, [`BrokerError::PayloadTooLarge`] above
    /// the broker's limit, [`BrokerError::Unreachable`] when the broker cannot
    /// be reached, [`BrokerError::Closed`] after the producer was closed.
    fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> impl Future<Output = Result<Produced, BrokerError>> + Send;

    /// Appends many payloads, in order per destination partition, and resolves
    /// with each one's position (or error), in the order given.
    ///
    /// Backends override this to batch or pipeline the writes.
    fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> impl Future<Output = Vec<Result<Produced, BrokerError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(batch.len());
            for (d, p) in batch {
                out.push(self.produce(d, p).await);
            }
            out
        }
    }

    /// Resolves once everything produced so far is stored.
    fn flush(&self) -> impl Future<Output = Result<(), BrokerError>> + Send {
        async { Ok(()) }
    }
}
