//! Topic administration on the memory broker.

use weir_core::{Admin, BrokerError, PartitionOffsets, Topic, TopicInfo};

use crate::MemoryBroker;

/// Creates, lists and deletes the memory broker's topics.
#[derive(Clone, Debug)]
pub struct MemoryAdmin {
    broker: MemoryBroker,
}

impl MemoryAdmin {
    pub(crate) fn new(broker: MemoryBroker) -> Self {
        MemoryAdmin { broker }
    }
}

impl Admin for MemoryAdmin {
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        self.broker.create_topic(topic, partitions)
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, BrokerError> {
        Ok(self.broker.inner.topic_infos())
    }

    async fn delete_topic(&self, topic: &Topic) -> Result<(), BrokerError> {
        self.broker.delete_topic(topic)
    }

    async fn offsets(
        &self,
        topic: &Topic,
        group: Option<&str>,
    ) -> Result<Vec<PartitionOffsets>, BrokerError> {
        let state = self.broker.inner.topic(topic)?;
        let bounds = state.bounds();
        let groups = crate::topic::lock(&self.broker.inner.groups);
        let group = group.and_then(|g| groups.get(g));
        Ok(bounds
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| {
                let p = topic.partition(i as u32);
                let committed = group.and_then(|g| g.committed(&p));
                PartitionOffsets::new(p, start, end, committed)
            })
            .collect())
    }
}
