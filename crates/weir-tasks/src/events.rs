//! Task events on the broker's event channel (the `EventChannel` seam).

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_core::capability::{ChannelEvent, EventChannel, EventSubscription};
use weir_core::{Codec, MsgPack};

use crate::{TaskError, TaskId, TaskRecord, TaskState};

/// The channel every task event is published on.
pub const EVENT_CHANNEL: &str = "weir-tasks:events";

/// What happened to a task (pulsar-queue's task events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// Enqueued.
    Queued,
    /// An attempt started.
    Started,
    /// An attempt failed and the next is scheduled.
    Retry,
    /// The task ended: its state is `Success`, `Failure` or `Revoked`.
    Done,
}

impl EventKind {
    /// The event's name: `queued`, `started`, `retry` or `done`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Queued => "queued",
            EventKind::Started => "started",
            EventKind::Retry => "retry",
            EventKind::Done => "done",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One task event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TaskEvent {
    /// What happened.
    pub kind: EventKind,
    /// The task.
    pub id: TaskId,
    /// Its actor.
    pub actor: String,
    /// Its queue.
    pub queue: String,
    /// Its state after the event.
    pub state: TaskState,
    /// The attempt (0 before the first).
    pub attempt: u32,
    /// When it happened.
    pub at: SystemTime,
    /// The error, for `retry` and a failed `done`.
    pub error: Option<String>,
}

impl TaskEvent {
    pub(crate) fn of(kind: EventKind, record: &TaskRecord) -> Self {
        TaskEvent {
            kind,
            id: record.id.clone(),
            actor: record.actor.clone(),
            queue: record.queue.clone(),
            state: record.state,
            attempt: record.attempt,
            at: SystemTime::now(),
            error: record.error.clone(),
        }
    }
}

/// A [`TaskEvent`] made of borrowed parts: the writer encodes a batch's
/// events from the records it holds, without copying their names. It
/// encodes to the same bytes as the owned event.
#[derive(Serialize)]
pub(crate) struct TaskEventRef<'a> {
    pub(crate) kind: EventKind,
    pub(crate) id: &'a TaskId,
    pub(crate) actor: &'a str,
    pub(crate) queue: &'a str,
    pub(crate) state: TaskState,
    pub(crate) attempt: u32,
    pub(crate) at: SystemTime,
    pub(crate) error: Option<&'a str>,
}

/// `event`'s bytes on the channel; `None` (logged) if it does not encode.
pub(crate) fn encode_ref(event: &TaskEventRef<'_>) -> Option<Bytes> {
    match MsgPack.encode(event) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(task = %event.id, error = %e, "cannot encode a task event");
            None
        }
    }
}

/// Publishes `event`; nobody listening is fine, and a failure is logged,
/// not returned: events are fire-and-forget, they never fail a job.
pub(crate) async fn publish<B: EventChannel>(broker: &B, event: &TaskEvent) {
    if let Err(e) = try_publish(broker, event).await {
        tracing::warn!(task = %event.id, event = %event.kind, error = %weir_core::ErrorReport::new(&e), "cannot publish a task event");
    }
}

/// `event`'s bytes on the channel; `None` (logged) if it does not encode.
pub(crate) fn encode(event: &TaskEvent) -> Option<Bytes> {
    encode_ref(&TaskEventRef {
        kind: event.kind,
        id: &event.id,
        actor: &event.actor,
        queue: &event.queue,
        state: event.state,
        attempt: event.attempt,
        at: event.at,
        error: event.error.as_deref(),
    })
}

/// Publishes `event`, saying if the broker failed it (an event that does
/// not encode is logged and skipped).
pub(crate) async fn try_publish<B: EventChannel>(
    broker: &B,
    event: &TaskEvent,
) -> Result<(), TaskError> {
    let Some(bytes) = encode(event) else {
        return Ok(());
    };
    broker
        .publish(EVENT_CHANNEL, bytes)
        .await
        .map(|_| ())
        .map_err(TaskError::broker(format!(
            "publishing the {} event of task `{}`",
            event.kind, event.id
        )))
}

/// Which events a subscription yields: by kind (`queued`, `started`,
/// `retry`, `done`) and by actor; an empty list lets all through.
///
/// ```
/// use weir_tasks::{EventFilter, EventKind};
/// let f = EventFilter::new().kind(EventKind::Done).actor("resize");
/// # let _ = f;
/// ```
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    kinds: Vec<EventKind>,
    actors: Vec<String>,
    /// A name matching no kind was given (and no kind was).
    unknown_name: bool,
}

impl EventFilter {
    /// Every event.
    pub fn new() -> Self {
        EventFilter::default()
    }

    /// Also lets events of `kind` through (once any kind is named, only the named ones pass).
    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Also lets events named `name` through: `"done"`, or `"*"` for all.
    /// An unknown name lets none through by it.
    pub fn name(self, name: &str) -> Self {
        match name {
            "*" => self,
            "queued" => self.kind(EventKind::Queued),
            "started" => self.kind(EventKind::Started),
            "retry" => self.kind(EventKind::Retry),
            "done" => self.kind(EventKind::Done),
            _ => EventFilter {
                unknown_name: true,
                ..self
            },
        }
    }

    /// Also lets events of actor `actor` through (once any actor is named, only the named ones pass).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actors.push(actor.into());
        self
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &TaskEvent) -> bool {
        let by_kind = if self.kinds.is_empty() {
            !self.unknown_name
        } else {
            self.kinds.contains(&event.kind)
        };
        by_kind && (self.actors.is_empty() || self.actors.contains(&event.actor))
    }
}

/// A live subscription to task events, filtered; dropping it unsubscribes.
/// Made by [`Tasks::subscribe`](crate::Tasks::subscribe).
pub struct TaskEvents<S> {
    subscription: S,
    filter: EventFilter,
}

impl<S> fmt::Debug for TaskEvents<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskEvents")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

impl<S: EventSubscription> TaskEvents<S> {
    pub(crate) fn new(subscription: S, filter: EventFilter) -> Self {
        TaskEvents {
            subscription,
            filter,
        }
    }

    /// The next event that passes the filter (cancel-safe). Events missed
    /// because this subscriber fell behind are reported as
    /// [`TaskError::EventsMissed`]; the subscription goes on after it.
    pub async fn next(&mut self) -> Result<TaskEvent, TaskError> {
        loop {
            let event = self
                .subscription
                .next_event()
                .await
                .map_err(TaskError::broker("reading task events"))?;
            match event {
                ChannelEvent::Missed(missed) => return Err(TaskError::EventsMissed { missed }),
                ChannelEvent::Message(bytes) => match MsgPack.decode::<TaskEvent>(&bytes) {
                    Ok(e) if self.filter.matches(&e) => return Ok(e),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "skipping a task event that does not decode")
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;
    use crate::enqueue::{message_of, queued_record};
    use crate::job::Encoded;

    #[test]
    fn a_borrowed_event_encodes_as_the_owned_one() {
        let job: Encoded = Job::new("noop").args(1).encode(&MsgPack).expect("encodes");
        let mut record = queued_record(&message_of(job));
        record.state = TaskState::Failure;
        record.attempt = 3;
        record.error = Some("boom".to_owned());
        let owned = TaskEvent::of(EventKind::Done, &record);
        let borrowed = TaskEventRef {
            kind: owned.kind,
            id: &record.id,
            actor: &record.actor,
            queue: &record.queue,
            state: record.state,
            attempt: record.attempt,
            at: owned.at,
            error: record.error.as_deref(),
        };
        assert_eq!(encode_ref(&borrowed), encode(&owned));
        let decoded: TaskEvent = MsgPack
            .decode(&encode_ref(&borrowed).expect("encodes"))
            .expect("decodes");
        assert_eq!(decoded, owned);
    }
}
