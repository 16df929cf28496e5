#![doc = include_str!("../README.md")]
//!
//! ## How it behaves
//!
//! Groups divide partitions with an [`Assignor`] (range or round-robin). A
//! partition changes owner in two steps: the old owner sees `Revoked`, may
//! still commit, and hands it over on its next poll (or when it leaves, or
//! after the rebalance timeout); only then does the new owner see `Assigned`.
//! Waiting consumers are woken when data arrives; nothing polls on a timer.
//!
//!
//! [`MemoryBroker::create_topic`] and [`MemoryBroker::delete_topic`] are
//! synchronous (nothing to wait for); on a `MemoryBroker` they are the ones
//! called, while code generic over `B: Broker` reaches the asynchronous
//! [`BrokerExt`](weir_core::BrokerExt) methods of the same names.

mod admin;
#[cfg(test)]
mod alloc_count;
mod arena;
mod assign;
mod broker;
mod capability;
mod chunked;
mod consumer;
mod group;
mod locks;
mod log;
mod name_hash;
mod producer;
mod stamp;
mod topic;
mod topic_producer;

pub use admin::MemoryAdmin;
pub use assign::Assignor;
pub use broker::{MemoryBroker, MemoryBrokerBuilder};
pub use capability::MemorySubscription;
pub use consumer::MemoryConsumer;
pub use log::Retention;
pub use producer::MemoryProducer;
pub use topic_producer::TopicProducer;
