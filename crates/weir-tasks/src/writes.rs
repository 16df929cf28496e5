//! Writing behind: the records and events of a worker's jobs go to the
//! broker together.
//!
//! A job hands its writes to the [`Writes`] queue and goes on; one task
//! sends what has gathered meanwhile as one `put_results_publishing` (one
//! pipeline on Redis), then the next batch. A job
//! that must know its writes are stored (its end, before its message is
//! committed) waits for them with [`Writes::flush`]. Batches go one at a
//! time, in the order the writes came, so a record never overwrites a later
//! one of the same task; within a batch, a task's later record takes its
//! earlier one's place (a job that starts and ends between two batches
//! costs one write and one encoding, not two). Records go before the batch's
//! events, so an event's reader finds the record it announces, and the
//! events before the records' waiters wake, so what a waiter does next
//! comes after them on the event channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weir_core::BrokerError;

use crate::events::{self, EVENT_CHANNEL, EventKind, TaskEventRef};
use crate::patience::Patience;
use crate::records::entries;
use crate::written::{Marks, Written};
use crate::{TaskBroker, TaskError, TaskRecord, TaskState};

/// The most writes one batch takes.
const MAX_BATCH: usize = 2048;

/// The queue of a worker's writes; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Writes {
    tx: mpsc::UnboundedSender<Write>,
    marks: Arc<Marks>,
}

/// What a job hands in. Records and events are encoded by the writer, once
/// per batch: a record replaced within its batch is never encoded.
#[derive(Debug)]
enum Write {
    /// A task's new record, the event it makes (with when it happened), and
    /// its task id's hash ([`Marks::hash`]).
    Record(Box<TaskRecord>, Option<(EventKind, SystemTime)>, u64),
    Flush(oneshot::Sender<Result<(), TaskError>>),
}

impl Writes {
    /// Starts the task that writes to `broker`, keeping records for `ttl`
    /// and riding through outages with `patience`. It ends when the last
    /// handle is dropped, after writing what it was given.
    pub(crate) fn start<B: TaskBroker>(broker: B, ttl: Duration, patience: Patience) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let marks = Arc::new(Marks::default());
        tokio::spawn(write(broker, ttl, patience, rx, Arc::clone(&marks)));
        Writes { tx, marks }
    }

    /// What was written lately of task `id` through these writes.
    pub(crate) fn written(&self, id: &str) -> Written {
        self.marks.of(id)
    }

    /// Stores `record` with the next batch and, given an `event`, publishes
    /// that event of it with the batch's records (a failure of either is
    /// the batch's, tried again through outages and told to its flushes).
    ///
    /// # Errors
    ///
    /// The worker's writer is gone.
    pub(crate) fn record(
        &self,
        record: TaskRecord,
        event: Option<EventKind>,
    ) -> Result<(), TaskError> {
        let event = event.map(|kind| (kind, SystemTime::now()));
        let hash = Marks::hash(record.id.as_str());
        self.marks.handed(hash);
        let sent = self.send(Write::Record(Box::new(record), event, hash));
        if sent.is_err() {
            self.marks.stored(hash, Instant::now());
        }
        sent
    }

    /// Waits until every record handed in before is stored (their events are
    /// published right after).
    ///
    /// # Errors
    ///
    /// A batch failed for good (outlasting the outage timeout, or an error
    /// that is not transient).
    pub(crate) async fn flush(&self) -> Result<(), TaskError> {
        let (tx, rx) = oneshot::channel();
        self.send(Write::Flush(tx))?;
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    fn send(&self, write: Write) -> Result<(), TaskError> {
        self.tx.send(write).map_err(|_| gone())
    }
}

fn gone() -> TaskError {
    TaskError::Broker {
        doing: "storing task records".to_owned(),
        source: BrokerError::Closed("the worker's writer"),
    }
}

/// The writes gathered for one round.
#[derive(Default)]
struct Batch {
    /// The latest record of each task run, where its first came.
    records: Vec<TaskRecord>,
    /// Where the latest run of a task is in `records`, by the id's hash
    /// (a collision only costs a write that could have been spared).
    at: HashMap<u64, usize>,
    events: Vec<Pending>,
    flushes: Vec<oneshot::Sender<Result<(), TaskError>>>,
    /// The id hash of each record handed in, replaced or not (for the
    /// marks).
    hashes: Vec<u64>,
}

/// An event to publish: what the record said when it happened; the names
/// come from the record in the batch.
struct Pending {
    kind: EventKind,
    at: SystemTime,
    state: TaskState,
    attempt: u32,
    error: Option<String>,
    record: usize,
}

impl Batch {
    /// A batch for `n` writes, sized for them.
    fn with_capacity(n: usize) -> Self {
        Batch {
            records: Vec::with_capacity(n),
            at: HashMap::with_capacity(n),
            events: Vec::with_capacity(n),
            flushes: Vec::new(),
            hashes: Vec::with_capacity(n),
        }
    }

    fn add(&mut self, write: Write) {
        match write {
            Write::Record(record, event, hash) => {
                self.hashes.push(hash);
                let record = *record;
                let same_run = self.at.get(&hash).copied().filter(|&i| {
                    self.records[i].id == record.id && self.records[i].run == record.run
                });
                let i = same_run.unwrap_or(self.records.len());
                if let Some((kind, at)) = event {
                    self.events.push(Pending {
                        kind,
                        at,
                        state: record.state,
                        attempt: record.attempt,
                        error: record.error.clone(),
                        record: i,
                    });
                }
                match same_run {
                    Some(i) => self.records[i] = record,
                    None => {
                        self.at.insert(hash, i);
                        self.records.push(record);
                    }
                }
            }
            Write::Flush(tx) => self.flushes.push(tx),
        }
    }

    /// What the batch's records store, key by key, in order.
    fn entries(&self) -> Result<Vec<(String, Bytes)>, TaskError> {
        let mut all = Vec::with_capacity(self.records.len() * 2);
        for record in &self.records {
            all.extend(entries(record)?);
        }
        Ok(all)
    }

    /// Stores the batch's records and publishes its events, in one call:
    /// the events after the records, before the records' waiters wake.
    async fn store<B: TaskBroker>(
        &self,
        broker: &B,
        ttl: Duration,
        patience: Patience,
    ) -> Result<(), TaskError> {
        if !self.records.is_empty() {
            let entries = self.entries()?;
            let events = self.encoded_events();
            let doing = || {
                format!(
                    "storing the records of {} task(s) and publishing {} event(s)",
                    self.records.len(),
                    events.len()
                )
            };
            patience
                .call(|| async {
                    broker
                        .put_results_publishing(&entries, ttl, EVENT_CHANNEL, &events)
                        .await
                        .map_err(TaskError::broker(doing()))
                })
                .await?;
        }
        Ok(())
    }

    /// The batch's events, encoded.
    fn encoded_events(&self) -> Vec<Bytes> {
        self.events
            .iter()
            .filter_map(|e| {
                let r = &self.records[e.record];
                events::encode_ref(&TaskEventRef {
                    kind: e.kind,
                    id: &r.id,
                    actor: &r.actor,
                    queue: &r.queue,
                    state: e.state,
                    attempt: e.attempt,
                    at: e.at,
                    error: e.error.as_deref(),
                })
            })
            .collect()
    }

    /// Tells every flush of the batch how it went.
    fn answer(&mut self, outcome: Result<(), TaskError>) {
        let n = self.flushes.len();
        let mut errors = outcome.err().map(|e| e.for_each_of(n));
        for tx in self.flushes.drain(..) {
            let answer = match errors.as_mut().and_then(Iterator::next) {
                Some(e) => Err(e),
                None => Ok(()),
            };
            // A flusher that stopped waiting does not mind.
            let _ = tx.send(answer);
        }
    }
}

async fn write<B: TaskBroker>(
    broker: B,
    ttl: Duration,
    patience: Patience,
    mut rx: mpsc::UnboundedReceiver<Write>,
    marks: Arc<Marks>,
) {
    let mut gathered = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut gathered, MAX_BATCH).await > 0 {
        let mut batch = Batch::with_capacity(gathered.len());
        for w in gathered.drain(..) {
            batch.add(w);
        }
        let outcome = batch.store(&broker, ttl, patience).await;
        let stored_by = Instant::now();
        for &hash in &batch.hashes {
            marks.stored(hash, stored_by);
        }
        if let Err(e) = &outcome {
            tracing::error!(error = %weir_core::ErrorReport::new(e), "cannot store task records");
        }
        batch.answer(outcome);
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use weir_core::capability::ResultStore;
    use weir_memory::MemoryBroker;

    use super::*;
    use crate::enqueue::{message_of, queued_record};
    use crate::job::Encoded;
    use crate::records::final_and_latest_keys;
    use crate::{Job, TaskState};

    fn record() -> TaskRecord {
        let job: Encoded = Job::new("noop")
            .args(1)
            .encode(&weir_core::MsgPack)
            .expect("encodes");
        queued_record(&message_of(job))
    }

    fn patience() -> Patience {
        Patience {
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_later_record_of_a_task_takes_the_earlier_ones_place() {
        let mut started = record();
        started.state = TaskState::Started;
        let mut done = started.clone();
        done.state = TaskState::Success;
        done.finished_at = Some(SystemTime::now());
        let mut batch = Batch::default();
        batch.add(Write::Record(Box::new(started), None, 0));
        batch.add(Write::Record(Box::new(done.clone()), None, 0));
        let stored = batch.entries().expect("encodes");
        let [final_key, key] = final_and_latest_keys(&done.id, done.run);
        let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        // The record first, then the final entry: whoever the final entry
        // wakes finds the final record.
        assert_eq!(keys, [key.as_str(), final_key.as_str()]);
        let want = entries(&done).expect("encodes");
        assert_eq!(stored, want, "both hold the final record");
    }

    #[test]
    fn each_event_keeps_what_its_record_said_when_it_happened() {
        let mut started = record();
        started.state = TaskState::Started;
        started.attempt = 1;
        let mut done = started.clone();
        done.state = TaskState::Failure;
        done.error = Some("boom".to_owned());
        let mut batch = Batch::default();
        batch.add(Write::Record(
            Box::new(started),
            Some((EventKind::Started, SystemTime::now())),
            0,
        ));
        batch.add(Write::Record(
            Box::new(done),
            Some((EventKind::Done, SystemTime::now())),
            0,
        ));
        assert_eq!(batch.records.len(), 1, "one record stored");
        let events: Vec<crate::TaskEvent> = batch
            .encoded_events()
            .iter()
            .map(|b| weir_core::Codec::decode(&weir_core::MsgPack, b).expect("decodes"))
            .collect();
        let seen: Vec<(EventKind, TaskState, Option<&str>)> = events
            .iter()
            .map(|e| (e.kind, e.state, e.error.as_deref()))
            .collect();
        assert_eq!(
            seen,
            [
                (EventKind::Started, TaskState::Started, None),
                (EventKind::Done, TaskState::Failure, Some("boom")),
            ]
        );
    }

    #[test]
    fn a_new_run_of_a_task_keeps_the_end_of_the_last_one() {
        let mut first = record();
        first.state = TaskState::Success;
        let mut second = first.clone();
        second.run += 1;
        second.state = TaskState::Started;
        let mut batch = Batch::default();
        batch.add(Write::Record(Box::new(first.clone()), None, 0));
        batch.add(Write::Record(Box::new(second.clone()), None, 0));
        let stored = batch.entries().expect("encodes");
        let [first_final, key] = final_and_latest_keys(&first.id, first.run);
        let keys: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, [key.as_str(), first_final.as_str(), key.as_str()]);
        let last = entries(&second).expect("encodes");
        assert_eq!(
            stored.last(),
            last.last(),
            "the latest record is the new run's"
        );
    }

    #[test]
    fn every_flusher_of_a_failed_batch_hears_of_it() {
        let mut batch = Batch::default();
        let (a, mut ra) = oneshot::channel();
        let (b, mut rb) = oneshot::channel();
        batch.add(Write::Flush(a));
        batch.add(Write::Flush(b));
        let failure =
            TaskError::broker("storing the records of 2 task(s)")(BrokerError::Closed("redis"));
        batch.answer(Err(failure));
        let first = ra.try_recv().expect("answered").expect_err("failed");
        let second = rb.try_recv().expect("answered").expect_err("failed");
        assert!(matches!(
            first,
            TaskError::Broker {
                source: BrokerError::Closed(_),
                ..
            }
        ));
        let report = weir_core::ErrorReport::new(&second).to_string();
        assert!(
            report.contains("storing the records of 2 task(s)"),
            "{report}"
        );
        assert!(report.contains("redis"), "{report}");
    }

    #[tokio::test]
    async fn a_flush_returns_once_what_came_before_is_stored() {
        let broker = MemoryBroker::new();
        let writes = Writes::start(broker.clone(), Duration::from_secs(60), patience());
        let mut r = record();
        r.state = TaskState::Success;
        writes
            .record(r.clone(), Some(EventKind::Done))
            .expect("the writer runs");
        writes.flush().await.expect("stored");
        let [final_key, key] = final_and_latest_keys(&r.id, r.run);
        let got = broker.get_results(&[final_key, key]).await.expect("read");
        assert!(got.iter().all(Option::is_some), "{got:?}");
    }
}
