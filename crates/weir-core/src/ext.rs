//! One-step forms of the everyday calls, for every broker and producer.
//!
//! The core traits keep the shape a backend implements: a [`Broker`] hands out
//! an [`Admin`](crate::Admin), a [`Producer`] takes a [`Destination`]. Code
//! that only wants to create a topic or produce to one by name should not
//! have to spell the steps in between, so these traits add the short forms
//! on top, in the way tower's `ServiceExt` does: implemented for every
//! broker and every producer, nothing for a backend to write.
//!
//! A backend may have an inherent method of the same name (the memory
//! broker's `create_topic` is synchronous); Rust calls the inherent one on
//! that concrete type, and the trait's everywhere else, e.g. in code generic
//! over `B: Broker`. `BrokerExt::create_topic(&broker, ..)` picks the
//! trait's explicitly.

use std::future::Future;

use crate::{Admin, Broker, BrokerError, Destination, Payload, Produced, Producer, Topic};

/// Topic administration in one call on the broker, without asking it for an
/// [`Admin`] first.
///
/// # Examples
///
/// ```
/// use weir_core::{Broker, BrokerExt, Topic};
///
/// async fn set_up<B: Broker>(broker: &B) -> Result<(), weir_core::BrokerError> {
///     broker.create_topic("orders", 4).await?;
///     broker.create_topic(&Topic::new("invoices"), 1).await?;
///     broker.delete_topic("orders").await
/// }
/// ```
pub trait BrokerExt: Broker {
    /// Creates `topic` with `partitions` partitions.
    ///
    /// # Errors
    ///
    /// [`BrokerError::TopicExists`] if it exists, [`BrokerError::NoPartitions`]
    /// if `partitions` is 0, or whatever getting the admin fails with.
    fn create_topic(
        &self,
        topic: impl Into<Topic>,
        partitions: u32,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        let topic = topic.into();
        async move { self.admin().await?.create_topic(&topic, partitions).await }
    }

    /// Deletes `topic` and its messages.
    ///
    /// # Errors
    ///
    /// [`BrokerError::UnknownTopic`] if it does not exist, or whatever getting
    /// the admin fails with.
    fn delete_topic(
        &self,
        topic: impl Into<Topic>,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        let topic = topic.into();
        async move { self.admin().await?.delete_topic(&topic).await }
    }
}

impl<B: Broker> BrokerExt for B {}

/// Producing to anything that names a [`Destination`]: a topic's name, a
/// [`Topic`] or a [`Partition`](crate::Partition), borrowed or owned.
///
/// # Examples
///
/// ```
/// use weir_core::{Partition, Payload, Producer, ProducerExt};
///
/// async fn send<P: Producer>(producer: &P) -> Result<(), weir_core::BrokerError> {
///     producer.produce_to("orders", Payload::new("apple").with_key("user-7")).await?;
///     producer.produce_to(Partition::new("orders", 2), Payload::new("pear")).await?;
///     Ok(())
/// }
/// ```
pub trait ProducerExt: Producer {
    /// Appends `payload` to `destination` and resolves once the broker stored
    /// it, with where: [`Producer::produce`] without building the
    /// [`Destination`] by hand.
    ///
    /// # Errors
    ///
    /// As [`Producer::produce`]: e.g. [`BrokerError::UnknownTopic`],
    /// [`BrokerError::PayloadTooLarge`], [`BrokerError::Unreachable`].
    fn produce_to(
        &self,
        destination: impl Into<Destination>,
        payload: Payload,
    ) -> impl Future<Output = Result<Produced, BrokerError>> + Send {
        self.produce(destination.into(), payload)
    }
}

impl<P: Producer> ProducerExt for P {}
