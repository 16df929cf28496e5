//! Task handles: a task's state now, and its result when it ends.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use weir_core::{Codec, MsgPack};

use crate::{TaskBroker, TaskError, TaskId, TaskRecord, TaskState, Tasks};

/// A task, by id: its state without waiting, and its typed result (or its
/// error, or that it was revoked) when it ends.
///
/// Returned by [`Tasks::enqueue`]; [`Tasks::handle`] makes one from an id
/// alone, in any process that reaches the broker.
///
/// ```
/// # async fn run(tasks: weir_tasks::Tasks<weir_memory::MemoryBroker>) -> Result<(), weir_tasks::TaskError> {
/// use std::time::Duration;
/// use weir_tasks::{Job, TaskError};
///
/// let handle = tasks.enqueue(Job::new("add").args((2, 3))).await?;
/// let later = tasks.handle(handle.id().clone());
/// match later.wait_timeout::<i64>(Duration::from_secs(5)).await {
///     Ok(sum) => println!("sum {sum}"),
///     Err(TaskError::Failed { errors, .. }) => println!("failed: {errors:?}"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
pub struct TaskHandle<B: TaskBroker, C = MsgPack> {
    tasks: Tasks<B, C>,
    id: TaskId,
    /// Which enqueue of the id (known when this handle made it).
    run: Option<u64>,
}

impl<B: TaskBroker, C> Clone for TaskHandle<B, C> {
    fn clone(&self) -> Self {
        TaskHandle {
            tasks: self.tasks.clone(),
            id: self.id.clone(),
            run: self.run,
        }
    }
}

impl<B: TaskBroker, C> fmt::Debug for TaskHandle<B, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("id", &self.id).finish()
    }
}

/// How long one wait on the store lasts before it is renewed.
const WAIT_SLICE: Duration = Duration::from_secs(3600);

impl<B: TaskBroker, C: Codec + Clone> TaskHandle<B, C> {
    pub(crate) fn new(tasks: Tasks<B, C>, id: TaskId, run: Option<u64>) -> Self {
        TaskHandle { tasks, id, run }
    }

    /// The task id.
    pub fn id(&self) -> &TaskId {
        &self.id
    }

    /// The task's record now, if it is known.
    pub async fn record(&self) -> Result<Option<TaskRecord>, TaskError> {
        self.tasks.records().get(&self.id).await
    }

    /// The task's state now, without waiting.
    pub async fn state(&self) -> Result<TaskState, TaskError> {
        match self.record().await? {
            Some(r) => Ok(r.state),
            None => Err(TaskError::UnknownTask {
                id: self.id.clone(),
            }),
        }
    }

    async fn run(&self) -> Result<u64, TaskError> {
        match self.run {
            Some(run) => Ok(run),
            None => match self.record().await? {
                Some(r) => Ok(r.run),
                None => Err(TaskError::UnknownTask {
                    id: self.id.clone(),
                }),
            },
        }
    }

    /// The final record, waiting up to `timeout` for it (`None`: not ended in time).
    pub async fn wait_record(&self, timeout: Duration) -> Result<Option<TaskRecord>, TaskError> {
        let run = self.run().await?;
        self.tasks
            .records()
            .wait_final(&self.id, run, timeout)
            .await
    }

    /// Waits for the end and returns the result, decoded as `R`; a task
    /// that failed or was revoked is [`TaskError::Failed`] or
    /// [`TaskError::Revoked`].
    pub async fn wait<R: DeserializeOwned>(&self) -> Result<R, TaskError> {
        loop {
            if let Some(record) = self.wait_record(WAIT_SLICE).await? {
                return self.outcome(record);
            }
        }
    }

    /// As [`wait`](Self::wait), for at most `timeout`
    /// ([`TaskError::WaitTimeout`] with its state then).
    pub async fn wait_timeout<R: DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<R, TaskError> {
        match self.wait_record(timeout).await? {
            Some(record) => self.outcome(record),
            None => Err(TaskError::WaitTimeout {
                id: self.id.clone(),
                waited: timeout,
                state: self.state().await?,
            }),
        }
    }

    /// Revokes the task if it has not ended (see [`Tasks::revoke`]).
    pub async fn revoke(&self) -> Result<bool, TaskError> {
        self.tasks.revoke(self.id.clone()).await
    }

    fn outcome<R: DeserializeOwned>(&self, record: TaskRecord) -> Result<R, TaskError> {
        match record.state {
            TaskState::Success => {
                let bytes = record.result.unwrap_or_default();
                self.tasks
                    .codec()
                    .decode(&bytes)
                    .map_err(|source| TaskError::DecodeResult {
                        id: record.id,
                        source,
                    })
            }
            TaskState::Revoked => Err(TaskError::Revoked {
                id: record.id,
                actor: record.actor,
            }),
            _ => Err(TaskError::Failed {
                id: record.id,
                actor: record.actor,
                attempts: record.attempt,
                error: record.error.unwrap_or_default(),
                errors: record.errors,
            }),
        }
    }
}
