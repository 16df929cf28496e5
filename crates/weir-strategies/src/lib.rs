#![doc = include_str!("../README.md")]
//!
//! # Steps
//!
//! [`Pipeline`] offers `filter`, `map` ([`RunTask`]), `map_async`
//! ([`RunTaskAsync`]), `map_blocking` ([`RunTaskBlocking`]), `keyed`
//! ([`KeyedRunTask`]: same key in order, different keys in parallel),
//! `reduce` ([`Reduce`]), `batch` / `unbatch` ([`Batch`], [`Unbatch`]),
//! `unfold` ([`Unfold`]), `decode` ([`Decode`]), `produce` ([`Produce`]),
//! `healthcheck` ([`Healthcheck`]), then `commit()` ([`CommitOffsets`]) or
//! `end_with(..)`. Each step is also a strategy with its own constructor,
//! for pipelines built by hand; write your own by implementing
//! [`ProcessingStrategy`] and add it with [`Pipeline::step`]. A
//! [`ProcessingStrategyFactory`] (usually a closure from the
//! [`StrategyContext`] to a strategy) builds a pipeline for each assignment.
//!
//! # The crate's parts
//!
//! - `pipeline`: the top-down builder.
//! - `strategies`: the built-in steps, one file each.
//! - `processor`: the [`StreamProcessor`] that drives a pipeline from a
//!   consumer.
//! - `support`: what the steps share (the life of a step, the outbox of
//!   messages the next step has not taken, work kept in order).
//!
//! No feature flags. Beside it: `weir-core` (messages, commits, broker
//! traits), `weir-memory` and the other backends (what the processor reads).
//! The user guide is `docs/strategies.md`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

#[macro_use]
mod support;
mod error;
mod factory;
pub mod pipeline;
mod processor;
mod strategies;
mod strategy;
#[cfg(test)]
mod testing;

pub use error::{BoxError, InvalidMessage, StrategyError, TaskError};
pub use factory::{ProcessingStrategyFactory, StrategyContext};
pub use pipeline::Pipeline;
pub use strategies::{
    Batch, Borrowing, CommitOffsets, Decode, Filter, Healthcheck, KeyedRunTask, Noop, Produce,
    Reduce, RunTask, RunTaskAsync, RunTaskBlocking, Task, Unbatch, Unfold,
};
pub use strategy::{Incoming, JoinFuture, ProcessingStrategy, SubmitError};
pub use support::progress::Progress;

pub use processor::{
    CommitPolicy, DEFAULT_OUTAGE_TIMEOUT, DeadLetterQueue, HEADER_OFFSET, HEADER_OFFSET_END,
    HEADER_PARTITION, HEADER_REASON, HEADER_TOPIC, InvalidLimit, InvalidPolicy, Outage,
    ProcessorError, ProcessorReport, ShutdownHandle, Signal, StreamProcessor,
    StreamProcessorBuilder, metrics,
};
