//! Delayed delivery on Redis: entries wait in a sorted set scored by due
//! time (payloads in a hash beside it); a Lua script moves the due ones to
//! their partition streams, atomically, so each moves once however many
//! workers run it.

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
        let (due_key, data_key) = s.keys.delayed(topic);
        let keys = [due_key, data_key, s.keys.delayed_ids(), s.keys.meta(topic)];
        let cmd = DELAY_ADD.cmd(&keys, |c| {
            c.arg(millis(due)).arg(partition.index).arg(RunArg::new(
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

    async fn deliver_due(&self, topic: &Topic) -> Result<Vec<Produced>, BrokerError> {
        let s = &self.shared;
        let count = s.partition_count(topic).await?;
        let (due_key, data_key) = s.keys.delayed(topic);
        let mut keys = vec![due_key, data_key, s.keys.meta(topic)];
        for i in 0..count {
            let p = topic.partition(i);
            keys.push(s.keys.stream(&p));
            keys.push(s.keys.end(&p));
        }
        let maxlen = s.config.max_stream_length.unwrap_or(0);
        let mut out = Vec::new();
        loop {
            let cmd = DELAY_MOVE.cmd(&keys, |c| {
                c.arg(MOVE_BATCH).arg(maxlen);
            });
            let reply: Vec<i64> = s.conn.query(&cmd).await?;
            let moved = reply.len() / 2;
            for pair in reply.chunks(2) {
                // The moved message is the last of its entry.
                if let [p, end] = pair
                    && let (Ok(index), Ok(end)) = (u32::try_from(*p), u64::try_from(*end))
                    && end > 0
                {
                    out.push(Produced {
                        partition: topic.partition(index),
                        offset: end - 1,
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
