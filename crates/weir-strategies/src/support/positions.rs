//! A small set of commit positions, tuned for the hot path.

use std::collections::BTreeMap;

use weir_core::{CommitRequest, Message, Partition};

/// Per partition, the highest position recorded. A pipeline serves few
/// partitions and consecutive messages usually share one: a short list with
/// a cached last slot beats a map here.
#[derive(Debug, Default)]
pub(crate) struct Positions {
    list: Vec<(Partition, u64)>,
    last: usize,
}

impl Positions {
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
        self.last = 0;
    }

    /// Records what finishing `message` commits.
    #[inline]
    pub(crate) fn record_message<T>(&mut self, message: &Message<T>) {
        match message {
            Message::Broker(b) => self.record(&b.partition, b.offset + 1),
            Message::Value(v) => {
                for (p, o) in &v.committable {
                    self.record(p, *o);
                }
            }
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, partition: &Partition, position: u64) {
        if let Some((p, current)) = self.list.get_mut(self.last)
            && same(p, partition)
        {
            *current = (*current).max(position);
            return;
        }
        self.record_other(partition, position);
    }

    fn record_other(&mut self, partition: &Partition, position: u64) {
        match self.list.iter().position(|(p, _)| same(p, partition)) {
            Some(i) => {
                self.last = i;
                let current = &mut self.list[i].1;
                *current = (*current).max(position);
            }
            None => {
                self.last = self.list.len();
                self.list.push((partition.clone(), position));
            }
        }
    }

    /// Takes the positions out as a map.
    pub(crate) fn take_map(&mut self) -> BTreeMap<Partition, u64> {
        self.last = 0;
        self.list.drain(..).collect()
    }

    /// Takes the positions out as a commit request, if any.
    pub(crate) fn take_request(&mut self) -> Option<CommitRequest> {
        if self.list.is_empty() {
            None
        } else {
            Some(CommitRequest::from(self.take_map()))
        }
    }
}

/// Partition equality (cheap: topic names are interned, so comparing them
/// compares two pointers).
#[inline]
pub(crate) fn same(a: &Partition, b: &Partition) -> bool {
    a.index == b.index && a.topic == b.topic
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keeps_the_maximum_per_partition(records in proptest::collection::vec((0u32..3, 0u64..50), 0..40)) {
            let mut set = Positions::default();
            for (i, o) in &records {
                // Distinct but equal topic names exercise the slow comparison.
                set.record(&Partition::new(format!("t{}", i % 2), *i), *o);
            }
            let map = set.take_map();
            for i in 0..3u32 {
                let expect = records.iter().filter(|(j, _)| *j == i).map(|(_, o)| *o).max();
                prop_assert_eq!(map.get(&Partition::new(format!("t{}", i % 2), i)).copied(), expect);
            }
            prop_assert!(set.is_empty());
        }
    }
}
