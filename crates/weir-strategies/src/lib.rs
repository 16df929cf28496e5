//! # weir-strategies
//!
//! Stream consumers built from composable processing strategies, on any Weir
//! backend. A [`StreamProcessor`] reads a consumer group's partitions and
//! feeds each message through a pipeline of [`ProcessingStrategy`] steps, each
//! wrapping the next (as tower layers do); the last step,
//! [`CommitOffsets`], turns finished messages into commit positions that flow
//! back up as values. The processor handles backpressure (hold, wait for
//! progress, pause), rebalancing (join, commit, rebuild), the commit policy,
//! dead letters, panics in user code and graceful shutdown.
//!
//! ```
//! use std::time::Duration;
//! use weir_core::{Broker, ConsumerConfig, Payload, Topic};
//! use weir_memory::MemoryBroker;
//! use weir_strategies::{CommitOffsets, Filter, ProcessingStrategy, RunTask, StrategyContext, StreamProcessor};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! let topic = Topic::new("clicks");
//! broker.create_topic(&topic, 4)?;
//! let consumer = broker.consumer(ConsumerConfig::new("click-counter")).await?;
//! let processor = StreamProcessor::builder(consumer, [topic], |_: &StrategyContext| {
//!     let count = RunTask::new(|p: Payload| Ok(p.value.len()), CommitOffsets::new());
//!     Box::new(Filter::new(|p: &Payload| !p.value.is_empty(), count)) as Box<dyn ProcessingStrategy<Payload>>
//! })
//! .join_timeout(Some(Duration::from_secs(5)))
//! .build();
//! let stop = processor.shutdown_handle();
//! let running = tokio::spawn(processor.run());
//! stop.shutdown();
//! let report = running.await.unwrap()?;
//! # let _ = report;
//! # Ok::<(), Box<dyn std::error::Error>>(()) }).unwrap();
//! ```
//!
//! Built-in steps: [`RunTask`], [`RunTaskAsync`], [`RunTaskBlocking`],
//! [`KeyedRunTask`] (same key in order, different keys in parallel, commits
//! at the low watermark), [`Reduce`], [`Batch`], [`Unbatch`], [`Filter`],
//! [`Unfold`], [`Decode`], [`Produce`], [`CommitOffsets`], [`Healthcheck`] and
//! [`Noop`]. Write your own by implementing [`ProcessingStrategy`]; a
//! [`ProcessingStrategyFactory`] (any
//! `Fn(&StrategyContext) -> Box<dyn ProcessingStrategy<Payload>>`) builds a
//! pipeline for each assignment.
//!
//! No feature flags. Beside it: `weir-core` (messages, commits, broker
//! traits), `weir-memory` and the other backends (what the processor reads).
//! The user guide is `docs/strategies.md`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

#[macro_use]
mod forward;
mod batch;
mod commit_offsets;
mod decode;
mod error;
mod factory;
mod filter;
mod healthcheck;
mod keyed_run_task;
mod noop;
mod ordered;
mod origins;
mod outbox;
mod positions;
mod processor;
mod produce;
mod progress;
mod reduce;
mod run_task;
mod run_task_async;
mod run_task_blocking;
mod strategy;
#[cfg(test)]
mod testing;
mod unbatch;
mod unfold;

pub use batch::Batch;
pub use commit_offsets::CommitOffsets;
pub use decode::Decode;
pub use error::{BoxError, InvalidMessage, StrategyError, TaskError};
pub use factory::{ProcessingStrategyFactory, StrategyContext};
pub use filter::Filter;
pub use healthcheck::Healthcheck;
pub use keyed_run_task::KeyedRunTask;
pub use noop::Noop;
pub use produce::Produce;
pub use progress::Progress;
pub use reduce::Reduce;
pub use run_task::RunTask;
pub use run_task_async::RunTaskAsync;
pub use run_task_blocking::RunTaskBlocking;
pub use strategy::{Incoming, JoinFuture, ProcessingStrategy, SubmitError};
pub use unbatch::Unbatch;
pub use unfold::Unfold;

pub use processor::{
    CommitPolicy, DeadLetterQueue, HEADER_OFFSET, HEADER_OFFSET_END, HEADER_PARTITION,
    HEADER_REASON, HEADER_TOPIC, InvalidLimit, InvalidPolicy, ProcessorError, ProcessorReport,
    ShutdownHandle, StreamProcessor, StreamProcessorBuilder, metrics,
};
