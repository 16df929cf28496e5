//! The bounded event queue consumers take from: FIFO, LIFO or by priority.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering as Atomic};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// How often an idle consumer yields to other tasks before it parks.
const SPINS_BEFORE_PARKING: usize = 2;

/// The order in which waiting events are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueType {
    /// First in, first out (the default).
    #[default]
    Fifo,
    /// Last in, first out: the newest waiting event first.
    Lifo,
    /// Lowest priority value first; FIFO among equal priorities. Events
    /// without a priority get the queue's default priority.
    Priority,
}

/// Why a push did not enqueue; the item comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    Full(T),
    Closed(T),
}

struct Slot<T> {
    priority: i64,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.priority == other.priority && self.seq == other.seq
    }
}

impl<T> Eq for Slot<T> {}

impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Slot<T> {
    /// The heap's maximum is the lowest priority value, then the oldest.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

enum Buffer<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Priority(BinaryHeap<Slot<T>>, u64),
}

impl<T> Buffer<T> {
    fn len(&self) -> usize {
        match self {
            Self::Fifo(q) => q.len(),
            Self::Lifo(s) => s.len(),
            Self::Priority(h, _) => h.len(),
        }
    }

    fn push(&mut self, item: T, priority: i64) {
        match self {
            Self::Fifo(q) => q.push_back(item),
            Self::Lifo(s) => s.push(item),
            Self::Priority(h, seq) => {
                h.push(Slot {
                    priority,
                    seq: *seq,
                    item,
                });
                *seq = seq.wrapping_add(1);
            }
        }
    }

    fn pop(&mut self) -> Option<T> {
        match self {
            Self::Fifo(q) => q.pop_front(),
            Self::Lifo(s) => s.pop(),
            Self::Priority(h, _) => h.pop().map(|slot| slot.item),
        }
    }
}

struct State<T> {
    buffer: Buffer<T>,
    closed: bool,
}

/// A bounded multi-producer, multi-consumer queue. `push` waits while full,
/// `pop` waits while empty; after `close`, pushes fail and pops drain what is
/// left, then return `None`.
///
/// Wake-ups cost a cross-thread hand-off, so they are sent only to waiters
/// that exist, and a publisher waiting for room is woken once the queue has
/// drained to its low-water mark (7/8 of the capacity), not for every slot.
pub(crate) struct EventQueue<T> {
    state: Mutex<State<T>>,
    not_empty: Notify,
    not_full: Notify,
    pop_waiters: AtomicUsize,
    push_waiters: AtomicUsize,
    capacity: usize,
    low_water: usize,
}

/// Counts a waiter for as long as it waits, even if its future is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Atomic::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Atomic::SeqCst);
    }
}

impl<T> EventQueue<T> {
    pub(crate) fn new(kind: QueueType, capacity: usize) -> Self {
        let buffer = match kind {
            QueueType::Fifo => Buffer::Fifo(VecDeque::with_capacity(capacity.min(4096))),
            QueueType::Lifo => Buffer::Lifo(Vec::with_capacity(capacity.min(4096))),
            QueueType::Priority => {
                Buffer::Priority(BinaryHeap::with_capacity(capacity.min(4096)), 0)
            }
        };
        Self {
            state: Mutex::new(State {
                buffer,
                closed: false,
            }),
            not_empty: Notify::new(),
            not_full: Notify::new(),
            pop_waiters: AtomicUsize::new(0),
            push_waiters: AtomicUsize::new(0),
            capacity: capacity.max(1),
            low_water: capacity.max(1) - (capacity / 8).max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enqueues without waiting.
    pub(crate) fn try_push(&self, item: T, priority: i64) -> Result<usize, PushError<T>> {
        let depth = {
            let mut state = self.lock();
            if state.closed {
                return Err(PushError::Closed(item));
            }
            if state.buffer.len() >= self.capacity {
                return Err(PushError::Full(item));
            }
            state.buffer.push(item, priority);
            state.buffer.len()
        };
        if self.pop_waiters.load(Atomic::SeqCst) > 0 {
            self.not_empty.notify_one();
        }
        Ok(depth)
    }

    /// Enqueues, waiting for room; fails only once the queue is closed.
    pub(crate) async fn push(&self, item: T, priority: i64) -> Result<usize, T> {
        // Fast path: room right away, no waiter registered.
        let mut item = match self.try_push(item, priority) {
            Ok(depth) => return Ok(depth),
            Err(PushError::Closed(back)) => return Err(back),
            Err(PushError::Full(back)) => back,
        };
        let _waiting = Waiting::new(&self.push_waiters);
        loop {
            let notified = self.not_full.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.try_push(item, priority) {
                Ok(depth) => return Ok(depth),
                Err(PushError::Closed(back)) => return Err(back),
                Err(PushError::Full(back)) => item = back,
            }
            notified.await;
        }
    }

    /// Dequeues without waiting, with the depth left behind.
    pub(crate) fn try_pop(&self) -> Option<(T, usize)> {
        let popped = {
            let mut state = self.lock();
            state.buffer.pop().map(|item| (item, state.buffer.len()))
        };
        if let Some((_, depth)) = &popped
            && *depth <= self.low_water
            && self.push_waiters.load(Atomic::SeqCst) > 0
        {
            self.not_full.notify_waiters();
        }
        popped
    }

    /// Dequeues without waiting into `out`: one event, plus more while more
    /// than `sharers` events per sharer wait, up to `max` in all, each with
    /// the depth it left behind. Returns how many it took.
    pub(crate) fn try_pop_into(
        &self,
        out: &mut VecDeque<(T, usize)>,
        max: usize,
        sharers: usize,
    ) -> usize {
        let (taken, depth) = {
            let mut state = self.lock();
            let len = state.buffer.len();
            let want = (len / sharers.max(1)).clamp(1, max.max(1));
            let mut taken = 0;
            while taken < want {
                let Some(item) = state.buffer.pop() else {
                    break;
                };
                taken += 1;
                out.push_back((item, len - taken));
            }
            (taken, state.buffer.len())
        };
        if taken > 0 && depth <= self.low_water && self.push_waiters.load(Atomic::SeqCst) > 0 {
            self.not_full.notify_waiters();
        }
        taken
    }

    /// Dequeues into `out` like [`try_pop_into`](Self::try_pop_into), waiting
    /// for an event; `false` once closed and empty.
    pub(crate) async fn pop_into(
        &self,
        out: &mut VecDeque<(T, usize)>,
        max: usize,
        sharers: usize,
    ) -> bool {
        if self.try_pop_into(out, max, sharers) > 0 {
            return true;
        }
        for _ in 0..SPINS_BEFORE_PARKING {
            tokio::task::yield_now().await;
            if self.try_pop_into(out, max, sharers) > 0 {
                return true;
            }
        }
        let _waiting = Waiting::new(&self.pop_waiters);
        loop {
            let notified = self.not_empty.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.try_pop_into(out, max, sharers) > 0 {
                return true;
            }
            if self.is_closed() {
                return false;
            }
            notified.await;
        }
    }

    /// Refuses further pushes and wakes every waiter.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.not_empty.notify_waiters();
        self.not_full.notify_waiters();
    }

    /// Wakes one waiting consumer (e.g. when a retiring one hands its turn on).
    pub(crate) fn wake_consumer(&self) {
        self.not_empty.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn drain<T>(q: &EventQueue<T>) -> Vec<T> {
        std::iter::from_fn(|| q.try_pop().map(|(item, _)| item)).collect()
    }

    #[test]
    fn fifo_lifo_and_priority_orders() {
        let fifo = EventQueue::new(QueueType::Fifo, 8);
        let lifo = EventQueue::new(QueueType::Lifo, 8);
        let prio = EventQueue::new(QueueType::Priority, 8);
        for (i, p) in [(1, 5), (2, 1), (3, 5), (4, 0)] {
            for q in [&fifo, &lifo, &prio] {
                assert!(q.try_push(i, p).is_ok());
            }
        }
        assert_eq!(drain(&fifo), [1, 2, 3, 4]);
        assert_eq!(drain(&lifo), [4, 3, 2, 1]);
        assert_eq!(drain(&prio), [4, 2, 1, 3]);
    }

    #[test]
    fn a_full_queue_hands_the_item_back() {
        let q = EventQueue::new(QueueType::Fifo, 1);
        assert!(q.try_push(1, 0).is_ok());
        assert!(matches!(q.try_push(2, 0), Err(PushError::Full(2))));
        q.close();
        assert!(matches!(q.try_push(3, 0), Err(PushError::Closed(3))));
        assert_eq!(drain(&q), [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn push_waits_for_room_and_pop_for_items() {
        let q = Arc::new(EventQueue::new(QueueType::Fifo, 1));
        let mut out = VecDeque::new();
        assert!(q.push(1, 0).await.is_ok());
        let pusher = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.push(2, 0).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(
            !pusher.is_finished(),
            "push must wait while the queue is full"
        );
        assert!(q.pop_into(&mut out, 8, 1).await);
        assert!(pusher.await.unwrap_or(false));
        assert!(q.pop_into(&mut out, 8, 1).await);
        assert_eq!(out.drain(..).map(|(i, _)| i).collect::<Vec<_>>(), [1, 2]);

        let popper = tokio::spawn({
            let q = Arc::clone(&q);
            async move { q.pop_into(&mut VecDeque::new(), 8, 1).await }
        });
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        assert!(
            !popper.is_finished(),
            "pop must wait while the queue is empty"
        );
        q.close();
        assert!(
            !popper.await.unwrap_or(true),
            "a closed, empty queue ends the wait"
        );
        assert!(q.push(3, 0).await.is_err());
    }

    #[test]
    fn a_batch_takes_a_fair_share_of_the_backlog() {
        let q = EventQueue::new(QueueType::Fifo, 64);
        for i in 0..40 {
            assert!(q.try_push(i, 0).is_ok());
        }
        let mut out = VecDeque::new();
        // 40 waiting, 4 consumers: 10 each, capped at 8.
        assert_eq!(q.try_pop_into(&mut out, 8, 4), 8);
        // 32 waiting, 16 consumers: 2 each.
        assert_eq!(q.try_pop_into(&mut out, 8, 16), 2);
        // 30 waiting, 100 consumers: still one.
        assert_eq!(q.try_pop_into(&mut out, 8, 100), 1);
        let taken: Vec<(usize, usize)> = out.into_iter().collect();
        assert_eq!(taken.first(), Some(&(0, 39)));
        assert_eq!(taken.last(), Some(&(10, 29)));
    }

    proptest! {
        /// Priority order is by value, then arrival, whatever the interleaving.
        #[test]
        fn priority_queue_is_a_stable_sort(prios in proptest::collection::vec(-3i64..3, 0..64)) {
            let q = EventQueue::new(QueueType::Priority, 64);
            for (i, p) in prios.iter().enumerate() {
                prop_assert!(q.try_push(i, *p).is_ok());
            }
            let mut expected: Vec<usize> = (0..prios.len()).collect();
            expected.sort_by_key(|&i| prios[i]);
            prop_assert_eq!(drain(&q), expected);
        }

        /// The queue never holds more than its capacity and loses nothing.
        #[test]
        fn capacity_is_respected(cap in 1usize..16, n in 0usize..64) {
            let q = EventQueue::new(QueueType::Fifo, cap);
            let accepted: Vec<usize> = (0..n).filter(|&i| q.try_push(i, 0).is_ok()).collect();
            prop_assert_eq!(accepted.len(), n.min(cap));
            prop_assert_eq!(q.len(), n.min(cap));
            prop_assert_eq!(drain(&q), accepted);
        }
    }
}
