//! # weir
//!
//! Asynchronous message processing for Rust. This facade re-exports Weir's
//! parts behind one feature each, so an application depends on one crate.
//!
//! ```
//! use weir::prelude::*;
//! use weir::memory::MemoryBroker;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! let topic = Topic::new("orders");
//! broker.admin().await?.create_topic(&topic, 4).await?;
//! let producer = broker.producer().await?;
//! let stored = producer.produce(topic.clone().into(), Payload::new("apple").with_key("user-7")).await?;
//! let mut consumer = broker.consumer(ConsumerConfig::new("billing")).await?;
//! consumer.subscribe(&[topic]).await?;
//! # let _ = stored;
//! # Ok::<(), BrokerError>(()) }).unwrap();
//! ```
//!
//! | feature | what it adds | crate |
//! |---|---|---|
//! | `memory` (default) | the embedded broker | `weir-memory` |
//! | `json` | the JSON codec | `weir-core` |
//! | `strategies` | the `StreamProcessor` and processing strategies | `weir-strategies` |
//! | `collector` | the in-process collector queue | `weir-collector` |
//! | `tasks` | the job layer: prioritized queues on any broker | `weir-tasks` |
//! | `redis` (`redis-tls`) | the Redis backend (with `rediss://`) | `weir-redis` |
//! | `kafka` | the Kafka backend (builds librdkafka) | `weir-kafka` |
//! | `full` | all of the above | |
//!
//! The model (topics, partitions, messages, commits) is in [`core`]; see the
//! project's `docs/` folder for guides.

pub use weir_core as core;

/// The embedded memory broker.
#[cfg(feature = "memory")]
pub use weir_memory as memory;

/// Stream consumers built from processing strategies.
#[cfg(feature = "strategies")]
pub use weir_strategies as strategies;

/// The in-process collector queue.
#[cfg(feature = "collector")]
pub use weir_collector as collector;

/// The job layer: prioritized queues on any broker.
#[cfg(feature = "tasks")]
pub use weir_tasks as tasks;

/// The Redis backend.
#[cfg(feature = "redis")]
pub use weir_redis as redis;

/// The Kafka backend.
#[cfg(feature = "kafka")]
pub use weir_kafka as kafka;

/// The names most programs use.
pub mod prelude {
    pub use weir_core::{
        Admin, Broker, BrokerError, Codec, CommitRequest, Consumer, ConsumerConfig, ConsumerEvent,
        Destination, Message, MsgPack, OffsetReset, Partition, Payload, Producer, Topic,
    };
}
