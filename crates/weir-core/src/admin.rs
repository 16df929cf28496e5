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
    /// Creates `topic` with `partitions` partitions; fails with
    /// [`BrokerError::TopicExists`] if it exists.
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
