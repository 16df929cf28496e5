//! Writing behind: the records and events of a worker's jobs go to the
//! broker together.
//!
//! A job hands its writes to the [`Writes`] queue and goes on; one task
//! sends what has gathered meanwhile as one `put_results` and one
//! `publish_many` (a pipeline each on Redis), then the next batch. A job
//! that must know its writes are stored (its end, before its message is
//! committed) waits for them with [`Writes::flush`]. Batches go one at a
//! time, in the order the writes came, so a record never overwrites a later
//! one of the same task; within a batch, a task's later record takes its
//! earlier one's place (a job that starts and ends between two batches
//! costs one write, not two). Records go before the batch's events, so an
//! event's reader finds the record it announces.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use weir_core::BrokerError;

use crate::events::{self, EVENT_CHANNEL, EventKind, TaskEvent};
use crate::patience::Patience;
use crate::records::entries;
use crate::{TaskBroker, TaskError, TaskRecord};

/// The most writes one batch takes.
const MAX_BATCH: usize = 2048;

/// The queue of a worker's writes; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Writes {
    tx: mpsc::UnboundedSender<Write>,
}

#[derive(Debug)]
enum Write {
    Record(Vec<(String, Bytes)>),
    Event(Bytes),
    Flush(oneshot::Sender<Result<(), TaskError>>),
}

impl Writes {
    /// Starts the task that writes to `broker`, keeping records for `ttl`
    /// and riding through outages with `patience`. It ends when the last
    /// handle is dropped, after writing what it was given.
    pub(crate) fn start<B: TaskBroker>(broker: B, ttl: Duration, patience: Patience) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(write(broker, ttl, patience, rx));
        Writes { tx }
    }

    /// Stores `record` with the next batch.
    pub(crate) fn record(&self, record: &TaskRecord) -> Result<(), TaskError> {
        let entries = entries(record)?;
        self.send(Write::Record(entries))
    }

    /// Publishes the `kind` event of `record` with the next batch (after
    /// the batch's records). A failure to publish is logged, never returned.
    pub(crate) fn event(&self, kind: EventKind, record: &TaskRecord) {
        if let Some(bytes) = events::encode(&TaskEvent::of(kind, record)) {
            // Nobody to write it only when the worker is gone.
            let _ = self.send(Write::Event(bytes));
        }
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
    records: Vec<(String, Bytes)>,
    /// Where each key is in `records`.
    at: HashMap<String, usize>,
    events: Vec<Bytes>,
    flushes: Vec<oneshot::Sender<Result<(), TaskError>>>,
}

impl Batch {
    fn add(&mut self, write: Write) {
        match write {
            Write::Record(entries) => {
                for (key, value) in entries {
                    match self.at.get(&key) {
                        Some(&i) => self.records[i].1 = value,
                        None => {
                            self.at.insert(key.clone(), self.records.len());
                            self.records.push((key, value));
                        }
                    }
                }
            }
            Write::Event(bytes) => self.events.push(bytes),
            Write::Flush(tx) => self.flushes.push(tx),
        }
    }

    async fn store<B: TaskBroker>(
        &self,
        broker: &B,
        ttl: Duration,
        patience: Patience,
    ) -> Result<(), TaskError> {
        if !self.records.is_empty() {
            let doing = || format!("storing the records of {} task(s)", self.records.len());
            patience
                .call(|| async {
                    broker
                        .put_results(&self.records, ttl)
                        .await
                        .map_err(TaskError::broker(doing()))
                })
                .await?;
        }
        Ok(())
    }

    /// Publishes the batch's events; a failure is logged.
    async fn publish<B: TaskBroker>(events: Vec<Bytes>, broker: &B, patience: Patience) {
        if !events.is_empty() {
            let published =
                patience
                    .call(|| async {
                        broker.publish_many(EVENT_CHANNEL, &events).await.map_err(
                            TaskError::broker(format!("publishing {} task event(s)", events.len())),
                        )
                    })
                    .await;
            if let Err(e) = published {
                tracing::warn!(error = %weir_core::ErrorReport::new(&e), "cannot publish task events");
            }
        }
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
) {
    let mut gathered = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut gathered, MAX_BATCH).await > 0 {
        let mut batch = Batch::default();
        for w in gathered.drain(..) {
            batch.add(w);
        }
        let outcome = batch.store(&broker, ttl, patience).await;
        if let Err(e) = &outcome {
            tracing::error!(error = %weir_core::ErrorReport::new(e), "cannot store task records");
        }
        // The jobs go on once their records are stored; the events follow.
        batch.answer(outcome);
        Batch::publish(batch.events, &broker, patience).await;
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
        batch.add(Write::Record(entries(&started).expect("encodes")));
        batch.add(Write::Record(entries(&done).expect("encodes")));
        let [final_key, key] = final_and_latest_keys(&done.id, done.run);
        let keys: Vec<&str> = batch.records.iter().map(|(k, _)| k.as_str()).collect();
        // The record first, then the final entry: whoever the final entry
        // wakes finds the final record.
        assert_eq!(keys, [key.as_str(), final_key.as_str()]);
        let want = entries(&done).expect("encodes");
        assert_eq!(batch.records, want, "both hold the final record");
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
        writes.record(&r).expect("encodes");
        writes.event(EventKind::Done, &r);
        writes.flush().await.expect("stored");
        let [final_key, key] = final_and_latest_keys(&r.id, r.run);
        let got = broker.get_results(&[final_key, key]).await.expect("read");
        assert!(got.iter().all(Option::is_some), "{got:?}");
    }
}
