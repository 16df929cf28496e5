//! Producing: payloads appended to partition streams, one XADD per message,
//! pipelined.

use std::collections::BTreeMap;

use redis::Value;
use weir_core::{BrokerError, Destination, Partition, Payload, Produced, Producer};

use crate::broker::Shared;
use crate::entry::encode;
use crate::offsets::{key_hash, offset_of};
use std::sync::Arc;

/// Appends payloads to Redis partitions. Cheap to clone; clones share the connection.
///
/// Offsets are dense per partition: the server numbers each stream's
/// entries (ids `0-1`, `0-2`, ...); a batch keeps its order per partition. After a connection failure a call is
/// retried (up to the reconnect timeout), so a message may be stored twice
/// (at-least-once), never lost once `produce` returned `Ok`.
#[derive(Clone, Debug)]
pub struct RedisProducer {
    shared: Arc<Shared>,
}

impl RedisProducer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        RedisProducer { shared }
    }
}

/// Where each payload of a batch goes, decided before anything is sent.
pub(crate) async fn route(
    shared: &Shared,
    destination: &Destination,
    payload: &Payload,
) -> Result<Partition, BrokerError> {
    let size = payload.byte_size();
    let limit = shared.config.max_payload_bytes;
    if size > limit {
        return Err(BrokerError::PayloadTooLarge {
            topic: destination.topic().clone(),
            size,
            limit,
        });
    }
    let count = shared.partition_count(destination.topic()).await?;
    let index = match destination {
        Destination::Partition(p) => {
            if p.index >= count {
                return Err(BrokerError::UnknownPartition {
                    partition: p.clone(),
                    partitions: count,
                });
            }
            p.index
        }
        Destination::Topic(_) => {
            let h = match &payload.key {
                Some(k) => key_hash(k),
                None => shared.next_round_robin(),
            };
            (h % u64::from(count)) as u32
        }
    };
    Ok(destination.topic().partition(index))
}

/// Why appending to `partition` found no stream, given its topic's
/// partition count looked up again: the topic is gone, or has fewer
/// partitions than the cached count said.
fn missing_partition(partition: &Partition, count: &Result<u32, BrokerError>) -> BrokerError {
    match count {
        Ok(count) if partition.index >= *count => BrokerError::UnknownPartition {
            partition: partition.clone(),
            partitions: *count,
        },
        Ok(_) => BrokerError::backend(
            "redis",
            format!("the stream of {partition} is missing though its topic exists"),
        ),
        Err(BrokerError::UnknownTopic { topic }) => BrokerError::UnknownTopic {
            topic: topic.clone(),
        },
        Err(BrokerError::Unreachable { endpoint, reason }) => BrokerError::Unreachable {
            endpoint: endpoint.clone(),
            reason: reason.clone(),
        },
        Err(e) => BrokerError::backend("redis", e.to_string()),
    }
}

/// The offset of the entry an XADD added (`None` for a nil reply).
fn entry_offset(reply: &Value) -> Option<u64> {
    match reply {
        Value::BulkString(id) => offset_of(id),
        Value::SimpleString(id) => offset_of(id.as_bytes()),
        _ => None,
    }
}

impl Producer for RedisProducer {
    async fn produce(
        &self,
        destination: Destination,
        payload: Payload,
    ) -> Result<Produced, BrokerError> {
        let mut out = self.produce_batch(vec![(destination, payload)]).await;
        out.pop()
            .unwrap_or_else(|| Err(BrokerError::backend("redis", "the append returned nothing")))
    }

    async fn produce_batch(
        &self,
        batch: Vec<(Destination, Payload)>,
    ) -> Vec<Result<Produced, BrokerError>> {
        let shared = &self.shared;
        let mut out: Vec<Option<Result<Produced, BrokerError>>> =
            (0..batch.len()).map(|_| None).collect();
        // Per partition, the batch positions in order.
        let mut per_partition: BTreeMap<Partition, Vec<usize>> = BTreeMap::new();
        for (i, (destination, payload)) in batch.iter().enumerate() {
            match route(shared, destination, payload).await {
                Ok(p) => per_partition.entry(p).or_default().push(i),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        // One XADD per message, pipelined: the server numbers each partition's
        // entries 0-1, 0-2, ... (`0-*`), and NOMKSTREAM refuses a partition
        // whose stream is gone (its topic was deleted).
        let maxlen = shared.config.max_stream_length;
        let now = std::time::SystemTime::now();
        let mut pipe = redis::pipe();
        let mut sent: Vec<(&Partition, usize)> = Vec::with_capacity(batch.len());
        for (p, items) in &per_partition {
            let stream = shared.keys.stream(p);
            for &i in items {
                let cmd = pipe.cmd("XADD").arg(&stream).arg("NOMKSTREAM");
                if let Some(n) = maxlen {
                    cmd.arg("MAXLEN").arg("~").arg(n);
                }
                cmd.arg("0-*").arg("m").arg(encode(&batch[i].1, now));
                sent.push((p, i));
            }
        }
        if !sent.is_empty() {
            match shared.conn.pipe::<Vec<Value>>(&pipe).await {
                Ok(replies) => {
                    let mut missing = BTreeMap::new();
                    for ((p, i), reply) in sent.iter().zip(replies.iter()) {
                        match entry_offset(reply) {
                            Some(offset) => {
                                out[*i] = Some(Ok(Produced {
                                    partition: (*p).clone(),
                                    offset,
                                }));
                            }
                            None => missing.entry(*p).or_insert_with(Vec::new).push(*i),
                        }
                    }
                    for (p, items) in missing {
                        shared.forget_topic(&p.topic);
                        let count = shared.partition_count(&p.topic).await;
                        for i in items {
                            out[i] = Some(Err(missing_partition(p, &count)));
                        }
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    let transient = e.is_transient();
                    for (_, i) in &sent {
                        out[*i] = Some(Err(if transient {
                            BrokerError::Unreachable {
                                endpoint: shared.conn.endpoint().to_owned(),
                                reason: reason.clone(),
                            }
                        } else {
                            BrokerError::backend("redis", reason.clone())
                        }));
                    }
                }
            }
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(BrokerError::backend("redis", "a message got no reply")))
            })
            .collect()
    }
}
