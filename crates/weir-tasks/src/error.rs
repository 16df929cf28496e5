//! What goes wrong in the job layer, naming the task, actor or queue.

use std::time::Duration;

use weir_core::{BrokerError, CodecError};
use weir_strategies::ProcessorError;

use crate::{TaskId, TaskState};

/// An error of the job layer. Each variant names what it is about (task id,
/// actor, queue) and keeps the cause as its
/// [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The queue's topics do not exist.
    #[error(
        "queue `{queue}` is not declared: declare it (`Tasks::queue(..).declare()`, or run a worker for it) or turn auto-declare on"
    )]
    UndeclaredQueue {
        /// The queue.
        queue: String,
    },
    /// A unique job's id is taken by a job not finished yet.
    #[error("task `{id}` (actor `{actor}`) is already queued or running")]
    Duplicate {
        /// The id.
        id: TaskId,
        /// The actor of the refused job.
        actor: String,
    },
    /// The arguments could not be encoded.
    #[error("cannot encode the arguments for actor `{actor}`")]
    EncodeArgs {
        /// The actor.
        actor: String,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The result is not of the type asked for.
    #[error("cannot decode the result of task `{id}`")]
    DecodeResult {
        /// The task.
        id: TaskId,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// A stored record or message could not be read.
    #[error("the stored {what} of task `{id}` is corrupt")]
    Corrupt {
        /// The task.
        id: TaskId,
        /// What was read (`"record"`, `"event"`).
        what: &'static str,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The task failed for good: its last attempt failed, or it could not run.
    #[error("task `{id}` (actor `{actor}`) failed after {attempts} attempt(s): {error}")]
    Failed {
        /// The task.
        id: TaskId,
        /// The actor.
        actor: String,
        /// Attempts run.
        attempts: u32,
        /// The last error.
        error: String,
        /// Every attempt's error, oldest first.
        errors: Vec<String>,
    },
    /// The task was revoked.
    #[error("task `{id}` (actor `{actor}`) was revoked")]
    Revoked {
        /// The task.
        id: TaskId,
        /// The actor.
        actor: String,
    },
    /// Waiting for the task's end took longer than allowed.
    #[error("task `{id}` did not finish within {waited:?} (it is {state})")]
    WaitTimeout {
        /// The task.
        id: TaskId,
        /// How long the caller waited.
        waited: Duration,
        /// Its state when the wait ended.
        state: TaskState,
    },
    /// No record of the task exists (never enqueued, or expired).
    #[error("no task `{id}` is known (never enqueued here, or its record expired)")]
    UnknownTask {
        /// The task.
        id: TaskId,
    },
    /// No actor of that name is registered.
    #[error("no actor `{actor}` is registered")]
    UnknownActor {
        /// The actor.
        actor: String,
    },
    /// Subscribers fell behind and missed events.
    #[error("the event subscription fell behind and missed {missed} task events")]
    EventsMissed {
        /// How many.
        missed: u64,
    },
    /// A broker call failed.
    #[error("{doing} failed")]
    Broker {
        /// What the job layer was doing (`"enqueueing task `x` on queue `q`"`).
        doing: String,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// The worker's stream processor stopped with an error.
    #[error("the worker stopped")]
    Worker(#[source] ProcessorError),
    /// A worker could not run where it was to: its own thread or that
    /// thread's runtime did not start (see `WorkerBuilder::dedicated_thread`),
    /// or the runtime it was spawned on cancelled it.
    #[error("cannot run worker `{worker}` on its thread or task")]
    Thread {
        /// The worker's id.
        worker: String,
        /// Why the thread or its runtime did not start, or the task ended.
        #[source]
        source: std::io::Error,
    },
}

impl TaskError {
    /// A broker error, with what the job layer was doing.
    pub(crate) fn broker(doing: impl Into<String>) -> impl FnOnce(BrokerError) -> TaskError {
        let doing = doing.into();
        move |source| TaskError::Broker { doing, source }
    }

    /// One error for each of `n` callers that one failure failed: the
    /// first gets this error, the others a copy of its report (a broker's
    /// error cannot be cloned), under the same `doing`.
    pub(crate) fn for_each_of(self, n: usize) -> impl Iterator<Item = TaskError> {
        let report = weir_core::ErrorReport::new(&self).to_string();
        let doing = match &self {
            TaskError::Broker { doing, .. } => doing.clone(),
            _ => "a call shared with other tasks".to_owned(),
        };
        let mut first = Some(self);
        (0..n).map(move |_| {
            first.take().unwrap_or_else(|| TaskError::Broker {
                doing: doing.clone(),
                source: BrokerError::backend("weir-tasks", report.clone()),
            })
        })
    }

    /// Whether trying again may pass: a transient broker error (the
    /// server unreachable, a failover), see
    /// [`BrokerError::is_transient`].
    pub fn is_transient(&self) -> bool {
        matches!(self, TaskError::Broker { source, .. } if source.is_transient())
    }
}
