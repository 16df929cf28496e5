//! What a worker did.

use std::sync::atomic::{AtomicU64, Ordering};

/// A worker's run, returned when it stops (Repid's runner counts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Jobs taken from the queues and handled: attempts run, and jobs
    /// given up without running (unknown actor, bad arguments).
    pub processed: u64,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed (an error, a panic, a timeout, a result that
    /// does not encode).
    pub failed: u64,
    /// Failed attempts scheduled to run again.
    pub retried: u64,
    /// Jobs sent to their queue's dead-letter topic.
    pub dead_lettered: u64,
    /// Jobs not run because they were revoked.
    pub revoked: u64,
    /// Attempts cut off by the end of the graceful shutdown time; their
    /// jobs go back to the queue, without counting a retry.
    pub interrupted: u64,
}

/// The live counts behind [`WorkerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) processed: AtomicU64,
    pub(crate) succeeded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dead_lettered: AtomicU64,
    pub(crate) revoked: AtomicU64,
    pub(crate) interrupted: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WorkerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WorkerStats {
            processed: get(&self.processed),
            succeeded: get(&self.succeeded),
            failed: get(&self.failed),
            retried: get(&self.retried),
            dead_lettered: get(&self.dead_lettered),
            revoked: get(&self.revoked),
            interrupted: get(&self.interrupted),
        }
    }
}
