//! The job's wire form: what one message on a queue's topic holds.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_core::{Codec, CodecError, MsgPack, Payload};

use crate::{Priority, TaskId};

/// Header naming the queue a job message belongs to, so a message that does
/// not decode still reaches its queue's dead-letter topic.
pub const HEADER_QUEUE: &str = "weir-task-queue";
/// Header on a dead-letter message: why the job was given up.
pub const HEADER_DEAD_REASON: &str = "weir-task-reason";

/// One attempt of a job, as it travels on a queue's topic (and, given up,
/// on the queue's dead-letter topic).
///
/// The envelope is always MessagePack with fields by name, so any worker
/// reads it; only `args` (and the result) use the client's codec. A retry
/// is a new message with `attempt` one higher and the failed attempt's
/// error appended to `errors`.
///
/// ```
/// use weir_tasks::JobMessage;
/// # fn read(payload: &weir_core::Payload) -> Result<(), weir_core::CodecError> {
/// // What a dead-letter topic holds:
/// let dead = JobMessage::decode(payload)?;
/// println!("{} ({}): {:?}, {:?}", dead.id, dead.actor, dead.dead_reason, dead.errors);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobMessage {
    /// The task id (the same for every attempt).
    pub id: TaskId,
    /// The actor to run.
    pub actor: String,
    /// The queue.
    pub queue: String,
    /// The arguments, encoded with the client's codec.
    pub args: Bytes,
    /// The priority.
    pub priority: Priority,
    /// Which attempt this is, from 1.
    pub attempt: u32,
    /// Retries the job asked for (`None`: the actor's).
    pub retries: Option<u32>,
    /// The timeout the job asked for (`None`: the actor's).
    pub timeout: Option<Duration>,
    /// The task that enqueued this one, if an actor did.
    pub parent: Option<TaskId>,
    /// When the job was first enqueued.
    pub queued_at: SystemTime,
    /// Whether the id was chosen by the caller (the job is unique).
    pub unique: bool,
    /// Which enqueue of the id this is: a unique id may be enqueued again
    /// once its job ended, and its records are told apart by this number.
    pub run: u64,
    /// The errors of the earlier attempts, oldest first.
    pub errors: Vec<String>,
    /// On the dead-letter topic: why the job was given up.
    pub dead_reason: Option<String>,
}

impl JobMessage {
    /// Decodes a job message from a payload.
    pub fn decode(payload: &Payload) -> Result<Self, CodecError> {
        MsgPack.decode(&payload.value)
    }

    /// The payload to produce: keyed by the task id (which spreads jobs over
    /// partitions and keeps one task's attempts in order), with the queue in
    /// a header.
    pub(crate) fn to_payload(&self) -> Result<Payload, CodecError> {
        Ok(Payload::new(MsgPack.encode(self)?)
            .with_key(self.id.as_str().to_owned())
            .with_header(HEADER_QUEUE, self.queue.clone()))
    }
}
