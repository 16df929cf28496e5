//! Producing: payloads appended to partition streams by a Lua script, one
//! call per partition and batch, pipelined.

use std::collections::BTreeMap;

use redis::Value;
use weir_core::{BrokerError, Destination, Partition, Payload, Produced, Producer, Topic};

use crate::broker::Shared;
use crate::entry::encode;
use crate::offsets::{key_hash, offset_of};
use crate::scripts::APPEND;
use std::sync::Arc;

/// Most messages one append call carries.
const CHUNK_MESSAGES: usize = 512;
/// Most payload bytes one append call carries (a single larger payload goes alone).
const CHUNK_BYTES: usize = 2 << 20;

/// Appends payloads to Redis partitions. Cheap to clone; clones share the connection.
///
/// Offsets are dense per partition: each append script call gives its
/// messages consecutive offsets. After a connection failure a call is
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

fn chunk_error(topic: &Topic, reply: &Value, partition: &Partition) -> BrokerError {
    match reply {
        Value::Array(items) => match items.first() {
            Some(Value::Int(1)) => BrokerError::UnknownTopic {
                topic: topic.clone(),
            },
            Some(Value::Int(2)) => BrokerError::UnknownPartition {
                partition: partition.clone(),
                partitions: match items.get(1) {
                    Some(Value::Int(n)) => u32::try_from(*n).unwrap_or(0),
                    _ => 0,
                },
            },
            _ => BrokerError::backend("redis", format!("unexpected append reply {reply:?}")),
        },
        _ => BrokerError::backend("redis", format!("unexpected append reply {reply:?}")),
    }
}

fn first_offset(reply: &Value) -> Option<u64> {
    match reply {
        Value::Array(items) if items.first() == Some(&Value::Int(0)) => match items.get(1)? {
            Value::BulkString(id) => offset_of(id),
            Value::SimpleString(id) => offset_of(id.as_bytes()),
            _ => None,
        },
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
        // One append call per chunk of a partition's messages.
        let mut chunks: Vec<(Partition, Vec<usize>)> = Vec::new();
        for (p, items) in per_partition {
            let mut current = Vec::new();
            let mut bytes = 0;
            for i in items {
                let size = batch[i].1.byte_size();
                if !current.is_empty()
                    && (current.len() >= CHUNK_MESSAGES || bytes + size > CHUNK_BYTES)
                {
                    chunks.push((p.clone(), std::mem::take(&mut current)));
                    bytes = 0;
                }
                bytes += size;
                current.push(i);
            }
            if !current.is_empty() {
                chunks.push((p, current));
            }
        }
        if !chunks.is_empty() {
            let maxlen = shared.config.max_stream_length.unwrap_or(0);
            let now = std::time::SystemTime::now();
            let mut pipe = redis::pipe();
            for (p, items) in &chunks {
                let keys = [shared.keys.meta(&p.topic), shared.keys.stream(p)];
                pipe.add_command(APPEND.cmd(&keys, |c| {
                    c.arg(p.index).arg(maxlen);
                    for &i in items {
                        c.arg(encode(&batch[i].1, now));
                    }
                }));
            }
            match shared.conn.pipe::<Vec<Value>>(&pipe).await {
                Ok(replies) => {
                    for ((p, items), reply) in chunks.iter().zip(replies.iter()) {
                        match first_offset(reply) {
                            Some(first) => {
                                for (n, &i) in items.iter().enumerate() {
                                    out[i] = Some(Ok(Produced {
                                        partition: p.clone(),
                                        offset: first + n as u64,
                                    }));
                                }
                            }
                            None => {
                                shared.forget_topic(&p.topic);
                                for &i in items {
                                    out[i] = Some(Err(chunk_error(&p.topic, reply, p)));
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    let transient = e.is_transient();
                    for (_, items) in &chunks {
                        for &i in items {
                            out[i] = Some(Err(if transient {
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
        }
        out.into_iter()
            .map(|r| {
                r.unwrap_or_else(|| Err(BrokerError::backend("redis", "a message got no reply")))
            })
            .collect()
    }
}
