//! Helpers for the unit tests: messages and a recording last step.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use weir_core::{CommitRequest, Filterable, Message, Partition, Payload, Record, RecordBatch};

use crate::{
    Incoming, JoinFuture, ProcessingStrategy, Progress, StrategyError, SubmitError, TaskError,
};

pub(crate) fn part(i: u32) -> Partition {
    Partition::new("t", i)
}

pub(crate) fn broker_msg<T>(partition: u32, offset: u64, payload: T) -> Incoming<T> {
    Message::broker(
        Filterable::Payload(payload),
        part(partition),
        offset,
        SystemTime::UNIX_EPOCH,
    )
}

/// A record batch lent from partition `partition`, the values at offsets
/// from `first` on.
pub(crate) fn lent(partition: u32, first: u64, values: &[&'static str]) -> RecordBatch {
    let records: Vec<Record> = values
        .iter()
        .map(|v| Record {
            payload: Payload::new(*v),
            timestamp: SystemTime::UNIX_EPOCH,
        })
        .collect();
    let n = records.len();
    RecordBatch::new(Arc::new(records), 0..n, part(partition), first)
}

pub(crate) fn filtered_msg<T>(partition: u32, offset: u64) -> Incoming<T> {
    Message::broker(
        Filterable::Filtered,
        part(partition),
        offset,
        SystemTime::UNIX_EPOCH,
    )
}

#[derive(Debug)]
struct State<T> {
    received: Vec<Incoming<T>>,
    capacity: usize,
    taken: usize,
    commits: CommitRequest,
    closed: bool,
    joined: bool,
    terminated: bool,
}

/// A last step that records what it receives, rejects beyond `capacity`
/// undrained messages, and commits what it received.
#[derive(Debug)]
pub(crate) struct Collect<T> {
    state: Arc<Mutex<State<T>>>,
}

impl<T> Clone for Collect<T> {
    fn clone(&self) -> Self {
        Collect {
            state: Arc::clone(&self.state),
        }
    }
}

impl<T: Clone> Collect<T> {
    pub(crate) fn new() -> Self {
        Self::with_capacity(usize::MAX)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Collect {
            state: Arc::new(Mutex::new(State {
                received: Vec::new(),
                capacity,
                taken: 0,
                commits: CommitRequest::new(),
                closed: false,
                joined: false,
                terminated: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every message received, as payloads (None: filtered).
    pub(crate) fn payloads(&self) -> Vec<Option<T>> {
        self.lock()
            .received
            .iter()
            .map(|m| m.payload().payload().cloned())
            .collect()
    }

    pub(crate) fn messages(&self) -> Vec<Incoming<T>> {
        self.lock().received.clone()
    }

    /// Frees the capacity taken so far.
    pub(crate) fn drain(&self) {
        let mut s = self.lock();
        s.taken = 0;
    }

    pub(crate) fn was_joined(&self) -> bool {
        self.lock().joined
    }

    pub(crate) fn was_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn was_terminated(&self) -> bool {
        self.lock().terminated
    }
}

impl<T: Send + Clone> ProcessingStrategy<T> for Collect<T> {
    fn attach(&mut self, _progress: &Progress) {}

    fn submit(&mut self, message: Incoming<T>) -> Result<(), SubmitError<T>> {
        let mut s = self.lock();
        if s.taken >= s.capacity {
            return Err(SubmitError::Rejected(message));
        }
        s.taken += 1;
        let req = message.commit_request();
        s.commits.merge_in(req);
        s.received.push(message);
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        let c = std::mem::take(&mut self.lock().commits);
        Ok((!c.is_empty()).then_some(c))
    }

    fn close(&mut self) {
        self.lock().closed = true;
    }

    fn terminate(&mut self) {
        self.lock().terminated = true;
    }

    fn join(&mut self, _timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async move {
            self.lock().joined = true;
            self.poll()
        })
    }
}

/// What [`Judge`] does with a message offered to it.
pub(crate) enum Verdict {
    /// Takes it (and keeps its payload).
    Take,
    /// Hands it back: at capacity.
    Reject,
    /// Fails it as invalid, for this reason.
    Refuse(String),
}

/// A last step that decides each offer with a function; it keeps the
/// payloads it takes and commits nothing.
pub(crate) struct Judge<F> {
    judge: F,
    pub(crate) taken: Vec<u32>,
}

impl<F: FnMut(&Incoming<u32>) -> Verdict> Judge<F> {
    pub(crate) fn new(judge: F) -> Self {
        Judge {
            judge,
            taken: Vec::new(),
        }
    }
}

impl<F: FnMut(&Incoming<u32>) -> Verdict + Send> ProcessingStrategy<u32> for Judge<F> {
    fn attach(&mut self, _progress: &Progress) {}

    fn submit(&mut self, message: Incoming<u32>) -> Result<(), SubmitError<u32>> {
        match (self.judge)(&message) {
            Verdict::Take => {
                if let Filterable::Payload(p) = message.payload() {
                    self.taken.push(*p);
                }
                Ok(())
            }
            Verdict::Reject => Err(SubmitError::Rejected(message)),
            Verdict::Refuse(reason) => {
                Err(StrategyError::from_task(&message, TaskError::invalid(reason)).into())
            }
        }
    }

    fn poll(&mut self) -> Result<Option<CommitRequest>, StrategyError> {
        Ok(None)
    }

    fn close(&mut self) {}

    fn terminate(&mut self) {}

    fn join(&mut self, _timeout: Option<Duration>) -> JoinFuture<'_> {
        Box::pin(async { Ok(None) })
    }
}

/// Offers `message` to a step that must first forward earlier work whose
/// failure (an invalid message at `failed_offset`) it meets doing so: the
/// message must come back, and the failure come from the next `poll`.
/// Returns the message, to offer again.
pub(crate) fn handed_back_then_reported<T, S: ProcessingStrategy<T>>(
    step: &mut S,
    message: Incoming<T>,
    failed_offset: u64,
) -> Incoming<T> {
    let offset = message.position().map(|(_, o)| o);
    let Err(SubmitError::Rejected(back)) = step.submit(message) else {
        panic!("the message must come back, not be dropped with another's failure")
    };
    assert_eq!(back.position().map(|(_, o)| o), offset);
    let Err(StrategyError::Invalid(i)) = step.poll() else {
        panic!("the failure is reported by the next poll")
    };
    assert_eq!(i.offset, Some(failed_offset));
    back
}
