#![doc = include_str!("../README.md")]
//!
//! ## How it works
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
//! - A `redis+cluster://h1:p1,h2:p2` URL runs all of it on a Redis Cluster:
//!   each partition's keys share a hash tag, so every script touches one
//!   slot and partitions spread over the shards (`docs/redis.md`).
//! - Capabilities: delayed delivery (a sorted set moved by a Lua script),
//!   dedup (`SET NX PX`), a result store, and events (pub/sub). Prioritized
//!   queues need no capability: `weir-tasks` serves them on any broker.

mod admin;
mod append;
mod broker;
mod capability;
mod client;
mod config;
mod connection;
mod consumer;
mod entry;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gathering;
mod group;
mod keys;
mod offsets;
mod producer;
mod reclaim;
mod reply;
mod route;
mod scripts;
mod tls;

pub use admin::RedisAdmin;
pub use broker::RedisBroker;
pub use capability::RedisSubscription;
pub use config::{RedisConfig, RedisConfigBuilder};
pub use consumer::RedisConsumer;
pub use entry::DELIVERY_COUNT_HEADER;
pub use producer::RedisProducer;
