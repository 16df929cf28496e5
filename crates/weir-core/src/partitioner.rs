//! Which partition a message sent to a whole topic goes to.
//!
//! Every backend that picks partitions itself (memory, Redis) follows one
//! rule, so that a key lands on the same partition whichever of them stores
//! it, and whichever process sends it: a message with a key goes to
//! `key_hash(key) % partitions`, one without a key to the next partition in
//! turn. The hash is FNV-1a over the key's bytes: small, fixed, and the same
//! in every build, because stored data depends on it (changing it would move
//! keys to other partitions and break their order). Kafka leaves the choice
//! to librdkafka's partitioner and does not use this.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{BrokerError, Destination, Partition, Payload};

/// Picks a partition for each message: by key hash when it has a key, else
/// in turn. Keep one per producer (or per topic): the turn is its only state.
///
/// ```
/// use weir_core::{Destination, Partitioner, Payload, Topic};
/// let partitioner = Partitioner::new();
/// let orders = Destination::Topic(Topic::new("orders"));
/// let keyed = Payload::new("apple").with_key("user-7");
/// let a = partitioner.place(&orders, &keyed, 4).unwrap();
/// let b = partitioner.place(&orders, &keyed, 4).unwrap();
/// assert_eq!(a, b); // the same key, the same partition
/// ```
#[derive(Debug, Default)]
pub struct Partitioner {
    turn: AtomicU64,
}

impl Partitioner {
    /// A partitioner whose turn starts at partition 0.
    pub fn new() -> Self {
        Partitioner::default()
    }

    /// FNV-1a of `key`: the stable hash that maps a key to a partition.
    #[inline]
    pub fn key_hash(key: &[u8]) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    }

    /// The next turn. A load and a store rather than one atomic
    /// read-modify-write, which costs a locked instruction on every
    /// message: callers at the same instant on two threads may take the
    /// same turn, which keeps the spread even and only repeats a partition.
    #[inline]
    fn next_turn(&self) -> u64 {
        let turn = self.turn.load(Ordering::Relaxed);
        self.turn.store(turn.wrapping_add(1), Ordering::Relaxed);
        turn
    }

    /// The index, among `partitions` (at least one), of the partition a
    /// message with this key goes to. `None` for a topic without partitions.
    #[inline]
    pub fn choose(&self, key: Option<&[u8]>, partitions: u32) -> Option<u32> {
        let n = u64::from(partitions);
        if n == 0 {
            return None;
        }
        let h = match key {
            Some(key) => Partitioner::key_hash(key),
            None => self.next_turn(),
        };
        u32::try_from(h % n).ok()
    }

    /// The partition `payload` goes to, given its destination's topic has
    /// `partitions` partitions: the one named, if the topic has it, or the
    /// one [`choose`](Partitioner::choose) picks.
    ///
    /// Fails with [`BrokerError::UnknownPartition`] for a named partition the
    /// topic does not have, and [`BrokerError::NoPartitions`] when the topic
    /// has none to choose from.
    #[inline]
    pub fn place(
        &self,
        destination: &Destination,
        payload: &Payload,
        partitions: u32,
    ) -> Result<Partition, BrokerError> {
        match destination {
            Destination::Partition(p) => {
                crate::limits::check_partition(p, partitions)?;
                Ok(p.clone())
            }
            Destination::Topic(topic) => self
                .choose(payload.key.as_deref(), partitions)
                .map(|index| topic.partition(index))
                .ok_or_else(|| BrokerError::NoPartitions {
                    topic: topic.clone(),
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Topic;

    #[test]
    fn key_hash_is_fnv1a() {
        // Reference values of 64-bit FNV-1a.
        assert_eq!(Partitioner::key_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(Partitioner::key_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Partitioner::key_hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_key_always_maps_to_the_same_partition() {
        let (one, two) = (Partitioner::new(), Partitioner::new());
        for key in [&b"user-1"[..], b"", b"\xff\x00"] {
            let expected = u32::try_from(Partitioner::key_hash(key) % 7).expect("below 7");
            assert_eq!(one.choose(Some(key), 7), Some(expected));
            assert_eq!(two.choose(Some(key), 7), Some(expected));
        }
    }

    #[test]
    fn messages_without_a_key_take_turns() {
        let p = Partitioner::new();
        let picks: Vec<_> = (0..7).filter_map(|_| p.choose(None, 3)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn a_topic_without_partitions_has_no_choice() {
        let p = Partitioner::new();
        assert_eq!(p.choose(Some(b"k"), 0), None);
        let t = Topic::new("t");
        let err = p.place(&Destination::Topic(t.clone()), &Payload::new("v"), 0);
        assert!(matches!(err, Err(BrokerError::NoPartitions { topic }) if topic == t));
    }

    #[test]
    fn a_named_partition_must_exist() {
        let p = Partitioner::new();
        let t = Topic::new("t");
        let named = Destination::Partition(t.partition(2));
        assert_eq!(
            p.place(&named, &Payload::new("v"), 3).ok(),
            Some(t.partition(2))
        );
        let err = p.place(&named, &Payload::new("v"), 2);
        assert!(matches!(
            err,
            Err(BrokerError::UnknownPartition { partition, partitions: 2 }) if partition == t.partition(2)
        ));
    }

    #[test]
    fn placing_by_topic_uses_the_key() {
        let p = Partitioner::new();
        let t = Topic::new("t");
        let payload = Payload::new("v").with_key("user-1");
        let index = u32::try_from(Partitioner::key_hash(b"user-1") % 5).expect("below 5");
        assert_eq!(
            p.place(&Destination::Topic(t.clone()), &payload, 5).ok(),
            Some(t.partition(index))
        );
    }
}
