#![doc = include_str!("../README.md")]
//!
//! ## The model in short
//!
//! - A broker holds [`Topic`]s; a topic has [`Partition`]s; a partition is an
//!   ordered log with dense `u64` offsets.
//! - A [`Message`] is a payload plus what finishing it commits: one broker
//!   position ([`BrokerValue`]) or a map of them ([`Value`], e.g. a batch).
//!   A [`Filterable::Filtered`] message still carries its positions.
//! - A [`CommitRequest`] names, per partition, the next offset to read; requests
//!   merge by keeping the highest offset.
//! - A [`Codec`] turns typed values into [`Payload`] bytes: [`MsgPack`] by
//!   default, `Json` with the `json` feature; a decode failure names the partition
//!   and offset.
//! - Backends implement [`Broker`], [`Producer`], [`Consumer`] and [`Admin`];
//!   the `weir-testkit` crate checks they behave alike. The rules they share
//!   are stated once here: [`Partitioner`] (which partition a message goes
//!   to), [`Assignment`] (what a consumer may touch), and the checks before
//!   storing ([`check_payload_size`], [`check_partition_count`],
//!   [`check_partition`]).
//!   [`BrokerExt`] and [`ProducerExt`] add the one-step forms of the
//!   everyday calls to every one of them.
//! - Every call fails with a [`BrokerError`]; its message says what went
//!   wrong at this level and leaves the cause to
//!   [`source`](std::error::Error::source), so walk the chain to print it all.
//!
//! ```
//! use std::time::SystemTime;
//! use weir_core::{Codec, CommitRequest, Message, MsgPack, Partition, Payload};
//!
//! let p = Partition::new("orders", 0);
//! let bytes = MsgPack.encode(&("apple", 3u32)).unwrap();
//! let raw = Message::broker(Payload::new(bytes), p.clone(), 7, SystemTime::now());
//! let typed = MsgPack.decode_message::<(String, u32)>(raw).unwrap();
//! assert_eq!(typed.payload().1, 3);
//! let commit: CommitRequest = typed.commit_request();
//! assert_eq!(commit.get(&p), Some(8));
//! ```
//!
//! Settings follow one pattern across Weir: `XConfig::builder(required)`
//! returns an `XConfigBuilder` whose setters take `self` and are named after
//! the settings; its `build()` runs every check and returns
//! `Result<XConfig, BrokerError>`; `XConfig` keeps its fields private and has
//! a getter of the same name per setting. [`ConsumerConfig`] is the one here.

mod admin;
mod assignment;
mod broker;
pub mod capability;
mod codec;
mod commit;
mod consumer;
mod error;
mod ext;
mod limits;
mod message;
mod partitioner;
mod payload;
mod producer;
mod record;
mod report;
mod topic;

pub use admin::{Admin, PartitionOffsets, TopicInfo};
pub use assignment::Assignment;
pub use broker::Broker;
#[cfg(feature = "json")]
pub use codec::Json;
pub use codec::{Codec, CodecError, DecodeError, MsgPack, Undecodable};
pub use commit::CommitRequest;
pub use consumer::{
    Consumer, ConsumerConfig, ConsumerConfigBuilder, ConsumerEvent, OffsetReset, Polled,
};
pub use error::BrokerError;
pub use ext::{BrokerExt, ProducerExt};
pub use limits::{check_partition, check_partition_count, check_payload_size};
pub use message::{BrokerValue, Committable, Filterable, Message, Origin, Value};
pub use partitioner::Partitioner;
pub use payload::{Headers, Payload};
pub use producer::{Destination, Produced, Producer};
pub use record::{Record, RecordBatch};
pub use report::ErrorReport;
pub use topic::{Partition, Topic};
