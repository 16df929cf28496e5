//! The StreamProcessor: drives a consumer through a strategy pipeline.

mod backpressure;
mod commit_policy;
mod dlq;
mod error;
mod invalid;
pub mod metrics;
mod outage;
mod raw_buffer;
mod run;
mod shutdown;

use std::time::Duration;

use weir_core::{Consumer, Payload, Topic};

pub use commit_policy::CommitPolicy;
pub use dlq::{
    DeadLetterQueue, HEADER_OFFSET, HEADER_OFFSET_END, HEADER_PARTITION, HEADER_REASON,
    HEADER_TOPIC,
};
pub use error::ProcessorError;
pub use invalid::{InvalidLimit, InvalidPolicy};
pub use outage::Outage;
pub use shutdown::{ShutdownHandle, Signal};

use crate::ProcessingStrategyFactory;

/// Reads from any backend's consumer and drives a strategy pipeline:
/// poll → submit → strategy poll → commit, as an async loop that never spins.
///
/// - **Backpressure**: when the pipeline rejects a message the processor holds
///   it, waits for the pipeline's [`Progress`](crate::Progress) signal, and
///   after [`pause_after`](StreamProcessorBuilder::pause_after) pauses the
///   assigned partitions (it keeps polling, so it keeps its group membership)
///   until the message is taken.
/// - **Rebalancing**: on any assignment change the pipeline is closed and
///   joined within the [join timeout](StreamProcessorBuilder::join_timeout),
///   what finished is committed, the partitions kept are rewound to their
///   committed offsets, and a new pipeline is built.
/// - **Commits** follow the [`CommitPolicy`], plus a forced commit at every join.
/// - **Invalid messages** follow the [`InvalidPolicy`] (fail by default).
/// - **Broker outages**: transient errors
///   ([`BrokerError::is_transient`](weir_core::BrokerError::is_transient))
///   from subscribing, polling and committing are retried with an
///   exponential backoff (100 ms doubling up to 2 s) for the
///   [outage timeout](StreamProcessorBuilder::outage_timeout) (default
///   5 min), then the processor stops with [`ProcessorError::Outage`]. A
///   commit refused because a partition moved to another member
///   ([`NotAssigned`](weir_core::BrokerError::NotAssigned)) is a
///   rebalance: the partition's unfinished work is dropped (its new owner
///   reads it again from the last commit) and processing goes on.
/// - **Failures** (a panic in user code, a fatal task error) stop the
///   processor with an error naming the message; nothing past it is committed.
/// - **Shutdown** from a [`ShutdownHandle`], or on SIGINT/SIGTERM when
///   [`handle_signals`](StreamProcessorBuilder::handle_signals) is on.
pub struct StreamProcessor<C> {
    pub(crate) consumer: C,
    pub(crate) factory: Box<dyn ProcessingStrategyFactory<Payload>>,
    pub(crate) topics: Vec<Topic>,
    pub(crate) commit_policy: CommitPolicy,
    pub(crate) join_timeout: Option<Duration>,
    pub(crate) pause_after: Duration,
    pub(crate) retry_interval: Duration,
    pub(crate) outage_timeout: Duration,
    pub(crate) invalid: InvalidPolicy,
    pub(crate) raw_buffer_limit: usize,
    pub(crate) handle_signals: bool,
    pub(crate) shutdown: ShutdownHandle,
}

impl<C> std::fmt::Debug for StreamProcessor<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamProcessor")
            .field("topics", &self.topics)
            .field("commit_policy", &self.commit_policy)
            .field("join_timeout", &self.join_timeout)
            .field("pause_after", &self.pause_after)
            .field("outage_timeout", &self.outage_timeout)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

/// How long the broker may fail with transient errors before the processor
/// gives up, unless [`StreamProcessorBuilder::outage_timeout`] says otherwise.
pub const DEFAULT_OUTAGE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Builds a [`StreamProcessor`].
#[derive(Debug)]
pub struct StreamProcessorBuilder<C> {
    processor: StreamProcessor<C>,
}

/// What a processor did, returned when it stops cleanly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessorReport {
    /// Messages read and submitted.
    pub messages: u64,
    /// Invalid messages (skipped or dead-lettered).
    pub invalid: u64,
    /// Records sent to the dead-letter topic: one per original message (an
    /// invalid aggregate sends one for each message it was made from).
    pub dead_lettered: u64,
    /// Commits made.
    pub commits: u64,
    /// Times the partitions were paused for backpressure.
    pub pauses: u64,
    /// Pipelines built (one per assignment change).
    pub pipelines: u64,
}

impl<C: Consumer> StreamProcessor<C> {
    /// A processor reading `topics` with `consumer` (not yet subscribed),
    /// building pipelines with `factory`.
    pub fn builder(
        consumer: C,
        topics: impl IntoIterator<Item = Topic>,
        factory: impl ProcessingStrategyFactory<Payload> + 'static,
    ) -> StreamProcessorBuilder<C> {
        StreamProcessorBuilder {
            processor: StreamProcessor {
                consumer,
                factory: Box::new(factory),
                topics: topics.into_iter().collect(),
                commit_policy: CommitPolicy::default(),
                join_timeout: Some(Duration::from_secs(30)),
                pause_after: Duration::from_secs(1),
                retry_interval: Duration::from_millis(100),
                outage_timeout: DEFAULT_OUTAGE_TIMEOUT,
                invalid: InvalidPolicy::default(),
                raw_buffer_limit: 100_000,
                handle_signals: false,
                shutdown: ShutdownHandle::new(),
            },
        }
    }

    /// A handle that stops this processor gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }
}

impl<C: Consumer> StreamProcessorBuilder<C> {
    /// When to commit (default: once a second).
    pub fn commit_policy(mut self, policy: CommitPolicy) -> Self {
        self.processor.commit_policy = policy;
        self
    }

    /// How long joining a pipeline may take on revocation and shutdown before
    /// its unfinished work is abandoned (default 30 s; `None`: no limit).
    pub fn join_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.processor.join_timeout = timeout;
        self
    }

    /// How long a rejected message is held before the partitions are paused
    /// (default 1 s).
    pub fn pause_after(mut self, after: Duration) -> Self {
        self.processor.pause_after = after;
        self
    }

    /// While holding a rejected message, the longest the processor waits
    /// for the pipeline's progress signal before offering it again (default
    /// 100 ms). Built-in strategies signal progress, so this only matters for
    /// custom strategies that reject without signalling.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.processor.retry_interval = interval;
        self
    }

    /// How long the broker may keep failing with transient errors
    /// (unreachable, or asking to retry) while subscribing, polling or
    /// committing before the processor stops with
    /// [`ProcessorError::Outage`] (default [`DEFAULT_OUTAGE_TIMEOUT`],
    /// 5 min). Until then each call is retried with an exponential backoff
    /// (100 ms doubling up to 2 s) and the pipeline keeps working on what
    /// it has. During a shutdown the final commit is retried for at most
    /// the [join timeout](Self::join_timeout).
    pub fn outage_timeout(mut self, timeout: Duration) -> Self {
        self.processor.outage_timeout = timeout;
        self
    }

    /// What to do with invalid messages (default: fail).
    pub fn invalid_messages(mut self, policy: InvalidPolicy) -> Self {
        self.processor.invalid = policy;
        self
    }

    /// Sends invalid messages (undecodable, or refused by a step) to `queue`
    /// with their original bytes, and goes on; the same as
    /// `invalid_messages(InvalidPolicy::dead_letter(queue))`. Use
    /// [`invalid_messages`](Self::invalid_messages) to also bound how many
    /// are tolerated.
    ///
    /// Dead letters are the processor's work, not a step's: only the
    /// processor still holds a message's original bytes when a step
    /// further down finds it invalid.
    pub fn dead_letter(self, queue: DeadLetterQueue) -> Self {
        self.invalid_messages(InvalidPolicy::dead_letter(queue))
    }

    /// With a dead-letter queue: how many uncommitted raw messages per
    /// partition are kept to send an invalid one (or each original of an
    /// invalid aggregate) with its original bytes (default 100 000; beyond
    /// it the oldest are sent without them, naming their offsets).
    pub fn dead_letter_buffer(mut self, per_partition: usize) -> Self {
        self.processor.raw_buffer_limit = per_partition;
        self
    }

    /// Stops gracefully on SIGINT or SIGTERM (default off). Needs a tokio
    /// runtime with its I/O driver enabled (`enable_all`); without it the
    /// signal listener cannot start and the processor runs without it.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.processor.handle_signals = on;
        self
    }

    /// The processor.
    pub fn build(self) -> StreamProcessor<C> {
        self.processor
    }
}
