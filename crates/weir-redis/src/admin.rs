//! Topic administration: a topic is a metadata hash (its partition count)
//! plus one stream per partition.

use std::sync::Arc;

use weir_core::{Admin, BrokerError, Topic, TopicInfo, check_partition_count};

use crate::broker::Shared;
use crate::scripts::{CREATE_TOPIC, DELETE_TOPIC};

/// Creates, lists and deletes topics on Redis.
#[derive(Clone, Debug)]
pub struct RedisAdmin {
    shared: Arc<Shared>,
}

impl RedisAdmin {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RedisAdmin { shared }
    }
}

impl Admin for RedisAdmin {
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        check_partition_count(topic, partitions)?;
        let keys = &self.shared.keys;
        let mut all = vec![keys.meta(topic), keys.topics()];
        all.extend((0..partitions).map(|i| keys.stream(&topic.partition(i))));
        let cmd = CREATE_TOPIC.cmd(&all, |c| {
            c.arg(topic.as_str()).arg(partitions);
        });
        let exists: i64 = self.shared.conn.query(&cmd).await?;
        self.shared.forget_topic(topic);
        if exists == 1 {
            return Err(BrokerError::TopicExists {
                topic: topic.clone(),
            });
        }
        Ok(())
    }

    async fn list_topics(&self) -> Result<Vec<TopicInfo>, BrokerError> {
        let keys = &self.shared.keys;
        let names: Vec<String> = self
            .shared
            .conn
            .query(redis::cmd("SMEMBERS").arg(keys.topics()))
            .await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for n in &names {
            pipe.cmd("HGET")
                .arg(keys.meta(&Topic::new(n)))
                .arg("partitions");
        }
        let counts: Vec<Option<u32>> = self.shared.conn.pipe(&pipe).await?;
        let mut out: Vec<TopicInfo> = names
            .into_iter()
            .zip(counts)
            .filter_map(|(n, c)| {
                c.map(|partitions| TopicInfo {
                    topic: Topic::new(n),
                    partitions,
                })
            })
            .collect();
        out.sort();
        Ok(out)
    }

    async fn delete_topic(&self, topic: &Topic) -> Result<(), BrokerError> {
        let shared = &self.shared;
        shared.forget_topic(topic);
        let count = shared.partition_count(topic).await?;
        shared.forget_topic(topic);
        let keys = &shared.keys;
        let (due, data) = keys.delayed(topic);
        let mut all = vec![
            keys.meta(topic),
            keys.topics(),
            keys.offsets(topic),
            due,
            data,
        ];
        for i in 0..count {
            let p = topic.partition(i);
            all.push(keys.stream(&p));
            all.push(keys.end(&p));
        }
        let cmd = DELETE_TOPIC.cmd(&all, |c| {
            c.arg(topic.as_str());
        });
        let missing: i64 = shared.conn.query(&cmd).await?;
        if missing == 1 {
            return Err(BrokerError::UnknownTopic {
                topic: topic.clone(),
            });
        }
        Ok(())
    }
}
