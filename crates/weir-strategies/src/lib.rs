//! # weir-strategies
//!
//! Stream consumers built from composable processing strategies, on any Weir
//! backend. A [`StreamProcessor`] reads a consumer group's partitions and
//! feeds each message through a pipeline of steps, written top-down with
//! [`Pipeline`]; the last step commits, and commit positions flow back up as
//! values. The processor handles backpressure (hold, wait for progress,
//! pause), rebalancing (join, commit, rebuild), the commit policy, dead
//! letters, panics in user code and graceful shutdown.
//!
//! # Examples
//!
//! ```
//! use weir_core::{Broker, ConsumerConfig, Payload, Topic};
//! use weir_memory::MemoryBroker;
//! use weir_strategies::{Pipeline, StrategyContext, StreamProcessor};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! let topic = Topic::new("clicks");
//! broker.create_topic(&topic, 4)?;
//! let consumer = broker.consumer(ConsumerConfig::new("click-counter")).await?;
//! let processor = StreamProcessor::builder(consumer, [topic], |_: &StrategyContext| {
//!     Pipeline::new()
//!         .filter(|p: &Payload| !p.value.is_empty())
//!         .map(|p: Payload| Ok(p.value.len()))
//!         .commit()
//! })
//! .build();
//! let stop = processor.shutdown_handle();
//! let running = tokio::spawn(processor.run());
//! stop.shutdown();
//! running.await??;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
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
    Batch, CommitOffsets, Decode, Filter, Healthcheck, KeyedRunTask, Noop, Produce, Reduce,
    RunTask, RunTaskAsync, RunTaskBlocking, Unbatch, Unfold,
};
pub use strategy::{Incoming, JoinFuture, ProcessingStrategy, SubmitError};
pub use support::progress::Progress;

pub use processor::{
    CommitPolicy, DeadLetterQueue, HEADER_OFFSET, HEADER_OFFSET_END, HEADER_PARTITION,
    HEADER_REASON, HEADER_TOPIC, InvalidLimit, InvalidPolicy, ProcessorError, ProcessorReport,
    ShutdownHandle, StreamProcessor, StreamProcessorBuilder, metrics,
};
