//! The consumer context: rdkafka's rebalance callbacks turned into
//! [`ConsumerEvent::Assigned`](weir_core::ConsumerEvent::Assigned) and
//! [`ConsumerEvent::Revoked`](weir_core::ConsumerEvent::Revoked).
//!
//! librdkafka runs the rebalance callback inside the consumer's poll, which
//! only [`KafkaConsumer::poll`](crate::KafkaConsumer) calls. The callback
//! records what happened; the consumer's `poll` reports it first.
//!
//! ## Commit on revoke
//!
//! The core trait lets a caller commit revoked partitions until its next
//! `poll`. So a revocation is *deferred*: the callback records the
//! partitions and returns without unassigning them, which keeps this member
//! in the old generation (librdkafka waits for the unassign call before it
//! rejoins, and the group waits for this member). The caller sees
//! `Revoked`, commits what it finished, and its next `poll` makes the
//! unassign call, letting the rebalance go on. No other member can be given
//! those partitions before then, so no partition ever has two owners and
//! commits never race. This holds for both protocols: eager (everything is
//! revoked, then reassigned) and cooperative-sticky (only the partitions
//! that move are revoked, with an incremental unassign).
//!
//! While the consumer closes (or is dropped) nobody will poll again, so
//! revocations are then unassigned at once.
//!
//! ## Where messages go
//!
//! On an assignment the callback first detaches the partitions' fetch
//! queues from the consumer queue and hands them to the consumer's inbox
//! (see the `inbox` module), then assigns them: no message of theirs reaches
//! the consumer queue, which carries only group events. The inbox keeps a
//! partition's queue across unassigns; a later assignment of the same
//! partition finds it there.
//!
//! ## Leaving a settled group
//!
//! With [`KafkaConfig::settle_before_leaving`](crate::KafkaConfig::settle_before_leaving),
//! a closing consumer first finishes any join or rebalance in progress and
//! holds its assignment a moment before it leaves: tansu's group coordinator
//! loses track of a member (its leader, notably) that leaves while the group
//! is forming, after which the remaining members never complete their join.
//! The callbacks do not show every join: a cooperative rebalance starts
//! with no callback at all (the member rejoins keeping its partitions), so
//! the join state librdkafka reports in its statistics counts too.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio::sync::Notify;
use weir_core::Partition;

use crate::group_stats;
use crate::inbox::Forwarding;

/// What a rebalance callback recorded for the consumer to report.
#[derive(Debug)]
pub(crate) enum GroupChange {
    /// These partitions were assigned (and are being fetched).
    Assigned(Vec<Partition>),
    /// These partitions are being revoked; their unassign waits for the next poll.
    Revoked(BTreeSet<Partition>),
}

/// A revocation whose unassign call waits for the caller's next poll.
#[derive(Debug)]
struct Deferred {
    tpl: TopicPartitionList,
    cooperative: bool,
}

#[derive(Debug, Default)]
struct State {
    changes: VecDeque<GroupChange>,
    deferred: Option<Deferred>,
}

/// The context every [`KafkaConsumer`](crate::KafkaConsumer) runs with.
#[derive(Debug, Default)]
pub(crate) struct GroupContext {
    state: Mutex<State>,
    /// Wakes a waiting poll: the consumer queue turned non-empty.
    pub(crate) wake: Arc<Notify>,
    /// Set while the consumer closes: revocations are unassigned at once.
    closing: AtomicBool,
    /// Counts callbacks served, so poll knows an event (not a message) was consumed.
    served: AtomicU64,
    /// The member holds a generation: its last rebalance callback was an
    /// assignment (possibly empty), not a revocation.
    settled: AtomicBool,
    /// librdkafka's last statistics report said a join or rebalance is
    /// under way (see the `group_stats` module).
    joining: AtomicBool,
    /// Where assigned partitions' messages go (the consumer's inbox), while
    /// it exists.
    pub(crate) forwarding: Arc<Forwarding>,
}

impl GroupContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next recorded group change.
    pub(crate) fn next_change(&self) -> Option<GroupChange> {
        self.lock().changes.pop_front()
    }

    /// Whether a group change waits to be reported.
    pub(crate) fn has_changes(&self) -> bool {
        !self.lock().changes.is_empty()
    }

    /// How many callbacks have been served so far.
    pub(crate) fn served(&self) -> u64 {
        self.served.load(Ordering::Acquire)
    }

    /// Makes the unassign call a reported revocation waits for.
    pub(crate) fn hand_over(&self, consumer: &BaseConsumer<GroupContext>) -> KafkaResult<()> {
        let deferred = self.lock().deferred.take();
        match deferred {
            None => Ok(()),
            Some(Deferred { tpl, cooperative }) => unassign(consumer, &tpl, cooperative),
        }
    }

    /// Whether the member holds a generation (joined, not being revoked)
    /// and, as far as the last statistics report tells, no join is under
    /// way (a cooperative rebalance starts without a callback).
    pub(crate) fn settled(&self) -> bool {
        self.settled.load(Ordering::Acquire) && !self.joining.load(Ordering::Acquire)
    }

    /// From now on, revocations are unassigned at once.
    pub(crate) fn start_closing(&self) {
        self.closing.store(true, Ordering::Release);
    }
}

fn unassign(
    consumer: &BaseConsumer<GroupContext>,
    tpl: &TopicPartitionList,
    cooperative: bool,
) -> KafkaResult<()> {
    if cooperative {
        consumer.incremental_unassign(tpl)
    } else {
        consumer.unassign()
    }
}

/// The partitions of a topic partition list.
pub(crate) fn partitions_of(tpl: &TopicPartitionList) -> Vec<Partition> {
    tpl.elements()
        .iter()
        .filter_map(|e| {
            let index = u32::try_from(e.partition()).ok()?;
            Some(Partition::new(e.topic(), index))
        })
        .collect()
}

/// librdkafka queues its logs, statistics and errors on the consumer queue
/// (rdkafka sets `log.queue`); serving one counts as a served event, so a
/// poll that consumed one knows the queue may hold more. Statistics (on
/// when the consumer settles before leaving) tell whether a join is under
/// way.
impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        self.served.fetch_add(1, Ordering::AcqRel);
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility, "librdkafka: {message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(facility, "librdkafka: {message}"),
        }
    }

    fn stats_raw(&self, statistics: &[u8]) {
        self.served.fetch_add(1, Ordering::AcqRel);
        if let Some(joining) = group_stats::joining(statistics) {
            self.joining.store(joining, Ordering::Release);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.served.fetch_add(1, Ordering::AcqRel);
        tracing::warn!(%error, "librdkafka: {reason}");
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.served.fetch_add(1, Ordering::AcqRel);
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.settled.store(true, Ordering::Release);
                self.forwarding.forward(consumer, tpl);
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, "kafka: assigning partitions failed");
                    return;
                }
                let partitions = partitions_of(tpl);
                if !partitions.is_empty() {
                    self.lock()
                        .changes
                        .push_back(GroupChange::Assigned(partitions));
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.settled.store(false, Ordering::Release);
                let partitions: BTreeSet<Partition> = partitions_of(tpl).into_iter().collect();
                if partitions.is_empty() || self.closing.load(Ordering::Acquire) {
                    if let Err(e) = unassign(consumer, tpl, cooperative) {
                        tracing::warn!(error = %e, "kafka: unassigning partitions failed");
                    }
                    if !partitions.is_empty() {
                        self.lock()
                            .changes
                            .push_back(GroupChange::Revoked(partitions));
                    }
                    return;
                }
                let mut state = self.lock();
                state.deferred = Some(Deferred {
                    tpl: tpl.clone(),
                    cooperative,
                });
                state.changes.push_back(GroupChange::Revoked(partitions));
            }
            other => {
                // A failed rebalance: give up the assignment so the group can go on.
                tracing::warn!(error = ?other, "kafka: rebalance error");
                if let Err(e) = consumer.unassign() {
                    tracing::warn!(error = %e, "kafka: unassigning after a rebalance error failed");
                }
            }
        }
    }

    fn commit_callback(&self, _result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        self.served.fetch_add(1, Ordering::AcqRel);
    }
}
