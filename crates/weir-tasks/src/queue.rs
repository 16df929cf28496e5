//! Queues: the topics a queue is made of, declared, flushed and deleted.

use weir_core::{Admin, Broker, BrokerError, Topic};

use crate::priority::PriorityLevels;
use crate::{Priority, TaskError};

/// A job queue: one topic per [`Priority`] level (`q.p0` high, `q.p1`
/// medium, `q.p2` low, served by weight 6 : 3 : 1) and a dead-letter topic
/// (`q.dead`) where jobs that are given up go with their errors.
///
/// Made by [`Tasks::queue`](crate::Tasks::queue). Declaring is idempotent;
/// workers declare the queues of their actors when they start, unless told
/// not to. Enqueueing to a queue that is not declared fails with
/// [`TaskError::UndeclaredQueue`] unless the client auto-declares.
///
/// [`counts`](Queue::counts) tells how many jobs wait, are scheduled
/// (delays and retries) and are dead; [`len`](Queue::len) how many are not
/// yet done.
#[derive(Clone, Debug)]
pub struct Queue<B> {
    broker: B,
    name: String,
    partitions: u32,
}

/// The consumer group workers share unless told otherwise.
pub(crate) const DEFAULT_GROUP: &str = "weir-tasks";

/// The level weights of every queue.
pub(crate) fn levels() -> PriorityLevels {
    PriorityLevels::high_medium_low()
}

/// The topic of `priority` in `queue`.
pub(crate) fn level_topic(queue: &str, priority: Priority) -> Topic {
    levels().topic(&Topic::new(queue), priority.level())
}

/// The dead-letter topic of `queue`.
pub(crate) fn dead_letter_topic(queue: &str) -> Topic {
    Topic::new(format!("{queue}.dead"))
}

impl<B: Broker> Queue<B> {
    pub(crate) fn new(broker: B, name: impl Into<String>, partitions: u32) -> Self {
        Queue {
            broker,
            name: name.into(),
            partitions,
        }
    }

    pub(crate) fn broker(&self) -> &B {
        &self.broker
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its level topics, highest first.
    pub fn topics(&self) -> Vec<Topic> {
        levels().topics(&Topic::new(self.name.as_str()))
    }

    /// Its dead-letter topic.
    pub fn dead_letter_topic(&self) -> Topic {
        dead_letter_topic(&self.name)
    }

    fn all_topics(&self) -> Vec<Topic> {
        let mut all = self.topics();
        all.push(self.dead_letter_topic());
        all
    }

    fn doing(&self, what: &str) -> String {
        format!("{what} queue `{}`", self.name)
    }

    /// Creates its topics; those that exist are left as they are.
    pub async fn declare(&self) -> Result<(), TaskError> {
        let admin = self
            .broker
            .admin()
            .await
            .map_err(TaskError::broker(self.doing("declaring")))?;
        for topic in self.all_topics() {
            match admin.create_topic(&topic, self.partitions).await {
                Ok(()) | Err(BrokerError::TopicExists { .. }) => {}
                Err(e) => return Err(TaskError::broker(self.doing("declaring"))(e)),
            }
        }
        Ok(())
    }

    /// Whether all its topics exist.
    pub async fn is_declared(&self) -> Result<bool, TaskError> {
        let doing = || self.doing("looking up");
        let admin = self
            .broker
            .admin()
            .await
            .map_err(TaskError::broker(doing()))?;
        let existing = admin
            .list_topics()
            .await
            .map_err(TaskError::broker(doing()))?;
        Ok(self
            .all_topics()
            .iter()
            .all(|t| existing.iter().any(|i| &i.topic == t)))
    }

    /// Deletes its topics, and with them every job waiting in it and every
    /// dead letter; missing topics are fine.
    pub async fn delete(&self) -> Result<(), TaskError> {
        let admin = self
            .broker
            .admin()
            .await
            .map_err(TaskError::broker(self.doing("deleting")))?;
        for topic in self.all_topics() {
            match admin.delete_topic(&topic).await {
                Ok(()) | Err(BrokerError::UnknownTopic { .. }) => {}
                Err(e) => return Err(TaskError::broker(self.doing("deleting"))(e)),
            }
        }
        Ok(())
    }

    /// Drops every job waiting in it (and its dead letters): deletes and
    /// declares it again. Run it with no worker on the queue; jobs waiting
    /// for a delay or a retry are kept by the broker's delayed store.
    pub async fn flush(&self) -> Result<(), TaskError> {
        self.delete().await?;
        self.declare().await
    }
}
