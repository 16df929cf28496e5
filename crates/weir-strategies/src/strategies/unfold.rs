//! Unfold: turn one message into many.

use std::collections::BTreeMap;
use std::time::SystemTime;

use weir_core::{Filterable, Message, Origin, Partition, Value};

use crate::strategy::split;
use crate::support::origins::origin_of;
use crate::support::outbox::Outbox;
use crate::support::stage::Stage;
use crate::{Incoming, ProcessingStrategy, SubmitError};

/// Turns each payload into any number of payloads, forwarded in order.
///
/// Only the last of them carries the original message's commit positions, so
/// the original is committed once all of them are done. A payload that
/// unfolds into nothing forwards a filtered marker with its positions.
///
/// ```
/// use weir_strategies::{CommitOffsets, Unfold};
/// let words = Unfold::new(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>(), CommitOffsets::new());
/// # let _ = words;
/// ```
pub struct Unfold<F, N, U> {
    function: F,
    stage: Stage<Outbox<U>, N>,
}

impl<F, N, U> Unfold<F, N, U> {
    /// Unfolds each payload with `function`.
    pub fn new<T, I>(function: F, next: N) -> Self
    where
        F: FnMut(T) -> I,
        I: IntoIterator<Item = U>,
    {
        Unfold {
            function,
            stage: Stage::new(next),
        }
    }
}

/// One item of an unfolded message: made from the whole original.
fn part<U>(
    payload: U,
    timestamp: Option<SystemTime>,
    committable: BTreeMap<Partition, u64>,
    origin: Origin,
) -> Incoming<U> {
    Message::Value(Value {
        payload: Filterable::Payload(payload),
        committable,
        timestamp,
        origin,
    })
}

impl<T, U, I, F, N> ProcessingStrategy<T> for Unfold<F, N, U>
where
    F: FnMut(T) -> I + Send,
    I: IntoIterator<Item = U>,
    N: ProcessingStrategy<U>,
    U: Send,
{
    delegate_to_stage!(attach, poll, close, terminate, join);

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        if !self.stage.has_room(1)? {
            return Err(SubmitError::Rejected(message));
        }
        let Stage { work, next, .. } = &mut self.stage;
        let (meta, payload) = match split(message) {
            Ok(parts) => parts,
            Err(filtered) => return Ok(work.send(next, filtered.into_filtered())?),
        };
        let timestamp = meta.timestamp();
        let mut items = (self.function)(payload).into_iter().peekable();
        if items.peek().is_none() {
            return Ok(work.send(next, meta.into_filtered())?);
        }
        while let Some(item) = items.next() {
            let committable = if items.peek().is_none() {
                meta.committable().map(|(p, o)| (p.clone(), o)).collect()
            } else {
                BTreeMap::new()
            };
            work.send(next, part(item, timestamp, committable, origin_of(&meta)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Collect, broker_msg, part as partition};

    #[test]
    fn every_item_is_made_from_the_original() {
        let sink = Collect::new();
        let mut u = Unfold::new(|n: u32| 0..n, sink.clone());
        u.submit(broker_msg(0, 5, 3)).unwrap();
        let origins: Vec<_> = sink
            .messages()
            .into_iter()
            .map(|m| match m {
                Message::Value(v) => v.origin.runs(&partition(0)).next().cloned(),
                Message::Broker(_) => None,
            })
            .collect();
        assert_eq!(origins, vec![Some(5..6); 3]);
    }

    #[test]
    fn only_the_last_item_commits_the_original() {
        let sink = Collect::new();
        let mut u = Unfold::new(|n: u32| 0..n, sink.clone());
        u.submit(broker_msg(0, 5, 3)).unwrap();
        u.submit(broker_msg(0, 6, 0)).unwrap();
        let msgs = sink.messages();
        assert_eq!(sink.payloads(), vec![Some(0), Some(1), Some(2), None]);
        let commits: Vec<Option<u64>> = msgs
            .iter()
            .map(|m| m.commit_request().get(&partition(0)))
            .collect();
        assert_eq!(commits, vec![None, None, Some(6), Some(7)]);
    }

    #[test]
    fn rejected_items_wait_and_hold_back_new_messages() {
        let sink = Collect::with_capacity(2);
        let mut u = Unfold::new(|n: u32| 0..n, sink.clone());
        u.submit(broker_msg(0, 0, 3)).unwrap();
        assert!(matches!(
            u.submit(broker_msg(0, 1, 1)),
            Err(SubmitError::Rejected(_))
        ));
        sink.drain();
        assert_eq!(u.poll().unwrap().unwrap().get(&partition(0)), Some(1));
        assert_eq!(sink.payloads(), vec![Some(0), Some(1), Some(2)]);
    }
}
