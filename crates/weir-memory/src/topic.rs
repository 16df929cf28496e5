//! A topic's partitions and the members waiting for its data.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::SystemTime;

use weir_core::{BrokerError, Partitioner, Payload, Topic};

use crate::group::Signal;
use crate::log::{PartitionLog, Retention};

/// One topic: its partition logs, retention, and who to wake on new data.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub(crate) topic: Topic,
    partitions: Vec<Mutex<PartitionLog>>,
    retention: Retention,
    partitioner: Partitioner,
    waiters: RwLock<Vec<Weak<Signal>>>,
    /// How many `waiters` there are, read without their lock (see `wake`).
    waiting: AtomicUsize,
    /// Set once the topic is deleted: a [`TopicProducer`](crate::TopicProducer)
    /// that still holds it looks the name up again.
    deleted: AtomicBool,
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data that is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TopicState {
    /// Each partition's first stored offset and end.
    pub(crate) fn bounds(&self) -> Vec<(u64, u64)> {
        self.partitions
            .iter()
            .map(|p| {
                let log = lock(p);
                (log.start(), log.end())
            })
            .collect()
    }

    pub(crate) fn new(topic: Topic, partitions: u32, retention: Retention) -> Self {
        TopicState {
            topic,
            partitions: (0..partitions)
                .map(|_| Mutex::new(PartitionLog::default()))
                .collect(),
            retention,
            partitioner: Partitioner::new(),
            waiters: RwLock::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            deleted: AtomicBool::new(false),
        }
    }

    /// Marks the topic deleted (it is already out of the broker's map).
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
    }

    /// Whether the topic was deleted.
    #[inline]
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    pub(crate) fn partition_count(&self) -> u32 {
        self.partitions.len() as u32
    }

    pub(crate) fn log(&self, index: u32) -> Option<MutexGuard<'_, PartitionLog>> {
        self.partitions.get(index as usize).map(lock)
    }

    /// The partition a payload sent to the whole topic goes to (see
    /// [`Partitioner`]).
    #[inline]
    pub(crate) fn choose(&self, payload: &Payload) -> Result<u32, BrokerError> {
        self.partitioner
            .choose(payload.key.as_deref(), self.partition_count())
            .ok_or_else(|| BrokerError::NoPartitions {
                topic: self.topic.clone(),
            })
    }

    /// Appends to partition `index`, stored at `timestamp`; `None` when the
    /// topic has no such partition.
    pub(crate) fn append(
        &self,
        index: u32,
        payload: Payload,
        timestamp: SystemTime,
    ) -> Option<u64> {
        let retention = self.retention;
        self.log(index)
            .map(|mut log| log.append(payload, timestamp, retention))
    }

    /// How much of each partition's log is kept.
    pub(crate) fn retention(&self) -> Retention {
        self.retention
    }

    /// Wakes every member subscribed to this topic.
    ///
    /// With none subscribed it returns at once, without the waiters' lock.
    /// That cannot miss a member: a member registers before its first fetch,
    /// and its fetch and an append are ordered by the partition's lock, so
    /// either the fetch sees the appended message or the append (and the
    /// count read after it) comes after the registration.
    pub(crate) fn wake(&self) {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return;
        }
        let waiters = self.waiters.read().unwrap_or_else(PoisonError::into_inner);
        for w in waiters.iter() {
            if let Some(s) = w.upgrade() {
                s.notify.notify_one();
            }
        }
    }

    pub(crate) fn add_waiter(&self, signal: &Arc<Signal>) {
        let mut waiters = self.waiters.write().unwrap_or_else(PoisonError::into_inner);
        waiters.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(signal)));
        waiters.push(Arc::downgrade(signal));
        self.waiting.store(waiters.len(), Ordering::Release);
    }

    pub(crate) fn remove_waiter(&self, signal: &Arc<Signal>) {
        let mut waiters = self.waiters.write().unwrap_or_else(PoisonError::into_inner);
        waiters.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Arc::as_ptr(signal)));
        self.waiting.store(waiters.len(), Ordering::Release);
    }
}
