//! Messages: a payload plus the offsets it would commit.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::SystemTime;

use crate::{CommitRequest, Partition};

/// One message as a broker delivered it: its partition, offset and timestamp.
// `repr(C)`, payload first: the fields keep this order whatever `T`, so
// turning a broker's message into the pipeline's (`BrokerValue<Payload>`
// into `BrokerValue<Filterable<Payload>>`, see `Incoming`) copies it in
// whole blocks rather than field by field through the stack (measured:
// about 15% more messages a second through a StreamProcessor). With the
// payload last instead, pipelines ran slower than with no `repr` at all.
#[repr(C)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerValue<T> {
    /// What the message carries.
    pub payload: T,
    /// Where it was read from.
    pub partition: Partition,
    /// Its offset in the partition.
    pub offset: u64,
    /// When the broker stored it.
    pub timestamp: SystemTime,
}

impl<T> BrokerValue<T> {
    /// A broker message.
    pub fn new(payload: T, partition: Partition, offset: u64, timestamp: SystemTime) -> Self {
        BrokerValue {
            payload,
            partition,
            offset,
            timestamp,
        }
    }

    /// The offset a consumer commits once this message is done: `offset + 1`.
    pub fn next_offset(&self) -> u64 {
        self.offset + 1
    }

    /// This message with its payload borrowed.
    pub fn as_ref(&self) -> BrokerValue<&T> {
        BrokerValue {
            payload: &self.payload,
            partition: self.partition.clone(),
            offset: self.offset,
            timestamp: self.timestamp,
        }
    }
}

/// A value that does not map one to one onto a broker message (a batch, say):
/// it carries the map `Partition -> next offset` it commits once done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value<T> {
    /// What the message carries.
    pub payload: T,
    /// What finishing it commits: per partition, the next offset to read.
    pub committable: BTreeMap<Partition, u64>,
    /// A timestamp, if one applies (for a batch, usually its newest message's).
    pub timestamp: Option<SystemTime>,
    /// The broker messages it was made from, when known: per partition, the
    /// runs of their offsets. Steps that combine or split messages fill it,
    /// so that a value declared invalid can be traced back to (and
    /// dead-lettered as) its original messages. Empty when unknown.
    pub origin: Origin,
}

/// The broker messages a value was made from: per partition, the runs of
/// consecutive offsets (sorted, disjoint; offsets left out, such as messages
/// a filter dropped, make a gap between runs).
///
/// Most values do not carry one, and then it costs one null pointer: free to
/// move, clone and drop.
///
/// ```
/// use weir_core::{Origin, Partition};
/// let p = Partition::new("events", 0);
/// let origin: Origin = [(p.clone(), 10..14), (p.clone(), 14..20), (p.clone(), 22..23)]
///     .into_iter()
///     .collect();
/// assert_eq!(origin.runs(&p).collect::<Vec<_>>(), [&(10..20), &(22..23)]);
/// assert!(Origin::new().is_empty());
/// ```
// Boxed on purpose: one pointer keeps values (and every message moved
// through a pipeline) as small as broker messages.
#[allow(clippy::box_collection)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin(Option<Box<Vec<Run>>>);

/// A partition and a run of consecutive offsets in it.
type Run = (Partition, Range<u64>);

impl Origin {
    /// No known origin.
    pub fn new() -> Self {
        Origin(None)
    }

    /// Whether no origin is known.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }

    /// The runs of offsets in `partition`, lowest first.
    pub fn runs<'a>(&'a self, partition: &'a Partition) -> impl Iterator<Item = &'a Range<u64>> {
        self.iter()
            .filter(move |(p, _)| *p == partition)
            .map(|(_, r)| r)
    }

    /// Every run, by partition, then offset.
    pub fn iter(&self) -> impl Iterator<Item = (&Partition, &Range<u64>)> {
        self.0.iter().flat_map(|m| m.iter().map(|(p, r)| (p, r)))
    }
}

impl From<BTreeMap<Partition, Range<u64>>> for Origin {
    /// One run per partition.
    fn from(spans: BTreeMap<Partition, Range<u64>>) -> Self {
        spans.into_iter().collect()
    }
}

impl FromIterator<(Partition, Range<u64>)> for Origin {
    /// Sorts the runs and merges those that overlap or touch; empty ones are dropped.
    fn from_iter<I: IntoIterator<Item = (Partition, Range<u64>)>>(iter: I) -> Self {
        let mut runs: Vec<Run> = iter.into_iter().filter(|(_, r)| r.start < r.end).collect();
        runs.sort_by(|(p, r), (q, s)| p.cmp(q).then(r.start.cmp(&s.start)));
        let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
        for (p, r) in runs {
            match merged.last_mut() {
                Some((q, last)) if *q == p && r.start <= last.end => {
                    last.end = last.end.max(r.end);
                }
                _ => merged.push((p, r)),
            }
        }
        Origin((!merged.is_empty()).then(|| Box::new(merged)))
    }
}

/// A payload plus the commit positions it stands for.
///
/// Either one broker message, or a [`Value`] that may span many of them. Every
/// strategy passes these positions along (even for a filtered message, see
/// [`Filterable`]) so commits follow the work.
///
/// ```
/// use std::time::SystemTime;
/// use weir_core::{Message, Partition};
///
/// let p = Partition::new("events", 0);
/// let m = Message::broker("hello", p.clone(), 41, SystemTime::now());
/// let upper = m.map(|s| s.to_uppercase());
/// assert_eq!(upper.payload(), "HELLO");
/// assert_eq!(upper.committable().collect::<Vec<_>>(), vec![(&p, 42)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<T> {
    /// One message from a broker.
    Broker(BrokerValue<T>),
    /// Any other value, with the offsets it commits.
    Value(Value<T>),
}

impl<T> Message<T> {
    /// A message as a broker delivered it.
    pub fn broker(payload: T, partition: Partition, offset: u64, timestamp: SystemTime) -> Self {
        Message::Broker(BrokerValue::new(payload, partition, offset, timestamp))
    }

    /// A value committing `committable` once done.
    pub fn value(payload: T, committable: BTreeMap<Partition, u64>) -> Self {
        Message::Value(Value {
            payload,
            committable,
            timestamp: None,
            origin: Origin::new(),
        })
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        match self {
            Message::Broker(b) => &b.payload,
            Message::Value(v) => &v.payload,
        }
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut T {
        match self {
            Message::Broker(b) => &mut b.payload,
            Message::Value(v) => &mut v.payload,
        }
    }

    /// Takes the payload, dropping the commit positions.
    pub fn into_payload(self) -> T {
        match self {
            Message::Broker(b) => b.payload,
            Message::Value(v) => v.payload,
        }
    }

    /// The timestamp, if known.
    pub fn timestamp(&self) -> Option<SystemTime> {
        match self {
            Message::Broker(b) => Some(b.timestamp),
            Message::Value(v) => v.timestamp,
        }
    }

    /// The broker position `(partition, offset)` of a message read from a broker.
    pub fn position(&self) -> Option<(&Partition, u64)> {
        match self {
            Message::Broker(b) => Some((&b.partition, b.offset)),
            Message::Value(_) => None,
        }
    }

    /// What finishing this message commits: per partition, the next offset to read.
    #[inline]
    pub fn committable(&self) -> Committable<'_> {
        match self {
            Message::Broker(b) => Committable::One(Some((&b.partition, b.next_offset()))),
            Message::Value(v) => Committable::Many(v.committable.iter()),
        }
    }

    /// The commit request finishing this message makes.
    pub fn commit_request(&self) -> CommitRequest {
        self.committable().map(|(p, o)| (p.clone(), o)).collect()
    }

    /// The same commit positions around a new payload.
    pub fn replace<U>(self, payload: U) -> Message<U> {
        self.map(|_| payload)
    }

    /// The same commit positions around `f(payload)`.
    #[inline]
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Message<U> {
        match self {
            Message::Broker(b) => Message::Broker(BrokerValue {
                payload: f(b.payload),
                partition: b.partition,
                offset: b.offset,
                timestamp: b.timestamp,
            }),
            Message::Value(v) => Message::Value(Value {
                payload: f(v.payload),
                committable: v.committable,
                timestamp: v.timestamp,
                origin: v.origin,
            }),
        }
    }

    /// Like [`Message::map`] for a fallible `f`; on error the positions are handed
    /// back with the error so nothing about where it came from is lost.
    #[inline]
    pub fn try_map<U, E>(
        self,
        f: impl FnOnce(T) -> Result<U, E>,
    ) -> Result<Message<U>, (Message<()>, E)> {
        match self {
            Message::Broker(b) => match f(b.payload) {
                Ok(payload) => Ok(Message::Broker(BrokerValue {
                    payload,
                    partition: b.partition,
                    offset: b.offset,
                    timestamp: b.timestamp,
                })),
                Err(e) => Err((Message::broker((), b.partition, b.offset, b.timestamp), e)),
            },
            Message::Value(v) => match f(v.payload) {
                Ok(payload) => Ok(Message::Value(Value {
                    payload,
                    committable: v.committable,
                    timestamp: v.timestamp,
                    origin: v.origin,
                })),
                Err(e) => Err((
                    Message::Value(Value {
                        payload: (),
                        committable: v.committable,
                        timestamp: v.timestamp,
                        origin: v.origin,
                    }),
                    e,
                )),
            },
        }
    }

    /// This message marked as filtered out: its payload is dropped, its commit
    /// positions still travel downstream.
    pub fn into_filtered<U>(self) -> Message<Filterable<U>> {
        self.map(|_| Filterable::Filtered)
    }

    /// This message as a kept (not filtered) one.
    pub fn into_kept(self) -> Message<Filterable<T>> {
        self.map(Filterable::Payload)
    }
}

/// The commit positions of one message, see [`Message::committable`].
#[derive(Debug)]
pub enum Committable<'a> {
    /// A broker message: one position.
    One(Option<(&'a Partition, u64)>),
    /// A value: a map of positions.
    Many(std::collections::btree_map::Iter<'a, Partition, u64>),
}

impl<'a> Iterator for Committable<'a> {
    type Item = (&'a Partition, u64);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Committable::One(one) => one.take(),
            Committable::Many(it) => it.next().map(|(p, o)| (p, *o)),
        }
    }
}

/// A payload, or the marker a filter leaves in its place.
///
/// A filtered message keeps travelling through the pipeline with its commit
/// positions, so filtering never stalls commits.
///
/// ```
/// use weir_core::Filterable;
/// let kept = Filterable::Payload(3);
/// let gone: Filterable<i32> = Filterable::Filtered;
/// assert_eq!(kept.payload(), Some(&3));
/// assert!(gone.is_filtered());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filterable<T> {
    /// A payload that passed.
    Payload(T),
    /// A filter removed the payload here.
    Filtered,
}

impl<T> Filterable<T> {
    /// Whether a filter removed the payload.
    pub fn is_filtered(&self) -> bool {
        matches!(self, Filterable::Filtered)
    }

    /// The payload, if kept.
    pub fn payload(&self) -> Option<&T> {
        match self {
            Filterable::Payload(p) => Some(p),
            Filterable::Filtered => None,
        }
    }

    /// The payload, if kept.
    pub fn into_payload(self) -> Option<T> {
        match self {
            Filterable::Payload(p) => Some(p),
            Filterable::Filtered => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_message_commits_next_offset() {
        let p = Partition::new("t", 2);
        let m = Message::broker(1u8, p.clone(), 9, SystemTime::UNIX_EPOCH);
        assert_eq!(m.commit_request().get(&p), Some(10));
    }

    #[test]
    fn filtered_message_keeps_positions() {
        let p = Partition::new("t", 0);
        let q = Partition::new("t", 1);
        let m = Message::value("batch", BTreeMap::from([(p.clone(), 5), (q.clone(), 7)]));
        let f: Message<Filterable<u8>> = m.into_filtered();
        assert!(f.payload().is_filtered());
        let req = f.commit_request();
        assert_eq!(req.get(&p), Some(5));
        assert_eq!(req.get(&q), Some(7));
    }

    #[test]
    fn a_value_keeps_its_origin_through_map_and_try_map() {
        let p = Partition::new("t", 0);
        let mut m = Message::value(1u8, BTreeMap::from([(p.clone(), 9)]));
        if let Message::Value(v) = &mut m {
            v.origin = BTreeMap::from([(p.clone(), 4..9)]).into();
        }
        fn span<T>(m: &Message<T>, p: &Partition) -> Option<Range<u64>> {
            match m {
                Message::Value(v) => v.origin.runs(p).next().cloned(),
                Message::Broker(_) => None,
            }
        }
        let mapped = m.map(|x| x + 1);
        assert_eq!(span(&mapped, &p), Some(4..9));
        let Err((failed, _)) = mapped.try_map(|_| Err::<u8, _>("bad")) else {
            panic!("the map fails")
        };
        assert_eq!(span(&failed, &p), Some(4..9));
        assert_eq!(
            Origin::from(BTreeMap::new()),
            Origin::new(),
            "empty is none"
        );
    }

    #[test]
    fn origin_runs_are_sorted_merged_and_keep_their_gaps() {
        let (p, q) = (Partition::new("t", 0), Partition::new("t", 1));
        let origin: Origin = [
            (q.clone(), 7..8),
            (p.clone(), 5..6),
            (p.clone(), 3..5),
            (p.clone(), 8..9),
            (p.clone(), 4..5),
            (q.clone(), 2..2),
        ]
        .into_iter()
        .collect();
        let all: Vec<(&Partition, &Range<u64>)> = origin.iter().collect();
        assert_eq!(all, [(&p, &(3..6)), (&p, &(8..9)), (&q, &(7..8))]);
        assert_eq!(origin.runs(&q).collect::<Vec<_>>(), [&(7..8)]);
    }

    #[test]
    fn try_map_error_keeps_position() {
        let p = Partition::new("t", 0);
        let m = Message::broker("x", p.clone(), 3, SystemTime::UNIX_EPOCH);
        let Err((back, err)) = m.try_map(|_| Err::<u8, _>("bad")) else {
            panic!("a failing map is an error");
        };
        assert_eq!(err, "bad");
        assert_eq!(back.position(), Some((&p, 3)));
    }
}
