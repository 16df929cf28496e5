#![doc = include_str!("../README.md")]
//!
//! ## How it works
//!
//! - [`KafkaBroker`] is the handle: [`KafkaConfig`] says where the cluster is
//!   and passes any librdkafka setting through (SASL, TLS, timeouts). Like
//!   every Weir config it comes from a builder whose setters share the
//!   getters' names, checked in `build()`.
//! - [`KafkaConsumer`] commits only when asked, maps rdkafka's rebalance
//!   callbacks (eager or cooperative-sticky) onto `Assigned`/`Revoked`
//!   events, and lets a revoked partition be committed until the next poll.
//! - [`KafkaProducer`] resolves each message with its partition and offset,
//!   bounds the messages in flight and flushes on close.
//! - [`KafkaAdmin`] creates, lists and deletes topics.
//! - The job capabilities of `weir_core::capability` (so `weir-tasks` runs
//!   on Kafka): delays on a delay topic beside each topic, results on a
//!   compacted topic read into memory, events on one topic read from its
//!   end, and dedup and permits refused with `BrokerError::Unsupported`;
//!   [`CapabilityConfig`] names their topics.
//! - Errors are `weir_core::BrokerError`: an unreachable cluster, an unknown
//!   topic, a refused authorization and an oversized message are distinct.
//!
//! A dead-letter policy needs no Kafka-specific producer: [`KafkaProducer`]
//! carries headers unchanged, so the original topic, partition and offset a
//! policy puts in them reach the dead-letter topic.

mod admin;
mod arena;
mod broker;
mod capability;
mod config;
mod consumer;
mod convert;
mod error;
mod group_stats;
mod inbox;
mod metadata;
mod producer;
mod rebalance;

pub use admin::KafkaAdmin;
pub use broker::KafkaBroker;
pub use capability::{
    CapabilityConfig, CapabilityConfigBuilder, KafkaCapabilityError, KafkaSubscription,
};
pub use config::{KafkaConfig, KafkaConfigBuilder, RebalanceProtocol, is_secret_setting};
pub use consumer::KafkaConsumer;
pub use producer::KafkaProducer;
