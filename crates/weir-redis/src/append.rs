//! Appending a batch to partition streams: the one write path, shared by
//! `produce_batch` and the gathered single `produce` calls (`gathering.rs`).
//!
//! Each payload is routed first (`route.rs`); then a partition's payloads
//! are cut into runs (one stream entry each, see `entry.rs`), and every run
//! is one call of the append script, all pipelined in one round trip. The
//! script numbers a run's entry atomically and refuses a partition whose
//! stream is gone (its topic was deleted meanwhile); those payloads get the
//! error that explains it.

use std::collections::BTreeMap;

use redis::Value;
use weir_core::{BrokerError, Destination, Partition, Payload, Produced};

use crate::broker::Shared;
use crate::entry::{RUN_BYTES, RUN_MESSAGES, RunArg, stored_len};
use crate::reply::append_end;
use crate::route::Router;
use crate::scripts::APPEND;

/// Appends a batch: each payload's result, in the batch's order.
pub(crate) async fn append(
    shared: &Shared,
    batch: Vec<(Destination, Payload)>,
) -> Vec<Result<Produced, BrokerError>> {
    let mut out: Vec<Option<Result<Produced, BrokerError>>> =
        (0..batch.len()).map(|_| None).collect();
    // Per partition, the batch positions in order.
    let mut per_partition: BTreeMap<Partition, Vec<usize>> = BTreeMap::new();
    let mut router = Router::new(shared);
    for (i, (destination, payload)) in batch.iter().enumerate() {
        match router.route(destination, payload).await {
            Ok(p) => per_partition.entry(p).or_default().push(i),
            Err(e) => out[i] = Some(Err(e)),
        }
    }
    // One append per run, pipelined: the script numbers each run's entry
    // atomically, and refuses a partition whose stream is gone (its
    // topic was deleted).
    let keep = shared.config.max_stream_length.unwrap_or(0);
    let now = std::time::SystemTime::now();
    let mut pipe = redis::pipe();
    let mut sent: Vec<(&Partition, &[usize])> = Vec::with_capacity(per_partition.len());
    for (p, items) in &per_partition {
        let keys = [shared.keys.stream(p), shared.keys.end(p)];
        for run in runs(items, |i| stored_len(&batch[i].1)) {
            let data = RunArg::new(run.iter().map(|&i| &batch[i].1), now);
            pipe.add_command(APPEND.cmd(&keys, |c| {
                c.arg(run.len()).arg(data).arg(keep);
            }));
            sent.push((p, run));
        }
    }
    if !sent.is_empty() {
        match shared.conn.pipe::<Vec<Value>>(&pipe).await {
            Ok(replies) => {
                let mut missing = BTreeMap::new();
                for ((p, run), reply) in sent.iter().zip(replies.iter()) {
                    match append_end(reply) {
                        Some(end) => {
                            let first = end.saturating_sub(run.len() as u64);
                            for (offset, &i) in (first..).zip(run.iter()) {
                                out[i] = Some(Ok(Produced {
                                    partition: (*p).clone(),
                                    offset,
                                }));
                            }
                        }
                        None => missing
                            .entry(*p)
                            .or_insert_with(Vec::new)
                            .extend_from_slice(run),
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
                // The whole cause chain: each payload gets its own error.
                let reason = chain(&e);
                let transient = e.is_transient();
                for &i in sent.iter().flat_map(|(_, run)| run.iter()) {
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
    out.into_iter()
        .map(|r| r.unwrap_or_else(|| Err(BrokerError::backend("redis", "a message got no reply"))))
        .collect()
}

/// An error and its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        next = cause.source();
    }
    out
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

/// Splits a partition's batch positions into runs of at most
/// [`RUN_MESSAGES`] messages and about [`RUN_BYTES`] (a larger message is a
/// run of its own).
fn runs(items: &[usize], size: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (j, &i) in items.iter().enumerate() {
        let n = size(i);
        if j > start && (j - start == RUN_MESSAGES || bytes + n > RUN_BYTES) {
            out.push(&items[start..j]);
            (start, bytes) = (j, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_close_at_the_message_and_byte_limits() {
        let items: Vec<usize> = (0..2 * RUN_MESSAGES + 1).collect();
        let lens: Vec<usize> = runs(&items, |_| 10).iter().map(|r| r.len()).collect();
        assert_eq!(lens, [RUN_MESSAGES, RUN_MESSAGES, 1]);

        // Three messages of a third of the limit fit; the fourth starts a run.
        let third = RUN_BYTES / 3;
        let lens: Vec<usize> = runs(&[0, 1, 2, 3], |_| third)
            .iter()
            .map(|r| r.len())
            .collect();
        assert_eq!(lens, [3, 1]);

        // A message over the limit is a run of its own, never an empty run.
        let sizes = [10, RUN_BYTES * 2, 10];
        let got = runs(&[0, 1, 2], |i| sizes[i]);
        assert_eq!(got, [&[0][..], &[1][..], &[2][..]]);
        assert!(runs(&[], |_| 1).is_empty());
    }
}
