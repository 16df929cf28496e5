//! Leaving the group: on a blocking thread, because librdkafka's close
//! waits for the group, first settling the membership when configured to.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer as _};

use super::{Client, KafkaConsumer};
use crate::inbox::Inbox;
use crate::rebalance::GroupContext;

/// How long a closing consumer may take to settle its membership before it
/// leaves the group anyway (see [`KafkaConfig::settle_before_leaving`](crate::KafkaConfig::settle_before_leaving)).
const SETTLE_WITHIN: Duration = Duration::from_secs(10);

impl KafkaConsumer {
    /// Leaves the group on a blocking thread (librdkafka's close waits for
    /// it), first settling the membership when configured to.
    pub(super) fn close_client(
        client: Client,
        inbox: Option<Inbox<GroupContext>>,
        settle: Option<Duration>,
    ) -> impl FnOnce() + Send + 'static {
        move || {
            if let Some(quiet) = settle {
                settle_membership(&client, quiet);
            }
            if client.close_queue().is_ok() {
                // Bounded by librdkafka, not here: a close revokes the
                // assignment, commits and leaves the group, and gives up
                // on an unreachable coordinator after about
                // `session.timeout.ms` (rdkafka.h, `rd_kafka_consumer_close`).
                // Dropping the client without this wait would not spare it:
                // rdkafka's own drop of a group consumer runs the same loop.
                while !client.closed() {
                    let _ = client.poll(Duration::from_millis(100));
                }
            }
            // Unread messages go before the client: librdkafka's destroy
            // waits for every message of it.
            drop(inbox);
            drop(client);
        }
    }
}

/// Polls until the member has held an assignment for `quiet`, so it does
/// not leave in the middle of a join or rebalance (see the `rebalance`
/// module). Messages read meanwhile are dropped uncommitted: the group
/// redelivers them.
fn settle_membership(client: &BaseConsumer<GroupContext>, quiet: Duration) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let mut settled_since: Option<Instant> = None;
    while Instant::now() < deadline {
        let _ = client.poll(Duration::from_millis(50));
        if client.context().settled() {
            let since = *settled_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= quiet {
                return;
            }
        } else {
            settled_since = None;
        }
    }
    tracing::warn!(
        within = ?SETTLE_WITHIN,
        "kafka: the group did not settle; leaving it in the middle of a join"
    );
}
