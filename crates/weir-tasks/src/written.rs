//! What a worker wrote lately, task by task: so that a job delivered to the
//! worker again right after it ran (a retry scheduled twice across a crash,
//! a message moved twice) finds that run's outcome, although it is written
//! behind and may not be stored yet, and although a record read ahead may
//! predate it.
//!
//! Tasks share marks by the hash of their id, in a fixed number of slots; a
//! slot shared by two tasks costs a job a wait for the writer or a read of
//! its own, never a wrong answer.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tokio::time::Instant;

/// How many slots the marks have.
const SLOTS: usize = 1 << 14;

/// What a worker wrote of a task lately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// A record of it was handed to the writer and is not stored yet.
    Pending,
    /// Its last record was stored by this instant: a read sent before may
    /// not show it.
    StoredBy(Instant),
    /// Nothing, as far as this worker knows.
    Nothing,
}

/// The marks of one worker's writes, shared by its jobs and its writer.
pub(crate) struct Marks {
    /// Records handed in and not stored yet, per slot.
    pending: Box<[AtomicU32]>,
    /// When the slot's last record was stored: nanoseconds since `epoch`,
    /// plus one (0: never).
    stored: Box<[AtomicU64]>,
    epoch: Instant,
}

impl std::fmt::Debug for Marks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Marks").finish_non_exhaustive()
    }
}

impl Default for Marks {
    fn default() -> Self {
        Marks {
            pending: (0..SLOTS).map(|_| AtomicU32::new(0)).collect(),
            stored: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            epoch: Instant::now(),
        }
    }
}

impl Marks {
    /// The hash of task `id`, which picks its slot (the writer also uses it
    /// to find a task's earlier record in a batch).
    pub(crate) fn hash(id: &str) -> u64 {
        static STATE: OnceLock<RandomState> = OnceLock::new();
        STATE.get_or_init(RandomState::new).hash_one(id)
    }

    fn slot(hash: u64) -> usize {
        // The remainder is below SLOTS: it fits.
        (hash % SLOTS as u64) as usize
    }

    /// A record of the task of `hash` was handed to the writer.
    pub(crate) fn handed(&self, hash: u64) {
        self.pending[Self::slot(hash)].fetch_add(1, Ordering::SeqCst);
    }

    /// A record of the task of `hash` handed in before was stored by `at`
    /// (or failed to be: the worker stops then).
    pub(crate) fn stored(&self, hash: u64, at: Instant) {
        let slot = Self::slot(hash);
        let nanos = u64::try_from(at.saturating_duration_since(self.epoch).as_nanos())
            .unwrap_or(u64::MAX - 1);
        self.stored[slot].fetch_max(nanos + 1, Ordering::SeqCst);
        self.pending[slot].fetch_sub(1, Ordering::SeqCst);
    }

    /// What this worker wrote lately of task `id`.
    pub(crate) fn of(&self, id: &str) -> Written {
        let slot = Self::slot(Self::hash(id));
        if self.pending[slot].load(Ordering::SeqCst) > 0 {
            return Written::Pending;
        }
        match self.stored[slot].load(Ordering::SeqCst) {
            0 => Written::Nothing,
            n => Written::StoredBy(self.epoch + std::time::Duration::from_nanos(n - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_pending_until_stored_then_stored_by_then() {
        let marks = Marks::default();
        let hash = Marks::hash("t1");
        assert_eq!(marks.of("t1"), Written::Nothing);
        marks.handed(hash);
        marks.handed(hash);
        assert_eq!(marks.of("t1"), Written::Pending);
        let at = Instant::now();
        marks.stored(hash, at);
        assert_eq!(marks.of("t1"), Written::Pending, "one of two is stored");
        marks.stored(hash, at);
        assert_eq!(marks.of("t1"), Written::StoredBy(at));
    }

    #[test]
    fn the_latest_store_of_a_slot_counts() {
        let marks = Marks::default();
        let hash = Marks::hash("t1");
        let early = Instant::now();
        let late = early + std::time::Duration::from_millis(5);
        marks.handed(hash);
        marks.handed(hash);
        marks.stored(hash, late);
        marks.stored(hash, early);
        assert_eq!(marks.of("t1"), Written::StoredBy(late));
    }
}
