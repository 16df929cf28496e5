//! Topic administration.

use std::future::Future;

use crate::{BrokerError, Topic};

/// A topic and how many partitions it has.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicInfo {
    /// The topic.
    pub topic: Topic,
    /// Its partition count.
    pub partitions: u32,
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
}
