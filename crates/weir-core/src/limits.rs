//! The checks every backend makes before it stores anything.
//!
//! A topic needs a partition; a named partition must be one the topic has;
//! a payload must fit the backend's size limit. Each rule fails with the
//! same typed [`BrokerError`] on every backend, so callers (and the
//! conformance suite) can match on it whichever broker they run on.

use crate::{BrokerError, Partition, Payload, Topic};

/// Checks a new topic's partition count: fails with
/// [`BrokerError::NoPartitions`] for zero.
///
/// ```
/// use weir_core::{BrokerError, Topic, check_partition_count};
/// assert!(check_partition_count(&Topic::new("t"), 3).is_ok());
/// assert!(matches!(check_partition_count(&Topic::new("t"), 0), Err(BrokerError::NoPartitions { .. })));
/// ```
pub fn check_partition_count(topic: &Topic, partitions: u32) -> Result<(), BrokerError> {
    if partitions == 0 {
        return Err(BrokerError::NoPartitions {
            topic: topic.clone(),
        });
    }
    Ok(())
}

/// Checks that `partition` is one of its topic's `partitions`: fails with
/// [`BrokerError::UnknownPartition`] otherwise.
#[inline]
pub fn check_partition(partition: &Partition, partitions: u32) -> Result<(), BrokerError> {
    if partition.index >= partitions {
        return Err(BrokerError::UnknownPartition {
            partition: partition.clone(),
            partitions,
        });
    }
    Ok(())
}

/// Checks that `payload`, sent to `topic`, takes at most `limit` bytes (its
/// [`byte_size`](Payload::byte_size)): fails with
/// [`BrokerError::PayloadTooLarge`] otherwise.
#[inline]
pub fn check_payload_size(
    topic: &Topic,
    payload: &Payload,
    limit: usize,
) -> Result<(), BrokerError> {
    let size = payload.byte_size();
    if size > limit {
        return Err(BrokerError::PayloadTooLarge {
            topic: topic.clone(),
            size,
            limit,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_needs_a_partition() {
        let t = Topic::new("t");
        assert!(check_partition_count(&t, 1).is_ok());
        assert!(matches!(
            check_partition_count(&t, 0),
            Err(BrokerError::NoPartitions { topic }) if topic == t
        ));
    }

    #[test]
    fn a_partition_must_be_below_the_count() {
        let t = Topic::new("t");
        assert!(check_partition(&t.partition(0), 1).is_ok());
        assert!(check_partition(&t.partition(3), 4).is_ok());
        assert!(matches!(
            check_partition(&t.partition(4), 4),
            Err(BrokerError::UnknownPartition { partition, partitions: 4 }) if partition == t.partition(4)
        ));
    }

    #[test]
    fn the_limit_counts_value_key_and_headers() {
        let t = Topic::new("t");
        // 4 value + 2 key + 1 name + 3 value of the header = 10 bytes.
        let p = Payload::new("abcd").with_key("k1").with_header("h", "xyz");
        assert!(check_payload_size(&t, &p, 10).is_ok());
        assert!(matches!(
            check_payload_size(&t, &p, 9),
            Err(BrokerError::PayloadTooLarge { topic, size: 10, limit: 9 }) if topic == t
        ));
        assert!(check_payload_size(&t, &Payload::new(""), 0).is_ok());
    }
}
