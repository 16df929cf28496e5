//! # weir-collector
//!
//! An in-process collector queue: publishers send events, a pool of consumer
//! tasks routes each one to the [`Collector`]s its [`Delivery`] selects (by
//! key, by topic, or broadcast), runs their async processors, and hands a
//! [`Results`] list back through an [`EventHandle`]. No broker is involved.
//!
//! ```
//! use weir_collector::{BoxError, Collector, CollectorQueue, Context, Event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let celsius = Collector::builder("celsius")
//!     .topics(["temperature"])
//!     .processor(|f: f64, _: Context<()>| async move { Ok::<_, BoxError>((f - 32.0) / 1.8) });
//! let queue = CollectorQueue::builder().collector(celsius).consumers(1, 8).build()?;
//! let (results, _report) = queue
//!     .run(|publisher| async move { publisher.send(Event::new(212.0).to_topics(["temperature"])).await })
//!     .await?;
//! let results = results?.await;
//! assert_eq!(results.first().and_then(|r| r.as_ref().ok()), Some(&100.0));
//! # Ok(())
//! # }
//! ```
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
//!
//! Feature flags: none.
//!
//! Beside it: the crate needs no broker and no other Weir crate; `weir-tasks`
//! is the broker-backed counterpart for jobs that must survive a crash (this
//! queue keeps nothing on disk). See `docs/collector.md` for the guide.

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
