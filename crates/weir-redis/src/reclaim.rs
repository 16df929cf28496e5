//! Positioning a group on a partition, and reclaiming what departed members
//! left pending (the reposition script, `lua/reposition.lua`).
//!
//! When a member takes a partition (or seeks), entries that an earlier owner
//! read but did not commit sit in the group's pending list. The script claims
//! them for the new owner (XAUTOCLAIM: the lease running out is the idle
//! timeout that proves the earlier owner gone), acknowledges those before the
//! start position, remembers how often the rest were delivered, and sets the
//! group's last-delivered id so that `XREADGROUP ... >` reads from the start
//! position. Entries read again carry their delivery count.

use std::collections::HashMap;

use weir_core::{BrokerError, OffsetReset, Partition};

use crate::broker::Shared;
use crate::scripts::REPOSITION;

/// Where to start reading.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// At the committed offset, else by the reset policy.
    Committed(OffsetReset),
    /// At this offset; past the end, by the reset policy.
    Offset(u64, OffsetReset),
}

/// The start position and, per pending entry holding messages at or after
/// it (by the entry's end, see `offsets.rs`), how often it was delivered before.
#[derive(Debug)]
pub(crate) struct Positioned {
    pub(crate) position: u64,
    pub(crate) delivered_before: HashMap<u64, u64>,
}

/// The script's name for a reset policy.
fn policy(reset: OffsetReset) -> &'static str {
    match reset {
        OffsetReset::Earliest => "e",
        OffsetReset::Latest => "l",
    }
}

/// Runs the reposition script; `NotAssigned` if the member lost the lease.
pub(crate) async fn reposition(
    shared: &Shared,
    group: &str,
    member: &str,
    partition: &Partition,
    start: Start,
) -> Result<Positioned, BrokerError> {
    let keys = &shared.keys;
    let k = [
        keys.stream(partition),
        keys.offsets(partition),
        keys.lease(group, partition),
    ];
    // A start past the end (a seek, or a committed offset of a stream
    // made anew) is out of range: the reset policy's, as on Kafka.
    let (mode, offset, reset) = match start {
        Start::Committed(reset) => (policy(reset), 0, policy(reset)),
        Start::Offset(o, reset) => ("s", o, policy(reset)),
    };
    let idle = shared.config.session_timeout.as_millis() as u64 * 3;
    let cmd = REPOSITION.cmd(&k, |c| {
        c.arg(group)
            .arg(member)
            .arg(group)
            .arg(mode)
            .arg(offset)
            .arg(idle)
            .arg(reset);
    });
    let reply: Vec<i64> = shared.conn.query(&cmd).await?;
    let Some(&first) = reply.first() else {
        return Err(BrokerError::backend("redis", "empty reposition reply"));
    };
    if first < 0 {
        return Err(BrokerError::NotAssigned {
            partition: partition.clone(),
        });
    }
    let delivered_before = reply[1..]
        .chunks(2)
        .filter_map(|pair| match pair {
            [o, c] => Some((u64::try_from(*o).ok()?, u64::try_from(*c).ok()?)),
            _ => None,
        })
        .collect();
    Ok(Positioned {
        position: first as u64,
        delivered_before,
    })
}
