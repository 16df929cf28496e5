//! Topic administration.

use std::future::Future;

use crate::{BrokerError, Partition, Topic};

/// A topic and how many partitions it has.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicInfo {
    /// The topic.
    pub topic: Topic,
    /// Its partition count.
    pub partitions: u32,
}

/// Where a partition's stored messages start and end, and where a consumer
/// group committed in it: what a topic's size and a group's lag are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionOffsets {
    /// The partition.
    pub partition: Partition,
    /// The offset of its first stored message (older ones expired).
    pub start: u64,
    /// The offset its next message will get.
    pub end: u64,
    /// The group's committed offset here, if one was asked for and it
    /// committed one.
    pub committed: Option<u64>,
}

impl PartitionOffsets {
    /// A partition's offsets.
    pub fn new(partition: Partition, start: u64, end: u64, committed: Option<u64>) -> Self {
        PartitionOffsets {
            partition,
            start,
            end,
            committed,
        }
    }

    /// How many messages it stores.
    pub fn stored(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// How many stored messages the group has not committed: from its
    /// committed offset (or, if it has none, from the start) to the end.
    pub fn lag(&self) -> u64 {
        let from = self.committed.unwrap_or(self.start).max(self.start);
        self.end.saturating_sub(from)
    }
}

/// Creates, lists and deletes topics.
pub trait Admin: Send + Sync + 'static {
    /// Creates `topic` with `partitions` partitions.
    ///
    /// [`BrokerExt::create_topic`](crate::BrokerExt::create_topic) does it in
    /// one call on the broker.
    ///
    /// # Errors
    ///
    /// [`BrokerError::TopicExists`] if it exists, [`BrokerError::NoPartitions`]
    /// if `partitions` is 0.
    fn create_topic(
        &self,
        topic: &Topic,
        partitions: u32,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Every topic, sorted by name.
    fn list_topics(&self) -> impl Future<Output = Result<Vec<TopicInfo>, BrokerError>> + Send;

    /// Deletes `topic` and its messages; fails with [`BrokerError::UnknownTopic`] if absent.
    fn delete_topic(&self, topic: &Topic) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// The offsets of every partition of `topic`, and where consumer group
    /// `group` (if given) committed in each, without joining the group.
    ///
    /// # Errors
    ///
    /// [`BrokerError::UnknownTopic`] if `topic` does not exist.
    fn offsets(
        &self,
        topic: &Topic,
        group: Option<&str>,
    ) -> impl Future<Output = Result<Vec<PartitionOffsets>, BrokerError>> + Send;
}
