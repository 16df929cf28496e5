//! Topic administration: a topic is a metadata hash (its partition count)
//! plus one stream per partition. Each step touches the keys of one slot
//! (see `keys.rs`), so it runs on a Redis Cluster as on one server.

use std::sync::Arc;

use redis::Value;
use weir_core::{Admin, BrokerError, PartitionOffsets, Topic, TopicInfo, check_partition_count};

use crate::broker::Shared;
use crate::entry::Run;

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
    /// Creates the partitions' streams first, then the metadata (only if
    /// none exists: `HSETNX`), then lists the name: a topic is visible only
    /// once every stream it needs exists. Each step touches one slot.
    async fn create_topic(&self, topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
        check_partition_count(topic, partitions)?;
        let shared = &self.shared;
        let keys = &shared.keys;
        let exists = || BrokerError::TopicExists {
            topic: topic.clone(),
        };
        shared.forget_topic(topic);
        let known: Option<u32> = shared
            .conn
            .query(redis::cmd("HGET").arg(keys.meta(topic)).arg("partitions"))
            .await?;
        if known.is_some() {
            return Err(exists());
        }
        // Every partition's stream, empty (producers append only to streams
        // that exist, so a deleted topic's partitions are not made again).
        let mut pipe = redis::pipe();
        for i in 0..partitions {
            let stream = keys.stream(&topic.partition(i));
            pipe.cmd("XGROUP")
                .arg("CREATE")
                .arg(&stream)
                .arg("weir-creating")
                .arg("$")
                .arg("MKSTREAM");
            pipe.cmd("XGROUP")
                .arg("DESTROY")
                .arg(&stream)
                .arg("weir-creating");
        }
        shared.conn.pipe::<()>(&pipe).await?;
        let created: bool = shared
            .conn
            .query(
                redis::cmd("HSETNX")
                    .arg(keys.meta(topic))
                    .arg("partitions")
                    .arg(partitions),
            )
            .await?;
        shared.forget_topic(topic);
        if !created {
            return Err(exists());
        }
        let _: i64 = shared
            .conn
            .query(redis::cmd("SADD").arg(keys.topics()).arg(topic.as_str()))
            .await?;
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

    /// One pipeline: each partition's end counter, its first entry (whose
    /// id and count tell where the stored messages start) and the group's
    /// committed offset.
    async fn offsets(
        &self,
        topic: &Topic,
        group: Option<&str>,
    ) -> Result<Vec<PartitionOffsets>, BrokerError> {
        let shared = &self.shared;
        let count = shared.partition_count(topic).await?;
        let keys = &shared.keys;
        let mut pipe = redis::pipe();
        for i in 0..count {
            let p = topic.partition(i);
            pipe.cmd("GET").arg(keys.end(&p));
            pipe.cmd("XRANGE")
                .arg(keys.stream(&p))
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1);
            if let Some(g) = group {
                pipe.cmd("HGET").arg(keys.offsets(&p)).arg(g);
            }
        }
        let replies: Vec<Value> = shared.conn.pipe(&pipe).await?;
        let per = if group.is_some() { 3 } else { 2 };
        let mut out = Vec::with_capacity(count as usize);
        for (i, r) in replies.chunks(per).enumerate() {
            let p = topic.partition(i as u32);
            let number = |v: &Value| -> Result<Option<u64>, BrokerError> {
                redis::from_redis_value_ref(v).map_err(|e| BrokerError::backend("redis", e))
            };
            let end = r.first().map(number).transpose()?.flatten().unwrap_or(0);
            let start = r.get(1).and_then(first_offset).unwrap_or(end);
            let committed = r.get(2).map(number).transpose()?.flatten();
            out.push(PartitionOffsets::new(p, start, end, committed));
        }
        Ok(out)
    }

    /// Deletes the metadata first (the topic is gone from then on), then
    /// the name, then each partition's keys.
    async fn delete_topic(&self, topic: &Topic) -> Result<(), BrokerError> {
        let shared = &self.shared;
        shared.forget_topic(topic);
        let count = shared.partition_count(topic).await?;
        shared.forget_topic(topic);
        let keys = &shared.keys;
        let deleted: i64 = shared
            .conn
            .query(redis::cmd("DEL").arg(keys.meta(topic)))
            .await?;
        if deleted == 0 {
            return Err(BrokerError::UnknownTopic {
                topic: topic.clone(),
            });
        }
        let _: i64 = shared
            .conn
            .query(redis::cmd("SREM").arg(keys.topics()).arg(topic.as_str()))
            .await?;
        let mut pipe = redis::pipe();
        for i in 0..count {
            let p = topic.partition(i);
            let [due, data, ids] = keys.delayed(&p);
            pipe.cmd("DEL")
                .arg(keys.stream(&p))
                .arg(keys.end(&p))
                .arg(keys.offsets(&p))
                .arg(due)
                .arg(data)
                .arg(ids);
        }
        shared.conn.pipe::<()>(&pipe).await
    }
}

/// The first offset of the entry an `XRANGE .. COUNT 1` found (its id
/// says where its messages end, its `n` how many there are); `None` for
/// an empty stream or an entry this backend did not make.
fn first_offset(reply: &Value) -> Option<u64> {
    let Value::Array(entries) = reply else {
        return None;
    };
    let Value::Array(entry) = entries.first()? else {
        return None;
    };
    let (Some(Value::BulkString(id)), Some(fields)) = (entry.first(), entry.get(1)) else {
        return None;
    };
    let end = crate::offsets::entry_end(id)?;
    let run = Run::from_fields(fields.clone())?;
    end.checked_sub(run.count)
}
