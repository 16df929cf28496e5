//! # weir-redis
//!
//! Weir's Redis backend: the broker traits of `weir-core` on a Redis server
//! (7.0 or newer), faithful to the core model, plus the capabilities the jobs
//! layer needs.
//!
//! - A topic is a metadata hash (its partition count) and one Redis Stream per
//!   partition. A stream entry holds a run of messages (what one produce call
//!   sent to the partition), so the server works per run, not per message.
//!   Offsets are dense: a Lua script numbers each run atomically, and an
//!   entry's id is `0-{offset after its last message}` (`src/offsets.rs`).
//! - Consumer groups are Redis consumer groups read with `XREADGROUP`, on a
//!   connection per consumer. Members heartbeat; partitions are assigned by
//!   range and held under leases, so a partition never has two owners. Commits
//!   store the offset (it survives restarts) and acknowledge what it covers.
//! - A member that dies leaves its read-but-uncommitted entries pending; the
//!   next owner reclaims them (`XAUTOCLAIM`) and they come again, with the
//!   [`DELIVERY_COUNT_HEADER`] telling how often they came.
//! - The connection reconnects; calls retry for a bounded time and then fail
//!   with `BrokerError::Unreachable`.
//! - Capabilities: delayed delivery (a sorted set moved by a Lua script),
//!   dedup (`SET NX PX`), a result store, and events (pub/sub). Prioritized
//!   queues need no capability: `weir-tasks` serves them on any broker.
//!
//! ```no_run
//! use weir_core::{Admin, Broker, Consumer, ConsumerConfig, ConsumerEvent, Payload, Producer, Topic};
//! use weir_redis::{RedisBroker, RedisConfig};
//!
//! # async fn demo() -> Result<(), weir_core::BrokerError> {
//! let config = RedisConfig::builder("redis://127.0.0.1:6379").key_prefix("shop").build()?;
//! let broker = RedisBroker::connect(config).await?;
//! let topic = Topic::new("orders");
//! broker.admin().await?.create_topic(&topic, 4).await?;
//! broker.producer().await?.produce(topic.clone().into(), Payload::new("apple")).await?;
//! let mut consumer = broker.consumer(ConsumerConfig::new("billing")).await?;
//! consumer.subscribe(&[topic]).await?;
//! while let ConsumerEvent::Assigned(_) = consumer.poll().await? {}
//! # Ok(()) }
//! ```
//!
//! Feature flags: `tls` accepts `rediss://` URLs (rustls, verifying the
//! server against the machine's CAs, or the CA given with
//! `RedisConfigBuilder::tls_root_certificate`; mutual TLS with
//! `RedisConfigBuilder::tls_client_identity`).
//!
//! Beside it: `weir-core` (the traits), `weir-memory` (the embedded backend
//! with the same semantics), `weir-testkit` (the suite both pass). The user
//! guide is `docs/redis.md`.

mod admin;
mod broker;
mod capability;
mod config;
mod connection;
mod consumer;
mod entry;
mod gathering;
mod group;
mod keys;
mod offsets;
mod producer;
mod reclaim;
mod scripts;
mod tls;

pub use admin::RedisAdmin;
pub use broker::RedisBroker;
pub use capability::RedisSubscription;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use consumer::RedisConsumer;
pub use entry::DELIVERY_COUNT_HEADER;
pub use producer::RedisProducer;
