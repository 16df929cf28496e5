//! Task records in the broker's result store (the `ResultStore` seam).
//!
//! A task has two entries: its record (replaced at every change of state)
//! and, once it is final, the final record under a key of its own. Waiting
//! for the end is waiting for the second, which the store can wake a caller
//! for. A final record is stored as the latest record too, which a worker
//! looks at before running a job, so a job whose end was recorded is not run
//! again when it is delivered again after a crash.

use std::time::Duration;

use bytes::Bytes;
use weir_core::capability::{EventChannel, ResultStore};
use weir_core::{Codec, MsgPack};

use crate::events::EVENT_CHANNEL;
use crate::{TaskError, TaskId, TaskRecord};

fn key(id: &TaskId) -> String {
    latest_key(id.as_str())
}

/// The final record of one enqueue (`run`) of `id`: a unique id enqueued
/// again after its end is a new run, which the old end does not answer.
fn final_key(id: &TaskId, run: u64) -> String {
    format!("weir-tasks:{id}:final:{run:x}")
}

/// The keys of the final record of run `run` of `id` and of its latest
/// record.
#[cfg(test)]
pub(crate) fn final_and_latest_keys(id: &TaskId, run: u64) -> [String; 2] {
    [final_key(id, run), key(id)]
}

/// The key of task `id`'s latest record: what a worker looks up before it
/// runs a job (`id` as text, as a job message's key carries it).
pub(crate) fn latest_key(id: &str) -> String {
    // Joined in one allocation of the right size, not with `format!`: a
    // worker makes a few per job.
    ["weir-tasks:", id].concat()
}

/// The records of one broker, kept for `ttl`.
pub(crate) struct Records<'a, B> {
    pub(crate) broker: &'a B,
    pub(crate) ttl: Duration,
}

/// The entries that store `record`: its record, and if it is final, its
/// final entry after it (whoever is woken by the final entry reads the
/// final record too).
pub(crate) fn entries(record: &TaskRecord) -> Result<Vec<(String, Bytes)>, TaskError> {
    let (key, bytes) = record_entry(record)?;
    Ok(if record.state.is_final() {
        let last = (final_key(&record.id, record.run), bytes.clone());
        vec![(key, bytes), last]
    } else {
        vec![(key, bytes)]
    })
}

/// The record entry of `record` alone: its latest record, what a record
/// stored only if none is holds.
pub(crate) fn record_entry(record: &TaskRecord) -> Result<(String, Bytes), TaskError> {
    let bytes = MsgPack
        .encode(record)
        .map_err(|source| TaskError::Corrupt {
            id: record.id.clone(),
            what: "record",
            source,
        })?;
    Ok((key(&record.id), bytes))
}

impl<B: ResultStore> Records<'_, B> {
    /// Stores `record` (see [`entries`]) in one round trip.
    pub(crate) async fn put(&self, record: &TaskRecord) -> Result<(), TaskError> {
        let entries = entries(record)?;
        self.broker
            .put_results(&entries, self.ttl)
            .await
            .map_err(TaskError::broker(format!(
                "storing the record of task `{}`",
                record.id
            )))
    }

    /// Stores `record` (one that is not final: its record entry alone)
    /// unless a record of its task is stored; whether it stored.
    pub(crate) async fn put_if_absent(&self, record: &TaskRecord) -> Result<bool, TaskError> {
        let (k, bytes) = record_entry(record)?;
        self.broker
            .put_result_if_absent(&k, bytes, self.ttl)
            .await
            .map_err(TaskError::broker(format!(
                "storing the record of task `{}`",
                record.id
            )))
    }

    /// Stores each of `entries` (record entries, see [`record_entry`])
    /// unless a record of its task is stored, and publishes `events` on
    /// the task event channel: one round trip on Redis. The events go out
    /// either way; whether each was stored, in order. `doing` names the
    /// tasks in an error.
    pub(crate) async fn put_entries_if_absent_publishing(
        &self,
        entries: &[(String, Bytes)],
        events: &[Bytes],
        doing: impl FnOnce() -> String,
    ) -> Result<Vec<bool>, TaskError>
    where
        B: EventChannel,
    {
        self.broker
            .put_results_if_absent_publishing(entries, self.ttl, EVENT_CHANNEL, events)
            .await
            .map_err(|e| TaskError::broker(doing())(e))
    }

    /// The latest record of `id`.
    pub(crate) async fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, TaskError> {
        let bytes = self
            .broker
            .get_result(&key(id))
            .await
            .map_err(TaskError::broker(format!(
                "reading the record of task `{id}`"
            )))?;
        decode(id, bytes)
    }

    /// The final record of run `run` of `id`, waiting up to `timeout` for it.
    pub(crate) async fn wait_final(
        &self,
        id: &TaskId,
        run: u64,
        timeout: Duration,
    ) -> Result<Option<TaskRecord>, TaskError> {
        let bytes = self
            .broker
            .wait_result(&final_key(id, run), timeout)
            .await
            .map_err(TaskError::broker(format!("waiting for task `{id}`")))?;
        decode(id, bytes)
    }
}

pub(crate) fn decode(id: &TaskId, bytes: Option<Bytes>) -> Result<Option<TaskRecord>, TaskError> {
    bytes
        .map(|b| {
            MsgPack.decode(&b).map_err(|source| TaskError::Corrupt {
                id: id.clone(),
                what: "record",
                source,
            })
        })
        .transpose()
}
