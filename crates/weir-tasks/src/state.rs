//! Task states and the record kept of each task.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::TaskId;

/// Where a task is in its life (pulsar-queue's states).
///
/// `Queued → Started → Success`, or `Started → Retry → Started → ...`
/// until `Success` or `Failure`; `Revoked` when revoked before it ran.
/// [`is_final`](Self::is_final) tells the last three apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Waiting in its queue (or for its due time).
    Queued,
    /// An attempt is running.
    Started,
    /// An attempt failed; the next waits for its backoff.
    Retry,
    /// Revoked before it ran; it will not run.
    Revoked,
    /// Given up: the last attempt failed, or the job could not run at all
    /// (unknown actor, arguments that do not decode, a result that does not
    /// encode). It is on its queue's dead-letter topic.
    Failure,
    /// Finished with a result.
    Success,
}

impl TaskState {
    /// Whether the task is done for good (revoked, failed or succeeded).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TaskState::Revoked | TaskState::Failure | TaskState::Success
        )
    }

    /// The state's name in capitals, as pulsar-queue prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "QUEUED",
            TaskState::Started => "STARTED",
            TaskState::Retry => "RETRY",
            TaskState::Revoked => "REVOKED",
            TaskState::Failure => "FAILURE",
            TaskState::Success => "SUCCESS",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What is known of a task: kept in the broker's result store, replaced at
/// every change of state, for the client's record TTL (one day by default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskRecord {
    /// The task id.
    pub id: TaskId,
    /// The actor.
    pub actor: String,
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: TaskState,
    /// Which enqueue of the id this is (see [`JobMessage::run`](crate::JobMessage::run)).
    pub run: u64,
    /// The attempt running or last run (0 before the first).
    pub attempt: u32,
    /// When it was enqueued.
    pub queued_at: SystemTime,
    /// When the current or last attempt started.
    pub started_at: Option<SystemTime>,
    /// When it reached its final state.
    pub finished_at: Option<SystemTime>,
    /// The worker running or that ran the last attempt.
    pub worker: Option<String>,
    /// The result, encoded with the client's codec, once it succeeded.
    pub result: Option<Bytes>,
    /// The last error (a failed attempt, or why it was given up).
    pub error: Option<String>,
    /// Every failed attempt's error, oldest first.
    pub errors: Vec<String>,
    /// The task that enqueued this one, if an actor did.
    pub parent: Option<TaskId>,
}
