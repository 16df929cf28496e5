//! Delayed delivery on Redis: entries wait in a sorted set per partition
//! scored by due time (payloads in a hash beside it, in the partition's
//! slot); a Lua script moves the due ones to the partition's stream,
//! atomically, so each moves once however many workers run it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weir_core::capability::DelayedDelivery;
use weir_core::{BrokerError, Destination, Payload, Produced, Topic};

use crate::RedisBroker;
use crate::entry::RunArg;
use crate::route::Router;
use crate::scripts::{DELAY_ADD, DELAY_MOVE};

/// Most entries one move call takes.
const MOVE_BATCH: usize = 500;

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl DelayedDelivery for RedisBroker {
    async fn produce_at(
        &self,
        destination: Destination,
        payload: Payload,
        due: SystemTime,
    ) -> Result<(), BrokerError> {
        let s = &self.shared;
        let partition = Router::new(s).route(&destination, &payload).await?;
        let topic = destination.topic();
        let [due_key, data_key, ids_key] = s.keys.delayed(&partition);
        let keys = [due_key, data_key, ids_key, s.keys.stream(&partition)];
        let cmd = DELAY_ADD.cmd(&keys, |c| {
            c.arg(millis(due)).arg(RunArg::new(
                std::iter::once(&payload),
                due.max(SystemTime::now()),
            ));
        });
        let missing: i64 = s.conn.query(&cmd).await?;
        if missing == 1 {
            s.forget_topic(topic);
            return Err(BrokerError::UnknownTopic {
                topic: topic.clone(),
            });
        }
        Ok(())
    }

    /// Moves each partition's due messages (one script call per partition,
    /// pipelined; again for those that had a full batch).
    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        let s = &self.shared;
        let count = s.partition_count(topic).await?;
        let maxlen = s.config.max_stream_length.unwrap_or(0);
        let mut out = Vec::new();
        let mut pending: Vec<u32> = (0..count).collect();
        while !pending.is_empty() {
            let mut pipe = redis::pipe();
            for &i in &pending {
                let p = topic.partition(i);
                let [due_key, data_key, _] = s.keys.delayed(&p);
                let keys = [due_key, data_key, s.keys.stream(&p), s.keys.end(&p)];
                pipe.add_command(DELAY_MOVE.cmd(&keys, |c| {
                    c.arg(MOVE_BATCH).arg(maxlen);
                }));
            }
            let replies: Vec<Vec<i64>> = s.conn.pipe(&pipe).await?;
            let mut again = Vec::new();
            for (&i, ends) in pending.iter().zip(replies) {
                if ends.len() >= MOVE_BATCH {
                    again.push(i);
                }
                // The moved message is the last of its entry.
                out.extend(
                    ends.into_iter()
                        .filter_map(|end| u64::try_from(end).ok().filter(|e| *e > 0))
                        .map(|end| Produced {
                            partition: topic.partition(i),
                            offset: end - 1,
                        }),
                );
            }
            pending = again;
        }
        Ok(out)
    }

    async fn next_due(&self, topic: &Topic) -> Result<Option<SystemTime>, BrokerError> {
        let s = &self.shared;
        let count = s.partition_count(topic).await?;
        let mut pipe = redis::pipe();
        for i in 0..count {
            let [due_key, _, _] = s.keys.delayed(&topic.partition(i));
            pipe.cmd("ZRANGE")
                .arg(due_key)
                .arg(0)
                .arg(0)
                .arg("WITHSCORES");
        }
        let firsts: Vec<Vec<(String, f64)>> = s.conn.pipe(&pipe).await?;
        Ok(firsts
            .iter()
            .filter_map(|f| f.first().map(|(_, ms)| *ms))
            .reduce(f64::min)
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0.0) as u64)))
    }

    async fn scheduled(&self, topic: &Topic) -> Result<Option<u64>, BrokerError> {
        let s = &self.shared;
        let count = s.partition_count(topic).await?;
        let mut pipe = redis::pipe();
        for i in 0..count {
            let [due_key, _, _] = s.keys.delayed(&topic.partition(i));
            pipe.cmd("ZCARD").arg(due_key);
        }
        let counts: Vec<u64> = s.conn.pipe(&pipe).await?;
        Ok(Some(counts.iter().sum()))
    }
}
