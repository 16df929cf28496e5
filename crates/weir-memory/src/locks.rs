//! The partitions one batch appends to, locked together.
//!
//! `produce_batch` takes each partition's lock once for the whole batch
//! rather than once per message (a batch spread round robin over a topic
//! would otherwise take a lock for every message), and appends in the
//! batch's order. The locks are taken in one global order, by the address
//! of the topic's state and then by partition index. Nothing else holds two
//! partition locks at a time, so two batches cannot deadlock.

use std::sync::{Arc, MutexGuard};
use std::time::SystemTime;

use weir_core::Payload;

use crate::log::PartitionLog;
use crate::topic::TopicState;

/// Locked partitions of a list of topics, by the topic's place in the list
/// and the partition's index.
pub(crate) struct PartitionLocks<'a> {
    topics: &'a [Arc<TopicState>],
    logs: Vec<Vec<Option<MutexGuard<'a, PartitionLog>>>>,
}

impl<'a> PartitionLocks<'a> {
    /// Locks, for each `(topic, partition)` of `wanted`, partition
    /// `partition` of `topics[topic]`; pairs naming no partition are skipped.
    pub(crate) fn lock(
        topics: &'a [Arc<TopicState>],
        wanted: impl IntoIterator<Item = (usize, u32)>,
    ) -> Self {
        let mut needed: Vec<Vec<bool>> = topics
            .iter()
            .map(|t| vec![false; t.partition_count() as usize])
            .collect();
        for (t, p) in wanted {
            if let Some(slot) = needed.get_mut(t).and_then(|n| n.get_mut(p as usize)) {
                *slot = true;
            }
        }
        let mut order: Vec<usize> = (0..topics.len()).collect();
        order.sort_by_key(|t| Arc::as_ptr(&topics[*t]) as usize);
        let mut logs: Vec<Vec<Option<MutexGuard<'a, PartitionLog>>>> = needed
            .iter()
            .map(|n| n.iter().map(|_| None).collect())
            .collect();
        for t in order {
            for (p, wanted) in needed[t].iter().enumerate() {
                if *wanted {
                    logs[t][p] = topics[t].log(p as u32);
                }
            }
        }
        PartitionLocks { topics, logs }
    }

    /// Appends `payload` to a locked partition, stored at `timestamp`, and
    /// returns its offset; `None` for a partition not locked.
    pub(crate) fn append(
        &mut self,
        topic: usize,
        partition: u32,
        payload: Payload,
        timestamp: SystemTime,
    ) -> Option<u64> {
        let retention = self.topics.get(topic)?.retention();
        let log = self
            .logs
            .get_mut(topic)?
            .get_mut(partition as usize)?
            .as_mut()?;
        Some(log.append(payload, timestamp, retention))
    }
}

#[cfg(test)]
mod tests {
    use weir_core::Topic;

    use super::*;
    use crate::log::Retention;

    #[test]
    fn appends_to_the_locked_partitions_only_and_releases_them() {
        let topics = vec![
            Arc::new(TopicState::new(Topic::new("a"), 2, Retention::unbounded())),
            Arc::new(TopicState::new(Topic::new("b"), 1, Retention::unbounded())),
        ];
        let now = SystemTime::now();
        let mut locks = PartitionLocks::lock(&topics, [(1, 0), (0, 1), (1, 0), (0, 9), (5, 0)]);
        assert_eq!(locks.append(0, 1, Payload::new("x"), now), Some(0));
        assert_eq!(locks.append(0, 1, Payload::new("y"), now), Some(1));
        assert_eq!(locks.append(1, 0, Payload::new("z"), now), Some(0));
        assert_eq!(locks.append(0, 0, Payload::new("not locked"), now), None);
        assert_eq!(locks.append(0, 9, Payload::new("no such"), now), None);
        drop(locks);
        let ends: Vec<u64> = topics
            .iter()
            .flat_map(|t| t.bounds())
            .map(|(_, end)| end)
            .collect();
        assert_eq!(
            ends,
            vec![0, 2, 1],
            "released: bounds() takes each lock again"
        );
    }
}
