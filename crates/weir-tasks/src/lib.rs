//! # weir-tasks
//!
//! Weir's job layer: jobs are messages on queue topics, served on top of any
//! broker backend through the traits of `weir-core`, never through one
//! backend. Today it holds the first part of that layer, prioritized queues
//! ([`priority`]); jobs, actors, routers and workers come later.
//!
//! ```
//! use weir_core::{ConsumerConfig, Payload, Topic};
//! use weir_memory::MemoryBroker;
//! use weir_tasks::priority::{PriorityLevels, PriorityQueues};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let broker = MemoryBroker::new();
//! let (queue, levels) = (Topic::new("emails"), PriorityLevels::new([3, 1])?);
//! broker.create_prioritized(&queue, 2, &levels).await?;
//! broker.produce_prioritized(&queue, 1, Payload::new("newsletter")).await?;
//! broker.produce_prioritized(&queue, 0, Payload::new("password reset")).await?;
//! let mut worker = broker
//!     .prioritized_consumer(ConsumerConfig::new("mailers"), &queue, &levels)
//!     .await?;
//! # let _ = &mut worker;
//! # Ok::<(), weir_core::BrokerError>(()) }).unwrap();
//! ```
//!
//! Feature flags: none.
//!
//! Beside it: `weir-core` (the broker traits it builds on), the backends
//! (`weir-memory`, `weir-redis`, `weir-kafka`), all of which serve
//! priorities the same way, and `weir` (the facade, feature `tasks`). See
//! `docs/tasks.md` of the repository.

pub mod priority;
