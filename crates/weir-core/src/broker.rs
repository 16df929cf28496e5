//! The broker trait: one handle that makes producers, consumers and an admin.

use std::future::Future;

use crate::{Admin, BrokerError, Consumer, ConsumerConfig, Producer};

/// A connection to a broker (memory, Redis, Kafka, ...), cheap to clone.
///
/// Higher layers (strategies, jobs, services) are written against this trait
/// and never against one backend.
pub trait Broker: Clone + Send + Sync + 'static {
    /// The producer type.
    type Producer: Producer + Clone;
    /// The consumer type.
    type Consumer: Consumer;
    /// The admin type.
    type Admin: Admin;

    /// A short name of the backend, for errors and metrics (`"memory"`, `"redis"`).
    fn name(&self) -> &'static str;

    /// A producer.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Unreachable`] when the broker cannot be reached, or
    /// what the backend reports while setting the producer up.
    fn producer(&self) -> impl Future<Output = Result<Self::Producer, BrokerError>> + Send;

    /// A consumer joining `config.group_id()` (it reads nothing until it subscribes).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Broker, Consumer, ConsumerConfig, ConsumerEvent, Topic};
    ///
    /// async fn read<B: Broker>(broker: &B) -> Result<(), weir_core::BrokerError> {
    ///     let mut consumer = broker.consumer(ConsumerConfig::new("billing")).await?;
    ///     consumer.subscribe(&[Topic::new("orders")]).await?;
    ///     if let ConsumerEvent::Messages(batch) = consumer.poll().await? {
    ///         println!("{} messages", batch.len());
    ///     }
    ///     Ok(())
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`BrokerError::InvalidConfig`] when the backend cannot honour
    /// `config`, [`BrokerError::Unreachable`] when the broker cannot be reached.
    fn consumer(
        &self,
        config: ConsumerConfig,
    ) -> impl Future<Output = Result<Self::Consumer, BrokerError>> + Send;

    /// The topic admin. For one call, [`BrokerExt`](crate::BrokerExt) has
    /// `create_topic` and `delete_topic` on the broker itself.
    ///
    /// # Errors
    ///
    /// [`BrokerError::Unreachable`] when the broker cannot be reached.
    fn admin(&self) -> impl Future<Output = Result<Self::Admin, BrokerError>> + Send;
}
