#![doc = include_str!("../README.md")]
//!
//! # The crate's parts
//!
//! Producer side: [`Job`] (what to run), [`Tasks`] (enqueue, handles,
//! execute, events), [`TaskHandle`] (state and result), [`Queue`].
//! Consumer side: [`Router`] (actors by name, with their [`Context`]),
//! [`RetryPolicy`], [`Worker`], [`Catalogue`]. Shared: [`JobMessage`] (the
//! wire form), [`TaskState`] and [`TaskRecord`], [`TaskEvent`],
//! [`TaskError`]. Underneath: [`priority`], the queues' weighted levels.
//!
//! # Why it is built this way
//!
//! - **A job is a message; the worker is a stream processor.** Delivery,
//!   rebalancing, backpressure, commits and graceful shutdown are the
//!   `weir-strategies` processor's, not a second implementation: a worker
//!   is one `KeyedRunTask` step keyed by task id over a priority consumer.
//!   Its low-watermark commits let jobs finish out of order while a crash
//!   never loses one.
//! - **What the log lacks comes from capabilities, each behind one module.**
//!   [`TaskBroker`] names the set the layer needs. Task records use the
//!   result store (`records`), delays and retry backoff the delayed store
//!   (`later`), unique ids dedup (`unique`), events the event channel
//!   (`events`). A broker that offers one of them differently (Kafka: a
//!   retry topic for delays) changes one module, not the worker.
//! - **Retries are new messages, never sleeps.** A failed attempt is
//!   scheduled in the delayed store with its backoff and its message is
//!   committed; the worker's slot is free at once.
//! - **A record per enqueue, a final record per run.** The final record is
//!   written under a key of its own (with the enqueue's `run` number), so a
//!   handle waits for exactly that key, a worker skips a job whose end was
//!   recorded (after a crash, a rebalance, or a revoke), and a unique id
//!   enqueued again later is a new run.
//! - **Typed at the edges, bytes inside.** Arguments and results are
//!   encoded with the client's [`Codec`](weir_core::Codec) (MessagePack by
//!   default); the envelope ([`JobMessage`]) is always MessagePack, so
//!   actors of any type share one worker.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod actor;
mod attempt;
mod backend;
mod catalogue;
mod client;
mod counts;
mod enqueue;
mod error;
mod events;
mod handle;
mod id;
mod job;
mod later;
mod message;
mod patience;
pub mod priority;
mod queue;
mod records;
mod retry;
mod router;
mod state;
mod unique;
mod worker;
mod writes;
mod written;

pub use actor::{Context, Mode};
pub use backend::TaskBroker;
pub use catalogue::{ActorInfo, Catalogue};
pub use client::{Duplicates, Tasks, TasksBuilder};
pub use counts::QueueCounts;
pub use error::TaskError;
pub use events::{EVENT_CHANNEL, EventFilter, EventKind, TaskEvent, TaskEvents};
pub use handle::TaskHandle;
pub use id::TaskId;
pub use job::{DEFAULT_TIMEOUT, Job, Priority};
pub use message::{HEADER_DEAD_REASON, HEADER_QUEUE, JobMessage};
pub use queue::Queue;
pub use retry::RetryPolicy;
pub use router::{ActorOptions, Router};
pub use state::{TaskRecord, TaskState};
pub use worker::{ShutdownHandle, Signal, Worker, WorkerBuilder, WorkerStats};
