//! # weir-memory
//!
//! Weir's embedded broker: real partitions, consumer groups, committed
//! offsets, pause/resume, seek, retention and rebalancing, with no server. It
//! is the default backend, not a mock: it passes the same `weir-testkit`
//! conformance suite as Redis and Kafka.
//!
//! ```
//! use weir_core::{Admin, Broker, Consumer, ConsumerConfig, ConsumerEvent, Payload, Producer, Topic};
//! use weir_memory::MemoryBroker;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! let topic = Topic::new("greetings");
//! broker.admin().await?.create_topic(&topic, 2).await?;
//! broker.producer().await?.produce(topic.clone().into(), Payload::new("hello")).await?;
//! let mut consumer = broker.consumer(ConsumerConfig::new("readers")).await?;
//! consumer.subscribe(&[topic]).await?;
//! assert!(matches!(consumer.poll().await?, ConsumerEvent::Assigned(_)));
//! assert!(matches!(consumer.poll().await?, ConsumerEvent::Messages(m) if &m[0].payload.value[..] == b"hello"));
//! # Ok::<(), weir_core::BrokerError>(()) }).unwrap();
//! ```
//!
//! Groups divide partitions with an [`Assignor`] (range or round-robin). A
//! partition changes owner in two steps: the old owner sees `Revoked`, may
//! still commit, and hands it over on its next poll (or when it leaves, or
//! after the rebalance timeout); only then does the new owner see `Assigned`.
//! Waiting consumers are woken when data arrives; nothing polls on a timer.
//!
//! Beside it: `weir-core` (the traits it implements), `weir-testkit` (the suite it passes).

mod admin;
mod assign;
mod broker;
mod capability;
mod consumer;
mod group;
mod log;
mod producer;
mod topic;

pub use admin::MemoryAdmin;
pub use assign::Assignor;
pub use broker::{MemoryBroker, MemoryBrokerBuilder};
pub use capability::MemorySubscription;
pub use consumer::MemoryConsumer;
pub use log::Retention;
pub use producer::MemoryProducer;
