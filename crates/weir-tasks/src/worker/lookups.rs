//! Looking up together: what the jobs starting at the same time read from
//! the result store goes as one `get_results` (a pipeline on Redis).
//!
//! A worker takes jobs a batch at a time, and every job first reads its
//! latest record. One task gathers the reads that wait, sends them at once
//! and hands each job its values, then gathers again: a batch of a hundred
//! jobs costs one round trip, not a hundred.
//!
//! The worker's consumer also asks, as it hands a batch out, for the records
//! of the batch's jobs ahead of time ([`Lookups::prefetch`]); a job that
//! starts soon after ([`FRESH`]) takes its record from there without a
//! round trip of its own, so a worker running one job at a time does not
//! wait for a read per job. A job that starts later reads again: a record
//! read long before the job starts (a revoke in between) is never used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weir_core::BrokerError;

use crate::patience::Patience;
use crate::{TaskBroker, TaskError};

/// The most keys one round reads.
const MAX_KEYS: usize = 4096;

/// How long a record read ahead stays good for its job.
pub(crate) const FRESH: Duration = Duration::from_millis(50);

/// Records read ahead past this many, the stale ones are dropped.
const MAX_PREFETCHED: usize = 4096;

type Reply = oneshot::Sender<Result<Vec<Option<Bytes>>, TaskError>>;

/// A read: for a job waiting for it, or ahead of time.
enum Read {
    Now(Vec<String>, Reply),
    Ahead(Vec<String>),
}

/// A record read ahead: on its way (asked for at `asked`, with the jobs
/// waiting for it), or here, with when its read was sent.
enum Ahead {
    Reading {
        asked: Instant,
        waiting: Vec<oneshot::Sender<Option<Option<Bytes>>>>,
    },
    Read {
        sent: Instant,
        value: Option<Bytes>,
    },
}

type Cache = Arc<Mutex<HashMap<String, Ahead>>>;

/// The queue of a worker's reads; cheap to clone.
#[derive(Clone)]
pub(crate) struct Lookups {
    tx: mpsc::UnboundedSender<Read>,
    ahead: Cache,
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

impl Lookups {
    /// Starts the task that reads from `broker`, riding through outages
    /// with `patience`; it ends when the last handle is dropped.
    pub(crate) fn start<B: TaskBroker>(broker: B, patience: Patience) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let ahead = Cache::default();
        tokio::spawn(look_up(broker, patience, rx, Arc::clone(&ahead)));
        Lookups { tx, ahead }
    }

    /// Reads `keys` ahead of the jobs that will ask for them.
    pub(crate) fn prefetch(&self, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        {
            let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
            if ahead.len() > MAX_PREFETCHED {
                ahead
                    .retain(|_, a| matches!(a, Ahead::Read { sent, .. } if sent.elapsed() < FRESH));
            }
            let asked = Instant::now();
            for key in &keys {
                ahead.entry(key.clone()).or_insert(Ahead::Reading {
                    asked,
                    waiting: Vec::new(),
                });
            }
        }
        // Nobody to read them only when the worker is gone.
        let _ = self.tx.send(Read::Ahead(keys));
    }

    /// The value of `key`: read ahead (on its way, or read within
    /// [`FRESH`]), else read now. Given `since` (when the last write of it
    /// that this worker knows of was stored), a read sent before is not
    /// used.
    ///
    /// # Errors
    ///
    /// As [`get`](Lookups::get).
    pub(crate) async fn one(
        &self,
        key: String,
        since: Option<Instant>,
    ) -> Result<Option<Bytes>, TaskError> {
        let after = |t: Instant| since.is_none_or(|s| t > s);
        let coming = {
            let mut ahead = self.ahead.lock().unwrap_or_else(PoisonError::into_inner);
            match ahead.remove(&key) {
                Some(Ahead::Reading { asked, mut waiting }) if after(asked) => {
                    let (tx, rx) = oneshot::channel();
                    waiting.push(tx);
                    ahead.insert(key.clone(), Ahead::Reading { asked, waiting });
                    Some(rx)
                }
                Some(Ahead::Read { sent, value }) if sent.elapsed() < FRESH && after(sent) => {
                    return Ok(value);
                }
                // Not read ahead, read too long ago, or asked for before the
                // write.
                _ => None,
            }
        };
        if let Some(rx) = coming
            && let Ok(Some(value)) = rx.await
        {
            return Ok(value);
        }
        // Not read ahead, read too long ago, or the read ahead failed.
        Ok(self.get(vec![key]).await?.into_iter().next().flatten())
    }

    /// The values of `keys`, in their order, read with whatever other
    /// reads wait at the same time.
    ///
    /// # Errors
    ///
    /// The read failed for good (outlasting the outage timeout, or an
    /// error that is not transient).
    pub(crate) async fn get(&self, keys: Vec<String>) -> Result<Vec<Option<Bytes>>, TaskError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Read::Now(keys, tx)).map_err(|_| gone())?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }
}

fn gone() -> TaskError {
    TaskError::Broker {
        doing: "reading task records".to_owned(),
        source: BrokerError::Closed("the worker's reader"),
    }
}

async fn look_up<B: TaskBroker>(
    broker: B,
    patience: Patience,
    mut rx: mpsc::UnboundedReceiver<Read>,
    ahead: Cache,
) {
    let mut gathered = Vec::new();
    // At least one read per round, and about `MAX_KEYS` keys.
    while rx.recv_many(&mut gathered, MAX_KEYS / 2).await > 0 {
        let mut waiting = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        let mut early: Vec<String> = Vec::new();
        for read in gathered.drain(..) {
            match read {
                Read::Now(k, reply) => {
                    keys.extend(k.iter().cloned());
                    waiting.push((k.len(), reply));
                }
                Read::Ahead(k) => early.extend(k),
            }
        }
        let now = keys.len();
        keys.append(&mut early);
        let n = waiting.len();
        let sent = Instant::now();
        let read = patience
            .call(|| async {
                broker
                    .get_results(&keys)
                    .await
                    .map_err(TaskError::broker(format!(
                        "reading the records of {} task(s)",
                        n.max(1)
                    )))
            })
            .await;
        match read {
            Ok(mut values) => {
                let later = values.split_off(now.min(values.len()));
                keep_ahead(
                    &ahead,
                    keys.drain(now..).zip(later.into_iter().map(Some)),
                    sent,
                );
                let mut values = values.into_iter();
                for (k, reply) in waiting {
                    let mine: Vec<Option<Bytes>> = values.by_ref().take(k).collect();
                    let _ = reply.send(Ok(mine));
                }
            }
            Err(e) => {
                // What was read ahead is read again by its job.
                keep_ahead(&ahead, keys.drain(now..).map(|k| (k, None)), sent);
                for ((_, reply), e) in waiting.into_iter().zip(e.for_each_of(n)) {
                    let _ = reply.send(Err(e));
                }
            }
        }
    }
}

/// Hands what was read ahead to the jobs waiting for it, and keeps the rest
/// for the jobs to come (`None`: the read failed, they read again).
fn keep_ahead(
    ahead: &Cache,
    values: impl Iterator<Item = (String, Option<Option<Bytes>>)>,
    sent: Instant,
) {
    let mut ahead = ahead.lock().unwrap_or_else(PoisonError::into_inner);
    for (key, value) in values {
        let waiting = match ahead.remove(&key) {
            Some(Ahead::Reading { waiting, .. }) => waiting,
            _ => Vec::new(),
        };
        match value {
            Some(value) if waiting.is_empty() => {
                ahead.insert(key, Ahead::Read { sent, value });
            }
            value => {
                for tx in waiting {
                    let _ = tx.send(value.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use weir_core::capability::ResultStore;
    use weir_memory::MemoryBroker;

    use super::*;

    const TTL: Duration = Duration::from_secs(60);

    fn lookups(broker: &MemoryBroker) -> Lookups {
        Lookups::start(
            broker.clone(),
            Patience {
                timeout: Duration::from_secs(1),
            },
        )
    }

    /// A broker holding `k` = "old", and its records read ahead and back.
    async fn read_ahead_of_k() -> (MemoryBroker, Lookups) {
        let broker = MemoryBroker::new();
        broker
            .put_result("k", "old".into(), TTL)
            .await
            .expect("put");
        let l = lookups(&broker);
        l.prefetch(vec!["k".to_owned()]);
        read_ahead(&l, "k").await;
        (broker, l)
    }

    /// Waits until the read ahead of `key` is back.
    async fn read_ahead(l: &Lookups, key: &str) {
        for _ in 0..1000 {
            let back = matches!(
                l.ahead.lock().expect("cache").get(key),
                Some(Ahead::Read { .. })
            );
            if back {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the read ahead of {key} never came back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_starting_soon_takes_the_record_read_ahead() {
        let (broker, l) = read_ahead_of_k().await;
        // Changed since the read ahead: the job still gets what was read,
        // which proves it made no read of its own.
        broker
            .put_result("k", "new".into(), TTL)
            .await
            .expect("put");
        assert_eq!(
            l.one("k".to_owned(), None).await.expect("read"),
            Some("old".into())
        );
        // Taken once: the next ask reads.
        assert_eq!(
            l.one("k".to_owned(), None).await.expect("read"),
            Some("new".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_starting_late_reads_again() {
        let (broker, l) = read_ahead_of_k().await;
        broker
            .put_result("k", "revoked".into(), TTL)
            .await
            .expect("put");
        tokio::time::advance(FRESH).await;
        assert_eq!(
            l.one("k".to_owned(), None).await.expect("read"),
            Some("revoked".into()),
            "a record read too long ago is not used"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_sent_before_the_workers_own_write_was_stored_is_not_used() {
        let (broker, l) = read_ahead_of_k().await;
        tokio::time::advance(Duration::from_millis(1)).await;
        broker
            .put_result("k", "done".into(), TTL)
            .await
            .expect("put");
        let stored_by = Instant::now();
        assert_eq!(
            l.one("k".to_owned(), Some(stored_by)).await.expect("read"),
            Some("done".into()),
            "fresh, but read before the write"
        );
        // Asked for after the write: taken.
        tokio::time::advance(Duration::from_millis(1)).await;
        l.prefetch(vec!["k".to_owned()]);
        read_ahead(&l, "k").await;
        broker
            .put_result("k", "later".into(), TTL)
            .await
            .expect("put");
        assert_eq!(
            l.one("k".to_owned(), Some(stored_by)).await.expect("read"),
            Some("done".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_asking_while_the_read_ahead_is_on_its_way_waits_for_it() {
        let broker = MemoryBroker::new();
        broker.put_result("k", "v".into(), TTL).await.expect("put");
        let l = lookups(&broker);
        l.prefetch(vec!["k".to_owned(), "missing".to_owned()]);
        // Asked at once, before the reader ran: both wait for the read ahead.
        let (a, b) = tokio::join!(
            l.one("k".to_owned(), None),
            l.one("missing".to_owned(), None)
        );
        assert_eq!(a.expect("read"), Some("v".into()));
        assert_eq!(b.expect("read"), None);
        assert!(
            l.ahead.lock().expect("cache").is_empty(),
            "nothing left over"
        );
    }
}
