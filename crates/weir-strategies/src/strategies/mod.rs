//! The built-in strategies: each file holds one step of a pipeline.
//!
//! A step wraps the next one and hands it what it made. Most are written
//! with the shared life in [`crate::support::stage`]; the pipeline builder
//! ([`crate::Pipeline`]) puts them together top-down.

mod batch;
mod commit_offsets;
mod decode;
mod filter;
mod healthcheck;
mod keyed_run_task;
mod noop;
mod produce;
mod reduce;
mod run_task;
mod run_task_async;
mod run_task_blocking;
mod task;
mod unbatch;
mod unfold;

pub use batch::Batch;
pub use commit_offsets::CommitOffsets;
pub use decode::Decode;
pub use filter::Filter;
pub use healthcheck::Healthcheck;
pub use keyed_run_task::KeyedRunTask;
pub use noop::Noop;
pub use produce::Produce;
pub use reduce::Reduce;
pub use run_task::RunTask;
pub use run_task_async::RunTaskAsync;
pub use run_task_blocking::RunTaskBlocking;
pub use task::{Borrowing, Task};
pub use unbatch::Unbatch;
pub use unfold::Unfold;
