#![doc = include_str!("../README.md")]
//!
//! The model (topics, partitions, messages, commits) is in [`core`]; the
//! [`prelude`] holds the names most programs use, with [`BrokerExt`](core::BrokerExt)
//! and [`ProducerExt`](core::ProducerExt) for the one-step forms of the
//! everyday calls.

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

/// The job layer: jobs, actors, routers and workers on any broker with the job capabilities.
#[cfg(feature = "tasks")]
pub use weir_tasks as tasks;

/// The service base: lifecycle, request/response, config push, metrics,
/// health, CLI and supervised restarts.
#[cfg(feature = "service")]
pub use weir_service as service;

/// The Redis backend.
#[cfg(feature = "redis")]
pub use weir_redis as redis;

/// The Kafka backend.
#[cfg(feature = "kafka")]
pub use weir_kafka as kafka;

/// The names most programs use.
pub mod prelude {
    pub use weir_core::{
        Admin, Broker, BrokerError, BrokerExt, Codec, CommitRequest, Consumer, ConsumerConfig,
        ConsumerEvent, Destination, Message, MsgPack, OffsetReset, Partition, Payload, Producer,
        ProducerExt, Topic,
    };
}
