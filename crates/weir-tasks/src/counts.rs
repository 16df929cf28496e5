//! How many jobs a queue holds, and where: read from the broker's offsets
//! and delayed store, without joining the workers' group.

use weir_core::Admin;

use crate::queue::DEFAULT_GROUP;
use crate::{Queue, TaskBroker, TaskError};

/// A queue's jobs by where they are ([`Queue::counts`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueCounts {
    /// Jobs on its level topics the workers' group has not committed:
    /// waiting, or running. A worker commits in order, so a job that
    /// finished while an earlier one still runs is counted until that one
    /// ends too.
    pub waiting: u64,
    /// [`waiting`](QueueCounts::waiting) by priority, highest first.
    pub waiting_by_priority: Vec<u64>,
    /// Delayed jobs and retries waiting for their time, where the backend
    /// can count them (`None`: it cannot).
    pub scheduled: Option<u64>,
    /// Jobs in its dead-letter topic.
    pub dead: u64,
}

impl QueueCounts {
    /// Every job not yet done: waiting, running and scheduled.
    pub fn pending(&self) -> u64 {
        self.waiting + self.scheduled.unwrap_or(0)
    }
}

impl<B: TaskBroker> Queue<B> {
    /// Its jobs by where they are, for the workers of the default group
    /// (`"weir-tasks"`).
    ///
    /// # Errors
    ///
    /// The queue is not declared ([`TaskError::UndeclaredQueue`]), or the
    /// broker failed.
    pub async fn counts(&self) -> Result<QueueCounts, TaskError> {
        self.counts_in(DEFAULT_GROUP).await
    }

    /// Its jobs by where they are, for the workers of consumer group `group`.
    ///
    /// # Errors
    ///
    /// As [`counts`](Queue::counts).
    pub async fn counts_in(&self, group: &str) -> Result<QueueCounts, TaskError> {
        let doing = || format!("counting the jobs of queue `{}`", self.name());
        let broker = self.broker();
        let admin = broker.admin().await.map_err(TaskError::broker(doing()))?;
        let mut counts = QueueCounts::default();
        let mut scheduled = Some(0);
        for topic in self.topics() {
            let offsets = self.read(admin.offsets(&topic, Some(group)).await)?;
            let waiting: u64 = offsets.iter().map(|o| o.lag()).sum();
            counts.waiting += waiting;
            counts.waiting_by_priority.push(waiting);
            let later = broker
                .scheduled(&topic)
                .await
                .map_err(TaskError::broker(doing()))?;
            scheduled = scheduled.zip(later).map(|(a, b)| a + b);
        }
        counts.scheduled = scheduled;
        let dead = self.read(admin.offsets(&self.dead_letter_topic(), None).await)?;
        counts.dead = dead.iter().map(|o| o.stored()).sum();
        Ok(counts)
    }

    /// Every job not yet done: waiting, running and scheduled (see
    /// [`counts`](Queue::counts)).
    ///
    /// # Errors
    ///
    /// As [`counts`](Queue::counts).
    pub async fn len(&self) -> Result<u64, TaskError> {
        Ok(self.counts().await?.pending())
    }

    /// Whether every job of it is done (see [`len`](Queue::len)).
    ///
    /// # Errors
    ///
    /// As [`counts`](Queue::counts).
    pub async fn is_empty(&self) -> Result<bool, TaskError> {
        Ok(self.len().await? == 0)
    }

    /// `UnknownTopic` is the queue not declared.
    fn read<T>(&self, r: Result<T, weir_core::BrokerError>) -> Result<T, TaskError> {
        r.map_err(|e| match e {
            weir_core::BrokerError::UnknownTopic { .. } => TaskError::UndeclaredQueue {
                queue: self.name().to_owned(),
            },
            e => TaskError::broker(format!("counting the jobs of queue `{}`", self.name()))(e),
        })
    }
}
