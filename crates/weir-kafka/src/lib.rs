//! # weir-kafka
//!
//! Weir's Kafka backend: the `weir-core` broker traits on
//! [rdkafka](https://docs.rs/rdkafka) with its vendored librdkafka, for
//! running one consumer group's partitions over many worker processes.
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
//! - Errors are `weir_core::BrokerError`: an unreachable cluster, an unknown
//!   topic, a refused authorization and an oversized message are distinct.
//!
//! ```no_run
//! use weir_core::{Admin, Broker, Consumer, ConsumerConfig, ConsumerEvent, Payload, Producer, Topic};
//! use weir_kafka::{KafkaBroker, KafkaConfig};
//!
//! # async fn run() -> Result<(), weir_core::BrokerError> {
//! let config = KafkaConfig::builder("127.0.0.1:9092").client_id("billing").build()?;
//! let broker = KafkaBroker::new(config);
//! let orders = Topic::new("orders");
//! broker.admin().await?.create_topic(&orders, 4).await?;
//! let sent = broker.producer().await?.produce(orders.clone().into(), Payload::new("apple")).await?;
//! let mut consumer = broker.consumer(ConsumerConfig::new("billing")).await?;
//! consumer.subscribe(&[orders]).await?;
//! if let ConsumerEvent::Messages(batch) = consumer.poll().await? {
//!     let done = batch.iter().map(|m| (m.partition.clone(), m.next_offset())).collect();
//!     consumer.commit(&done).await?;
//! }
//! # let _ = sent; Ok(()) }
//! ```
//!
//! A dead-letter policy needs no Kafka-specific producer: [`KafkaProducer`]
//! carries headers unchanged, so the original topic, partition and offset a
//! policy puts in them reach the dead-letter topic.
//!
//! Feature flags: none. Building needs `cmake`, a C compiler, zlib and the
//! curl headers (`cargo xtask test` installs them on Debian).
//!
//! Beside it: `weir-core` (the traits), `weir-memory` (the embedded backend
//! with the same semantics), `weir-testkit` (the conformance suite this crate
//! passes against tansu, a Kafka-compatible broker). More in `docs/kafka.md`.

mod admin;
mod arena;
mod broker;
mod config;
mod consumer;
mod error;
mod inbox;
mod metadata;
mod producer;
mod rebalance;

pub use admin::KafkaAdmin;
pub use broker::KafkaBroker;
pub use config::{KafkaConfig, KafkaConfigBuilder, RebalanceProtocol};
pub use consumer::KafkaConsumer;
pub use producer::KafkaProducer;
