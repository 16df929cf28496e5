//! Errors strategies raise, and what a user's task returns when it fails.

use std::collections::BTreeMap;
use std::fmt;

use weir_core::{BrokerError, Message, Origin, Partition};

use crate::support::origins::origin_of;

/// A boxed error from user code.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A message a strategy (or a codec) declared invalid: the stream processor
/// hands it to its dead-letter policy.
///
/// `partition` and `offset` name it (for a value made from many messages of
/// one partition, its last one); `origin` lists every broker message it was
/// made from, which the dead-letter policy sends one by one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid message at {}: {reason}", Position(.partition, .offset))]
pub struct InvalidMessage {
    /// The partition it was read from.
    pub partition: Option<Partition>,
    /// Its offset there.
    pub offset: Option<u64>,
    /// Why it is invalid.
    pub reason: String,
    /// The broker messages it was made from: per partition, the runs of
    /// their offsets. One offset for a message read from a broker; for an
    /// aggregate (a [`Reduce`](crate::Reduce) or [`Batch`](crate::Batch)
    /// output, or what a step made of one), the messages folded into it.
    /// Empty when unknown.
    pub origin: Origin,
}

impl InvalidMessage {
    /// An invalid message at this broker position.
    pub fn new(partition: Partition, offset: u64, reason: impl Into<String>) -> Self {
        InvalidMessage {
            origin: BTreeMap::from([(partition.clone(), offset..offset + 1)]).into(),
            partition: Some(partition),
            offset: Some(offset),
            reason: reason.into(),
        }
    }

    /// The invalid message `message`: its broker position, if it has one,
    /// and the messages it was made from.
    pub fn of<T>(message: &Message<T>, reason: impl Into<String>) -> Self {
        let (partition, offset) = position(message);
        InvalidMessage {
            partition,
            offset,
            reason: reason.into(),
            origin: origin_of(message),
        }
    }
}

/// Why a strategy failed. Each variant names where (partition and offset)
/// when the failure concerns one message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StrategyError {
    /// A message is invalid (undecodable, or refused by a task).
    #[error(transparent)]
    Invalid(#[from] InvalidMessage),
    /// User code panicked while processing a message.
    #[error("user code panicked on the message at {}: {message}", Position(.partition, .offset))]
    Panicked {
        /// The message's partition.
        partition: Option<Partition>,
        /// Its offset.
        offset: Option<u64>,
        /// The panic's message.
        message: String,
    },
    /// A task failed in a way that must stop the processor.
    #[error("a task failed on the message at {}", Position(.partition, .offset))]
    Task {
        /// The message's partition.
        partition: Option<Partition>,
        /// Its offset.
        offset: Option<u64>,
        /// The task's error.
        #[source]
        source: BoxError,
    },
    /// Producing a message failed.
    #[error("producing the message from {} failed", Position(.partition, .offset))]
    Produce {
        /// The source message's partition.
        partition: Option<Partition>,
        /// Its offset.
        offset: Option<u64>,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// A strategy was used after `close` or `terminate`.
    #[error("the strategy is closed")]
    Closed,
}

impl StrategyError {
    /// A task's failure on `message`.
    pub(crate) fn from_task<T>(message: &Message<T>, error: TaskError) -> Self {
        match error {
            TaskError::Invalid(reason) => InvalidMessage::of(message, reason).into(),
            TaskError::Fatal(source) => {
                let (partition, offset) = position(message);
                StrategyError::Task {
                    partition,
                    offset,
                    source,
                }
            }
        }
    }
}

/// What a user task returns when it cannot produce a value.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The message is invalid: route it to the dead-letter policy and go on.
    Invalid(String),
    /// Something is wrong beyond this message: stop the processor.
    Fatal(BoxError),
}

impl TaskError {
    /// The message is invalid for this reason.
    pub fn invalid(reason: impl Into<String>) -> Self {
        TaskError::Invalid(reason.into())
    }

    /// A fatal error.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        TaskError::Fatal(error.into())
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Invalid(r) => write!(f, "invalid message: {r}"),
            TaskError::Fatal(e) => write!(f, "fatal: {e}"),
        }
    }
}

/// The broker position of a message, when it has exactly one.
pub(crate) fn position<T>(message: &Message<T>) -> (Option<Partition>, Option<u64>) {
    match message.position() {
        Some((p, o)) => (Some(p.clone()), Some(o)),
        None => {
            let mut it = message.committable();
            match (it.next(), it.next()) {
                (Some((p, next)), None) => (Some(p.clone()), next.checked_sub(1)),
                _ => (None, None),
            }
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

struct Position<'a>(&'a Option<Partition>, &'a Option<u64>);

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(p), Some(o)) => write!(f, "{p} offset {o}"),
            (Some(p), None) => write!(f, "{p}"),
            _ => f.write_str("an unknown position"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn errors_name_partition_and_offset() {
        let m = Message::broker((), Partition::new("orders", 3), 41, SystemTime::UNIX_EPOCH);
        let e = StrategyError::from_task(&m, TaskError::fatal("boom"));
        assert_eq!(
            chain(&e),
            ["a task failed on the message at orders/3 offset 41", "boom"]
        );
        let e = StrategyError::from_task(&m, TaskError::invalid("bad json"));
        assert_eq!(
            chain(&e),
            ["invalid message at orders/3 offset 41: bad json"]
        );
    }

    #[test]
    fn a_produce_failure_prints_the_broker_error_once() {
        let e = StrategyError::Produce {
            partition: Some(Partition::new("orders", 1)),
            offset: Some(5),
            source: BrokerError::UnknownTopic {
                topic: "out".into(),
            },
        };
        assert_eq!(
            chain(&e),
            [
                "producing the message from orders/1 offset 5 failed",
                "unknown topic `out`"
            ]
        );
    }

    /// Every message in the error's source chain, outermost first.
    fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
        weir_core::ErrorReport::new(e).messages()
    }

    #[test]
    fn a_value_with_one_position_names_it() {
        let p = Partition::new("t", 0);
        let m = Message::value((), [(p.clone(), 10)].into());
        assert_eq!(position(&m), (Some(p), Some(9)));
    }
}
