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
    fn producer(&self) -> impl Future<Output = Result<Self::Producer, BrokerError>> + Send;

    /// A consumer joining `config.group_id()` (it reads nothing until it subscribes).
    fn consumer(
        &self,
        config: ConsumerConfig,
    ) -> impl Future<Output = Result<Self::Consumer, BrokerError>> + Send;

    /// The topic admin.
    fn admin(&self) -> impl Future<Output = Result<Self::Admin, BrokerError>> + Send;
}
