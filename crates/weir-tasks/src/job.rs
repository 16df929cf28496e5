//! What to run: the job a producer enqueues.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use weir_core::Codec;

use crate::{TaskError, TaskId};

/// How urgent a job is. A queue has one topic per level, served by weight
/// 6 : 3 : 1 ([`PriorityLevels::high_medium_low`](crate::priority::PriorityLevels::high_medium_low)):
/// while every level has work, 6 of every 10 jobs taken are high ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Level 0.
    High,
    /// Level 1 (the default).
    #[default]
    Medium,
    /// Level 2.
    Low,
}

impl Priority {
    /// The priority level (0 is the highest).
    pub fn level(self) -> usize {
        match self {
            Priority::High => 0,
            Priority::Medium => 1,
            Priority::Low => 2,
        }
    }
}

/// When a job may first run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    After(Duration),
    At(SystemTime),
}

/// The default execution timeout of a job: 10 minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A job: which actor to run, with which arguments, on which queue, and how.
///
/// Only the actor's name is required. The arguments are any serde value,
/// encoded at enqueue with the client's codec (MessagePack by default) and
/// decoded by the actor into the type it takes.
///
/// | setting | default |
/// |---|---|
/// | [`queue`](Self::queue) | `"default"` |
/// | [`args`](Self::args) | `()` |
/// | [`priority`](Self::priority) | [`Priority::Medium`] |
/// | [`id`](Self::id) | generated at each enqueue (not unique) |
/// | [`retries`](Self::retries) | the actor's, else 0 |
/// | [`timeout`](Self::timeout) | the actor's, else 10 minutes |
/// | [`delay`](Self::delay) / [`run_at`](Self::run_at) | run at once |
///
/// ```
/// use std::time::Duration;
/// use weir_tasks::{Job, Priority};
///
/// let job = Job::new("send_email")
///     .args(("ada@example.com", "Welcome!"))
///     .queue("emails")
///     .priority(Priority::High)
///     .retries(3)
///     .timeout(Duration::from_secs(30))
///     .delay(Duration::from_secs(5));
/// assert_eq!(job.actor(), "send_email");
/// assert!(!job.is_unique());
/// ```
#[derive(Clone, Debug)]
#[must_use = "a job does nothing until it is enqueued"]
pub struct Job<A = ()> {
    pub(crate) actor: String,
    pub(crate) queue: String,
    pub(crate) args: A,
    pub(crate) priority: Priority,
    pub(crate) id: Option<TaskId>,
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) start: Option<Start>,
}

impl Job<()> {
    /// A job for the actor registered as `actor`, with no arguments yet.
    pub fn new(actor: impl Into<String>) -> Self {
        Job {
            actor: actor.into(),
            queue: "default".to_owned(),
            args: (),
            priority: Priority::Medium,
            id: None,
            retries: None,
            timeout: None,
            start: None,
        }
    }
}

impl<A> Job<A> {
    /// The arguments the actor receives (it decodes them into the type it takes).
    pub fn args<T>(self, args: T) -> Job<T> {
        Job {
            actor: self.actor,
            queue: self.queue,
            args,
            priority: self.priority,
            id: self.id,
            retries: self.retries,
            timeout: self.timeout,
            start: self.start,
        }
    }

    /// The queue it goes to (default `"default"`).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    /// Its priority (default [`Priority::Medium`]).
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Gives it this id, which makes it unique: while a job with this id is
    /// queued or running, enqueueing another is refused or ignored, as the
    /// client's [`Duplicates`](crate::Duplicates) setting says.
    pub fn id(mut self, id: impl Into<TaskId>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// How many times a failed attempt is retried (default: the actor's, else 0).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// How long one attempt may run before it fails (default: the actor's,
    /// else 10 minutes); a timed-out attempt is retried like any failure.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Runs it no sooner than `delay` from the enqueue.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.start = Some(Start::After(delay));
        self
    }

    /// Runs it no sooner than `at`.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.start = Some(Start::At(at));
        self
    }

    /// The actor's name.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The queue's name.
    pub fn queue_name(&self) -> &str {
        &self.queue
    }

    /// Whether it has an id of its own (and so is unique).
    pub fn is_unique(&self) -> bool {
        self.id.is_some()
    }
}

impl<A: Serialize> Job<A> {
    /// The job with its arguments encoded, ready to become a message.
    pub(crate) fn encode<C: Codec>(&self, codec: &C) -> Result<Encoded, TaskError> {
        let args = codec
            .encode(&self.args)
            .map_err(|source| TaskError::EncodeArgs {
                actor: self.actor.clone(),
                source,
            })?;
        Ok(Encoded {
            actor: self.actor.clone(),
            queue: self.queue.clone(),
            args,
            priority: self.priority,
            id: self.id.clone(),
            retries: self.retries,
            timeout: self.timeout,
            start: self.start,
            parent: None,
        })
    }
}

/// A job whose arguments are bytes already: what the client enqueues.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) actor: String,
    pub(crate) queue: String,
    pub(crate) args: Bytes,
    pub(crate) priority: Priority,
    pub(crate) id: Option<TaskId>,
    pub(crate) retries: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) start: Option<Start>,
    pub(crate) parent: Option<TaskId>,
}
