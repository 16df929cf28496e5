//! The results topic materialised in memory: the latest unexpired value of
//! each id, who waits for which id, and how far the reader got.
//!
//! A result's expiry travels with it, in the header `weir-expires`
//! (milliseconds since the Unix epoch, by the writer's clock). A value read
//! after its expiry, or found expired when asked for, is absent and evicted;
//! the whole map is swept whenever it has doubled since the last sweep, so
//! expired values of ids nobody asks for do not pile up.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use super::reader::Record;

/// The header holding a result's expiry.
pub(crate) const EXPIRES: &str = "weir-expires";

/// The value of the [`EXPIRES`] header for a result stored now for `ttl`.
pub(crate) fn expiry_header(ttl: Duration) -> String {
    let at = SystemTime::now() + ttl;
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .to_string()
}

fn expiry_of(record: &Record) -> Option<SystemTime> {
    let bytes = record.payload.headers.get(EXPIRES)?;
    let ms: u64 = std::str::from_utf8(bytes).ok()?.trim().parse().ok()?;
    Some(UNIX_EPOCH + Duration::from_millis(ms))
}

#[derive(Debug)]
struct Stored {
    value: Bytes,
    /// `None`: kept until replaced (a record without a readable expiry).
    expires: Option<SystemTime>,
}

impl Stored {
    fn live(&self, now: SystemTime) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

#[derive(Debug, Default)]
struct State {
    values: HashMap<String, Stored>,
    waiting: HashMap<String, Vec<oneshot::Sender<Bytes>>>,
    /// The size of `values` after the last sweep.
    swept_at: usize,
}

/// What [`ResultsView::get_or_wait`] found.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The value, there already.
    Found(Bytes),
    /// Not there: this resolves when it arrives.
    Wait(oneshot::Receiver<Bytes>),
}

/// The results read so far.
#[derive(Debug)]
pub(crate) struct ResultsView {
    state: Mutex<State>,
    /// Per partition, the offset after the last record read.
    read: watch::Sender<Vec<u64>>,
}

impl ResultsView {
    /// An empty view of a topic of `partitions` partitions.
    pub(crate) fn new(partitions: u32) -> Self {
        ResultsView {
            state: Mutex::new(State::default()),
            read: watch::Sender::new(vec![0; partitions as usize]),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in records read, in order: stores or removes each id's value,
    /// wakes its waiters, and moves the read positions on.
    pub(crate) fn apply(&self, records: Vec<Record>) {
        let now = SystemTime::now();
        let mut read: Vec<(u32, u64)> = Vec::new();
        {
            let mut state = self.lock();
            for record in records {
                read.push((record.partition, record.offset));
                let Some(id) = record
                    .payload
                    .key
                    .as_deref()
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .map(str::to_owned)
                else {
                    continue;
                };
                let expires = expiry_of(&record);
                if record.tombstone || expires.is_some_and(|at| at <= now) {
                    state.values.remove(&id);
                    continue;
                }
                let value = record.payload.value;
                if let Some(waiters) = state.waiting.remove(&id) {
                    for w in waiters {
                        let _ = w.send(value.clone());
                    }
                }
                state.values.insert(id, Stored { value, expires });
            }
            if state.values.len() > 2 * state.swept_at + 1024 {
                state.values.retain(|_, s| s.live(now));
                state.swept_at = state.values.len();
            }
        }
        if !read.is_empty() {
            self.read.send_modify(|positions| {
                for (partition, offset) in read {
                    if let Some(p) = positions.get_mut(partition as usize) {
                        *p = (*p).max(offset.saturating_add(1));
                    }
                }
            });
        }
    }

    /// The value of `id`, if read and not expired (an expired one is evicted).
    pub(crate) fn get(&self, id: &str) -> Option<Bytes> {
        let mut state = self.lock();
        Self::live_value(&mut state, id)
    }

    fn live_value(state: &mut State, id: &str) -> Option<Bytes> {
        let stored = state.values.get(id)?;
        if stored.live(SystemTime::now()) {
            return Some(stored.value.clone());
        }
        state.values.remove(id);
        None
    }

    /// The value of `id` if there, else a wait for it: looked up and
    /// registered at once, so a value read in between is not missed.
    pub(crate) fn get_or_wait(&self, id: &str) -> Lookup {
        let mut state = self.lock();
        if let Some(v) = Self::live_value(&mut state, id) {
            return Lookup::Found(v);
        }
        let (tx, rx) = oneshot::channel();
        state.waiting.entry(id.to_owned()).or_default().push(tx);
        Lookup::Wait(rx)
    }

    /// Drops the waits for `id` nobody waits on any more.
    pub(crate) fn forget_waiters(&self, id: &str) {
        let mut state = self.lock();
        if let Some(waiters) = state.waiting.get_mut(id) {
            waiters.retain(|w| !w.is_closed());
            if waiters.is_empty() {
                state.waiting.remove(id);
            }
        }
    }

    /// Waits until the reader has read each partition up to `ends` (by
    /// partition index).
    pub(crate) async fn reached(&self, ends: &[u64]) {
        let mut read = self.read.subscribe();
        let reached = |positions: &Vec<u64>| {
            ends.iter()
                .zip(positions)
                .all(|(end, position)| position >= end)
        };
        // The sender lives as long as `self`: this ends only when reached.
        let _ = read.wait_for(reached).await;
    }
}

#[cfg(test)]
mod tests {
    use weir_core::Payload;

    use super::*;

    fn record(offset: u64, id: &str, value: Option<&'static str>, ttl: Option<i64>) -> Record {
        let mut payload = Payload::new(value.unwrap_or_default()).with_key(id.to_owned());
        if let Some(ms) = ttl {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let at = i128::try_from(now).unwrap_or_default() + i128::from(ms);
            payload = payload.with_header(EXPIRES, at.max(0).to_string());
        }
        Record {
            partition: 0,
            offset,
            tombstone: value.is_none(),
            payload,
        }
    }

    #[tokio::test]
    async fn the_latest_live_value_wins_and_waiters_wake() {
        let view = ResultsView::new(1);
        let Lookup::Wait(waiter) = view.get_or_wait("a") else {
            panic!("nothing is there yet")
        };
        view.apply(vec![
            record(0, "a", Some("old"), Some(60_000)),
            record(1, "a", Some("new"), Some(60_000)),
            record(2, "b", Some("gone"), Some(-1)),
            record(3, "c", Some("kept"), None),
            record(4, "c", None, None),
        ]);
        assert_eq!(waiter.await.ok(), Some(Bytes::from("old")));
        assert_eq!(view.get("a"), Some(Bytes::from("new")));
        assert_eq!(view.get("b"), None, "an expired value is absent");
        assert_eq!(view.get("c"), None, "a tombstone removes the value");
        assert!(matches!(view.get_or_wait("a"), Lookup::Found(v) if v == "new"));
        view.reached(&[5]).await;
    }

    #[tokio::test]
    async fn a_value_that_expires_is_evicted_when_asked_for() {
        let view = ResultsView::new(1);
        view.apply(vec![record(0, "a", Some("v"), Some(30))]);
        assert_eq!(view.get("a"), Some(Bytes::from("v")));
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(view.get("a"), None);
        assert!(view.lock().values.is_empty(), "evicted");
    }

    #[tokio::test]
    async fn forgotten_waits_are_dropped() {
        let view = ResultsView::new(2);
        let lookup = view.get_or_wait("a");
        drop(lookup);
        view.forget_waiters("a");
        assert!(view.lock().waiting.is_empty());
        let reached = tokio::time::timeout(Duration::from_millis(20), view.reached(&[0, 1])).await;
        assert!(reached.is_err(), "partition 1 was not read yet");
    }
}
