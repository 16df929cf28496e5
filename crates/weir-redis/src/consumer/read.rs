//! Reading: one `XREADGROUP ... BLOCK` at a time, in a task of its own.
//!
//! On a Redis Cluster, each partition's stream lives in a slot of its own,
//! and one command reads only streams of one slot: a blocking read of
//! several partitions cannot be one command. Several blocking commands, one
//! per partition, would not do either: on one connection a node serves them
//! one after the other, each blocking the next. So a member reading
//! partitions of several slots polls instead: one `XREADGROUP` without
//! `BLOCK` per partition, pipelined (one pipeline per slot, sent at the same
//! time), again every [`CLUSTER_POLL`] until something arrives or the block
//! time ends. A message waits at most that long more than on one server; an
//! idle member costs the cluster a few commands per partition every
//! [`CLUSTER_POLL`]. A member reading one partition blocks as on one server.
//!
//! The read runs on the consumer's own connection, in a spawned task that
//! outlives a cancelled `poll`: the next poll waits for it and files what
//! it brought, so cancelling loses nothing. The same round trip fetches the
//! group's epoch (a change means the membership moved: heartbeat now) and
//! each partition's end (for `lag`). A read that fails for a reason other
//! than the connection (a stream or group vanished) repositions the
//! partitions it read, a few times, before the error reaches the caller.

use std::collections::HashMap;
use std::time::Duration;

use redis::Value;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use weir_core::{BrokerError, Partition};

use super::RedisConsumer;
use crate::reply::ReadReply;

/// How often a read of partitions in several slots of a cluster looks
/// again while they have nothing new (see the module doc).
const CLUSTER_POLL: Duration = Duration::from_millis(10);

/// The replies of a polling read (`GET` of the epoch, one `XREADGROUP` per
/// stream, then the ends) in the shape of a blocking read's: the streams'
/// replies joined into one (nil when none brought anything).
fn merge_reads(replies: Vec<Value>, streams: usize) -> Vec<Value> {
    let mut replies = replies.into_iter();
    let mut out: Vec<Value> = replies.by_ref().take(1).collect();
    let mut read = Vec::new();
    for reply in replies.by_ref().take(streams) {
        match reply {
            Value::Array(items) => read.extend(items),
            Value::Map(pairs) => {
                read.extend(pairs.into_iter().map(|(k, v)| Value::Array(vec![k, v])));
            }
            _ => {}
        }
    }
    out.push(if read.is_empty() {
        Value::Nil
    } else {
        Value::Array(read)
    });
    out.extend(replies);
    out
}

/// A read in flight.
pub(super) struct Read {
    handle: JoinHandle<Result<ReadReply, BrokerError>>,
    /// The streams read, in the order of the command's keys.
    keys: Vec<String>,
    streams: HashMap<String, Partition>,
}

impl Read {
    /// Waits for the read to end, whatever it brought: before leases go, so
    /// it cannot take entries from under the next owner.
    pub(super) async fn end(self) {
        let _ = self.handle.await;
    }
}

impl RedisConsumer {
    /// Starts a blocking read of the readable partitions (or, with none, a
    /// short wait) that also fetches the group's epoch.
    pub(super) fn spawn_read(&mut self) {
        let now = Instant::now();
        let block_time = self.shared.config.block_time;
        let margin = block_time + Duration::from_millis(500);
        let mut streams = HashMap::new();
        // The streams read, and their partitions' counters, in one order.
        let (mut keys, mut ends) = (Vec::new(), Vec::new());
        for (p, o) in &self.owned {
            if self.assignment.is_readable(p) && o.seek.is_none() && o.valid_until > now + margin {
                streams.insert(o.stream.clone(), p.clone());
                keys.push(o.stream.clone());
                ends.push(o.end_key.clone());
            }
        }
        let until_heartbeat = self.next_heartbeat.saturating_duration_since(now);
        let block = block_time
            .min(until_heartbeat)
            .max(Duration::from_millis(1));
        let reader = self.reader.clone();
        let epoch_key = self.shared.keys.epoch(self.group());
        let group = self.config.group_id().to_owned();
        let member = self.member.clone();
        let count = self.read_count;
        let keys_in_order = keys.clone();
        // On a cluster, one command cannot read streams of several slots.
        let poll = self.shared.client.is_cluster() && keys.len() > 1;
        let handle = tokio::spawn(async move {
            if keys.is_empty() {
                tokio::time::sleep(block).await;
                let epoch: Option<u64> = reader.query(redis::cmd("GET").arg(&epoch_key)).await?;
                return Ok(ReadReply::epoch_only(epoch));
            }
            let mut pipe = redis::pipe();
            pipe.cmd("GET").arg(&epoch_key);
            if poll {
                for key in &keys {
                    pipe.cmd("XREADGROUP")
                        .arg("GROUP")
                        .arg(&group)
                        .arg(&member)
                        .arg("COUNT")
                        .arg(count)
                        .arg("STREAMS")
                        .arg(key)
                        .arg(">");
                }
            } else {
                pipe.cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(&group)
                    .arg(&member)
                    .arg("COUNT")
                    .arg(count)
                    .arg("BLOCK")
                    .arg(block.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&keys);
                for _ in &keys {
                    pipe.arg(">");
                }
            }
            // Each partition's end, after the read: for `lag`.
            for end in &ends {
                pipe.cmd("GET").arg(end);
            }
            if !poll {
                let replies: Vec<Value> = reader.pipe(&pipe).await?;
                return ReadReply::from_pipeline(replies);
            }
            let until = Instant::now() + block;
            loop {
                let replies: Vec<Value> = reader.pipe(&pipe).await?;
                let reply = ReadReply::from_pipeline(merge_reads(replies, keys.len()))?;
                if !matches!(reply.entries, Value::Nil) || Instant::now() >= until {
                    return Ok(reply);
                }
                tokio::time::sleep(CLUSTER_POLL.min(until - Instant::now())).await;
            }
        });
        self.inflight = Some(Read {
            handle,
            keys: keys_in_order,
            streams,
        });
    }

    /// Records where each partition read ends (for `lag`).
    fn note_ends(&mut self, read: &Read, ends: Vec<Option<u64>>) {
        for (key, end) in read.keys.iter().zip(ends) {
            let Some(o) = read.streams.get(key).and_then(|p| self.owned.get_mut(p)) else {
                continue;
            };
            o.end = Some(end.unwrap_or(0));
        }
    }

    /// Waits for the read in flight (if any) and files what it brought.
    pub(super) async fn finish_read(&mut self) -> Result<(), BrokerError> {
        let Some(read) = self.inflight.as_mut() else {
            return Ok(());
        };
        let result = (&mut read.handle).await;
        let Some(read) = self.inflight.take() else {
            return Ok(());
        };
        match result {
            Ok(Ok(reply)) => {
                self.read_failures = 0;
                if reply.epoch != self.epoch_seen {
                    self.maintain_now = true;
                }
                self.take_reply(&read.streams, reply.entries);
                self.note_ends(&read, reply.ends);
                Ok(())
            }
            Ok(Err(e)) if e.is_transient() => Err(e),
            Ok(Err(e)) => {
                // A stream or group vanished (topic deleted, server restarted
                // empty): position again and let the heartbeat sort it out.
                self.read_failures += 1;
                tracing::debug!(
                    error = &e as &(dyn std::error::Error + 'static),
                    "read failed; repositioning"
                );
                for p in read.streams.values() {
                    if let Some(o) = self.owned.get_mut(p) {
                        o.seek.get_or_insert(o.position);
                    }
                }
                self.maintain_now = true;
                if self.read_failures > 3 {
                    Err(e)
                } else {
                    Ok(())
                }
            }
            Err(join) => Err(BrokerError::backend("redis", join.to_string())),
        }
    }
}
