//! Commit requests: per partition, the next offset to read.

use std::collections::BTreeMap;

use crate::{BrokerValue, Partition};

/// What to commit: per partition, the offset of the next message to read.
///
/// Requests merge by keeping the highest offset per partition, so positions
/// flowing up from several steps combine without moving anything backwards.
///
/// ```
/// use weir_core::{CommitRequest, Partition};
/// let p = Partition::new("events", 0);
/// let a = CommitRequest::from_iter([(p.clone(), 10)]);
/// let b = CommitRequest::from_iter([(p.clone(), 7)]);
/// assert_eq!(a.merge(b).get(&p), Some(10));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitRequest {
    positions: BTreeMap<Partition, u64>,
}

impl CommitRequest {
    /// An empty request.
    pub fn new() -> Self {
        CommitRequest::default()
    }

    /// Both requests in one, keeping the highest offset per partition.
    #[must_use]
    pub fn merge(mut self, other: CommitRequest) -> Self {
        self.merge_in(other);
        self
    }

    /// Merges `other` into this request, keeping the highest offset per partition.
    pub fn merge_in(&mut self, other: CommitRequest) {
        for (p, o) in other.positions {
            self.insert(p, o);
        }
    }

    /// Merges two optional requests (the shape `poll` and `join` return).
    pub fn merge_opt(a: Option<CommitRequest>, b: Option<CommitRequest>) -> Option<CommitRequest> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, None) => a,
            (None, b) => b,
        }
    }

    /// Records `offset` for `partition` unless a higher one is already there.
    pub fn insert(&mut self, partition: Partition, offset: u64) {
        self.positions
            .entry(partition)
            .and_modify(|o| *o = (*o).max(offset))
            .or_insert(offset);
    }

    /// The offset recorded for `partition`.
    pub fn get(&self, partition: &Partition) -> Option<u64> {
        self.positions.get(partition).copied()
    }

    /// Removes and returns the offset for `partition`.
    pub fn remove(&mut self, partition: &Partition) -> Option<u64> {
        self.positions.remove(partition)
    }

    /// Keeps only the partitions for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&Partition) -> bool) {
        self.positions.retain(|p, _| keep(p));
    }

    /// Whether nothing is to be committed.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// How many partitions the request names.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// The positions, by partition.
    pub fn iter(&self) -> impl Iterator<Item = (&Partition, u64)> {
        self.positions.iter().map(|(p, o)| (p, *o))
    }

    /// The positions as a map.
    pub fn positions(&self) -> &BTreeMap<Partition, u64> {
        &self.positions
    }

    /// Takes the positions out as a map.
    pub fn into_positions(self) -> BTreeMap<Partition, u64> {
        self.positions
    }
}

impl FromIterator<(Partition, u64)> for CommitRequest {
    fn from_iter<I: IntoIterator<Item = (Partition, u64)>>(iter: I) -> Self {
        let mut req = CommitRequest::new();
        for (p, o) in iter {
            req.insert(p, o);
        }
        req
    }
}

impl<'a, T: 'a> FromIterator<&'a BrokerValue<T>> for CommitRequest {
    /// What committing these messages stores: per partition, the offset
    /// after the last of them.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use weir_core::{BrokerValue, CommitRequest, Partition};
    /// let p = Partition::new("events", 0);
    /// let read = [4, 5].map(|o| BrokerValue::new((), p.clone(), o, SystemTime::UNIX_EPOCH));
    /// let done: CommitRequest = read.iter().collect();
    /// assert_eq!(done.get(&p), Some(6));
    /// ```
    fn from_iter<I: IntoIterator<Item = &'a BrokerValue<T>>>(messages: I) -> Self {
        messages
            .into_iter()
            .map(|m| (m.partition.clone(), m.next_offset()))
            .collect()
    }
}

impl From<BTreeMap<Partition, u64>> for CommitRequest {
    fn from(positions: BTreeMap<Partition, u64>) -> Self {
        CommitRequest { positions }
    }
}

impl IntoIterator for CommitRequest {
    type Item = (Partition, u64);
    type IntoIter = std::collections::btree_map::IntoIter<Partition, u64>;

    fn into_iter(self) -> Self::IntoIter {
        self.positions.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn merge_keeps_the_maximum_per_partition(
            a in proptest::collection::vec((0u32..4, 0u64..100), 0..20),
            b in proptest::collection::vec((0u32..4, 0u64..100), 0..20),
        ) {
            let to_req = |v: &Vec<(u32, u64)>| v.iter().map(|&(i, o)| (Partition::new("t", i), o)).collect::<CommitRequest>();
            let merged = to_req(&a).merge(to_req(&b));
            for i in 0..4 {
                let expect = a.iter().chain(b.iter()).filter(|(j, _)| *j == i).map(|(_, o)| *o).max();
                prop_assert_eq!(merged.get(&Partition::new("t", i)), expect);
            }
            // merge is commutative
            prop_assert_eq!(to_req(&b).merge(to_req(&a)), merged);
        }
    }

    #[test]
    fn merge_opt_combines() {
        let p = Partition::new("t", 0);
        let a = Some(CommitRequest::from_iter([(p.clone(), 1)]));
        assert_eq!(CommitRequest::merge_opt(a.clone(), None), a);
        assert_eq!(CommitRequest::merge_opt(None, None), None);
    }
}
