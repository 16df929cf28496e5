//! Where a value came from: the broker messages it was made of.

use std::collections::BTreeMap;
use std::ops::Range;

use weir_core::{Message, Origin, Partition};

use crate::support::positions::same;

/// Per partition, the runs of offsets of the messages recorded: what an
/// aggregate (a [`Reduce`](crate::Reduce) or [`Batch`](crate::Batch)
/// output) was made from, so that when it is declared invalid exactly its
/// original messages can be dead-lettered (a message filtered out between
/// two recorded ones leaves a gap). Like [`Positions`](crate::positions), a
/// short list with a cached last slot: messages of a partition come in
/// offset order, so a run usually just grows.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    list: Vec<(Partition, Range<u64>)>,
    last: usize,
}

impl Origins {
    /// Records the offsets `start..end` of `partition`.
    #[inline]
    pub(crate) fn record(&mut self, partition: &Partition, start: u64, end: u64) {
        if let Some((p, run)) = self.list.get_mut(self.last)
            && same(p, partition)
            && run.end == start
        {
            run.end = end;
            return;
        }
        self.record_other(partition, start, end);
    }

    fn record_other(&mut self, partition: &Partition, start: u64, end: u64) {
        // The partition's latest run, if the new offsets continue it.
        let latest = self.list.iter().rposition(|(p, _)| same(p, partition));
        match latest {
            Some(i) if self.list[i].1.end == start => {
                self.last = i;
                self.list[i].1.end = end;
            }
            _ => {
                // A new run; out-of-order or overlapping ones are merged in `take`.
                self.last = self.list.len();
                self.list.push((partition.clone(), start..end));
            }
        }
    }

    /// Takes the runs out.
    pub(crate) fn take(&mut self) -> Origin {
        self.last = 0;
        self.list.drain(..).collect()
    }
}

/// The broker messages `message` was made from: itself for a broker
/// message, the recorded origin for a value.
pub(crate) fn origin_of<T>(message: &Message<T>) -> Origin {
    match message {
        Message::Broker(b) => {
            BTreeMap::from([(b.partition.clone(), b.offset..b.offset + 1)]).into()
        }
        Message::Value(v) => v.origin.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn runs_cover_exactly_the_offsets_recorded() {
        let (p, q) = (Partition::new("t", 0), Partition::new("t", 1));
        let mut o = Origins::default();
        // p: 5, 6, (7 filtered), 8; q: 9, 10; then p 2..4 out of order.
        for (part, offset) in [(&p, 5), (&q, 9), (&p, 6), (&p, 8), (&q, 10)] {
            o.record(part, offset, offset + 1);
        }
        o.record(&Partition::new("t", 0), 2, 4);
        let origin = o.take();
        let runs: Vec<(&Partition, &Range<u64>)> = origin.iter().collect();
        assert_eq!(
            runs,
            [(&p, &(2..4)), (&p, &(5..7)), (&p, &(8..9)), (&q, &(9..11))]
        );
        assert!(o.take().is_empty());
    }

    #[test]
    fn a_broker_message_is_its_own_origin() {
        let p = Partition::new("t", 3);
        let m = Message::broker((), p.clone(), 7, SystemTime::UNIX_EPOCH);
        assert_eq!(origin_of(&m).runs(&p).collect::<Vec<_>>(), [&(7..8)]);
        assert!(origin_of(&Message::value((), BTreeMap::new())).is_empty());
    }
}
