//! Delayed delivery on Redis: entries wait in a sorted set scored by due
//! time (payloads in a hash beside it); a Lua script moves the due ones to
//! their partition streams, atomically, so each moves once however many
//! workers run it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Value;
use weir_core::capability::DelayedDelivery;
use weir_core::{BrokerError, Destination, Payload, Produced, Topic};

use crate::RedisBroker;
use crate::entry::encode;
use crate::offsets::offset_of;
use crate::producer::route;
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
        let partition = route(s, &destination, &payload).await?;
        let topic = destination.topic();
        let (due_key, data_key) = s.keys.delayed(topic);
        let keys = [due_key, data_key, s.keys.delayed_ids(), s.keys.meta(topic)];
        let cmd = DELAY_ADD.cmd(&keys, |c| {
            c.arg(millis(due))
                .arg(partition.index)
                .arg(encode(&payload, due.max(SystemTime::now())));
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

    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        let s = &self.shared;
        let count = s.partition_count(topic).await?;
        let (due_key, data_key) = s.keys.delayed(topic);
        let mut keys = vec![due_key, data_key, s.keys.meta(topic)];
        keys.extend((0..count).map(|i| s.keys.stream(&topic.partition(i))));
        let maxlen = s.config.max_stream_length.unwrap_or(0);
        let mut out = Vec::new();
        loop {
            let cmd = DELAY_MOVE.cmd(&keys, |c| {
                c.arg(MOVE_BATCH).arg(maxlen);
            });
            let reply: Vec<Value> = s.conn.query(&cmd).await?;
            let moved = reply.len() / 2;
            for pair in reply.chunks(2) {
                if let [Value::Int(p), Value::BulkString(id)] = pair
                    && let (Ok(index), Some(offset)) = (u32::try_from(*p), offset_of(id))
                {
                    out.push(Produced {
                        partition: topic.partition(index),
                        offset,
                    });
                }
            }
            if moved < MOVE_BATCH {
                return Ok(out);
            }
        }
    }

    async fn next_due(&self, topic: &Topic) -> Result<Option<SystemTime>, BrokerError> {
        let s = &self.shared;
        let (due_key, _) = s.keys.delayed(topic);
        let first: Vec<(String, f64)> = s
            .conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(due_key)
                    .arg(0)
                    .arg(0)
                    .arg("WITHSCORES"),
            )
            .await?;
        Ok(first
            .first()
            .map(|(_, ms)| UNIX_EPOCH + Duration::from_millis(ms.max(0.0) as u64)))
    }
}
