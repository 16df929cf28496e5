#![doc = include_str!("../README.md")]
//!
//! ## The parts
//!
//! - **Collectors** ([`Collector`]): a key, an async processor of the payload
//!   and a typed [`Context`], the topics it listens to, a per-attempt timeout,
//!   a [`RetryPolicy`] and an optional [`Lifecycle`] (setup before the first
//!   event, teardown after the last).
//! - **The queue** ([`CollectorQueue`]): bounded, FIFO, LIFO or by priority
//!   ([`QueueType`]); `send` waits when full, `try_send` hands the event back,
//!   `send_detached` skips the results for fire-and-forget. Run it as a scope
//!   ([`CollectorQueue::run`]) or start and shut it down yourself
//!   ([`RunningQueue`]). It needs a tokio runtime with the time driver.
//! - **Routing** ([`Router`]): [`SimpleRouter`] follows the [`Delivery`];
//!   keys or topics that match nothing deliver nowhere, and the empty
//!   [`Results`] says so ([`Results::is_delivered`], [`Results::unmatched`]).
//! - **Failures** are values: an error, a panic or a timeout becomes a
//!   [`CollectorError`] in the results, naming the collector; after the last
//!   attempt the payload can go to a [`DeadLetterSink`].
//! - **Autoscaling** ([`Autoscale`]): consumers follow the load by Little's
//!   law, between `min_consumers` and `max_consumers`.
//! - **Shutdown** drains what was accepted within a timeout and reports what
//!   it could not ([`ShutdownReport`]).
//! - **Metrics** through the `metrics` facade ([`metrics`]
//!   lists them).

mod autoscale;
mod collector;
mod collector_queue;
mod consumer;
mod dead_letter;
mod error;
mod event;
mod handle;
mod lifecycle;
pub mod metrics;
mod publisher;
mod queue;
mod results;
mod retry;
mod router;
mod running;
mod shared;
mod signal;

pub use autoscale::Autoscale;
pub use collector::{Collector, CollectorBuilder, Context};
pub use collector_queue::{CollectorQueue, CollectorQueueBuilder};
pub use dead_letter::{DeadLetter, DeadLetterSink};
pub use error::{
    BoxError, BuildError, CollectorError, Failure, SendError, StartError, TrySendError,
};
pub use event::{Delivery, Event};
pub use handle::EventHandle;
pub use lifecycle::Lifecycle;
pub use metrics::QueueStats;
pub use publisher::Publisher;
pub use queue::QueueType;
pub use results::Results;
pub use retry::RetryPolicy;
pub use router::{CollectorId, Directory, Route, Router, SimpleRouter};
pub use running::{RunningQueue, ShutdownReport};
