//! Task ids.

use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The id of a task: chosen by the caller (which makes the job unique, see
/// [`Job::id`](crate::Job::id)) or generated at enqueue (32 hex digits,
/// random per process and counted within it, so ids never repeat).
///
/// ```
/// use weir_tasks::TaskId;
/// let a = TaskId::random();
/// assert_ne!(a, TaskId::random());
/// assert_eq!(TaskId::new("invoice-7").as_str(), "invoice-7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// An id of your choosing.
    pub fn new(id: impl Into<String>) -> Self {
        TaskId(id.into())
    }

    /// A fresh id that no other call returns.
    pub fn random() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        // RandomState is seeded from the OS once per process; the counter
        // keeps ids apart within it.
        let mut h = RandomState::new().build_hasher();
        h.write_u64(nanos);
        h.write_u64(u64::from(std::process::id()));
        let high = h.finish();
        TaskId(format!("{high:016x}{:016x}", n ^ nanos.rotate_left(17)))
    }

    /// A random number, for telling enqueues of one id apart.
    pub(crate) fn nonce() -> u64 {
        let mut h = RandomState::new().build_hasher();
        h.write(TaskId::random().as_str().as_bytes());
        h.finish()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TaskId {
    fn from(id: &str) -> Self {
        TaskId::new(id)
    }
}

impl From<String> for TaskId {
    fn from(id: String) -> Self {
        TaskId(id)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn random_ids_do_not_repeat() {
        let ids: HashSet<TaskId> = (0..10_000).map(|_| TaskId::random()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.as_str().len() == 32));
    }
}
