//! Where a value came from: the broker messages it was made of.

use std::collections::BTreeMap;
use std::ops::Range;

use weir_core::{Message, Origin, Partition};

use crate::positions::same;

/// Per partition, the span of offsets of the messages recorded: what an
/// aggregate (a [`Reduce`](crate::Reduce) or [`Batch`](crate::Batch)
/// output) was made from, so that when it is declared invalid its original
/// messages can be dead-lettered. Like [`Positions`](crate::positions), a
/// short list with a cached last slot.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    list: Vec<(Partition, Range<u64>)>,
    last: usize,
}

impl Origins {
    /// Records the span `start..end` of `partition`.
    #[inline]
    pub(crate) fn record(&mut self, partition: &Partition, start: u64, end: u64) {
        if let Some((p, span)) = self.list.get_mut(self.last)
            && same(p, partition)
        {
            span.start = span.start.min(start);
            span.end = span.end.max(end);
            return;
        }
        self.record_other(partition, start, end);
    }

    fn record_other(&mut self, partition: &Partition, start: u64, end: u64) {
        match self.list.iter().position(|(p, _)| same(p, partition)) {
            Some(i) => {
                self.last = i;
                let span = &mut self.list[i].1;
                span.start = span.start.min(start);
                span.end = span.end.max(end);
            }
            None => {
                self.last = self.list.len();
                self.list.push((partition.clone(), start..end));
            }
        }
    }

    /// Takes the spans out.
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
    fn spans_cover_every_span_recorded_per_partition() {
        let (p, q) = (Partition::new("t", 0), Partition::new("t", 1));
        let mut o = Origins::default();
        for (part, offset) in [(&p, 5), (&q, 9), (&p, 6), (&p, 8), (&q, 10)] {
            o.record(part, offset, offset + 1);
        }
        o.record(&Partition::new("t", 0), 2, 4);
        let origin = o.take();
        assert_eq!(
            origin,
            Origin::from(BTreeMap::from([(p.clone(), 2..9), (q.clone(), 9..11)]))
        );
        assert!(o.take().is_empty());
    }

    #[test]
    fn a_broker_message_is_its_own_origin() {
        let p = Partition::new("t", 3);
        let m = Message::broker((), p.clone(), 7, SystemTime::UNIX_EPOCH);
        assert_eq!(origin_of(&m).get(&p), Some(&(7..8)));
        assert!(origin_of(&Message::value((), BTreeMap::new())).is_empty());
    }
}
