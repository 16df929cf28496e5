//! Committing: the offset stored and the entries it passes acknowledged,
//! in one script call (`lua/commit.lua`).
//!
//! The script first checks that this member still holds each partition's
//! lease, so a member the group moved past cannot overwrite the new owner's
//! offsets. A commit names the entries it lets go (the ones this member read
//! and has not acknowledged); after a long stretch without commits it lets
//! the server look them up in the pending list instead.
//!
//! An offset past the partition's end is refused
//! ([`BrokerError::OffsetOutOfRange`]): it would skip messages not written
//! yet. The end this member last read bounds most commits; only one beyond
//! it costs a look at the partition's counter first (the end only grows, so
//! what passes that look stays in range).

use weir_core::{BrokerError, CommitRequest, Partition};

use super::RedisConsumer;
use crate::offsets::write_entry_id;
use crate::scripts::COMMIT;

/// The most entries a commit acknowledges by naming each one; more (after a
/// long stretch without commits) are looked up in the pending list on the
/// server instead.
const ACK_BY_ID_UP_TO: usize = 100_000;

impl RedisConsumer {
    /// Stores `offsets` and acknowledges the entries they pass, in one
    /// script call that refuses a partition whose lease this member lost.
    pub(super) async fn commit_offsets(
        &mut self,
        offsets: &CommitRequest,
    ) -> Result<(), BrokerError> {
        self.check_open()?;
        if offsets.is_empty() {
            return Ok(());
        }
        self.check_in_range(offsets).await?;
        let mut keys = Vec::with_capacity(offsets.len() * 3);
        // Per partition: the offset, and the entries it lets go (`None`: look
        // them up on the server).
        let mut parts: Vec<(Partition, u64, Option<usize>)> = Vec::with_capacity(offsets.len());
        for (p, offset) in offsets.iter() {
            self.assignment.check_committable(p)?;
            let Some(o) = self.owned.get(p) else {
                return Err(BrokerError::NotAssigned {
                    partition: p.clone(),
                });
            };
            keys.push(self.shared.keys.lease(self.group(), p));
            keys.push(self.shared.keys.offsets(p));
            keys.push(o.stream.clone());
            let passed = o.unacked.iter().take_while(|end| **end <= offset).count();
            // Beyond what this member read, pending entries it did not read
            // (reclaimed, not yet read again) may be passed too.
            let named = offset <= o.position && passed <= ACK_BY_ID_UP_TO;
            parts.push((p.clone(), offset, named.then_some(passed)));
        }
        let ttl = self.session().as_millis() as u64;
        // One call for every partition (atomic: all or nothing) on one
        // server; on a cluster, one call per partition (each in its slot),
        // pipelined, so a refused partition leaves the others committed.
        let call = |c: &mut redis::Cmd, parts: &[(Partition, u64, Option<usize>)]| {
            c.arg(self.group()).arg(&self.member).arg(ttl);
            let mut id = Vec::with_capacity(24);
            for (p, offset, passed) in parts {
                c.arg(self.group()).arg(*offset);
                let (Some(passed), Some(o)) = (passed, self.owned.get(p)) else {
                    c.arg(-1);
                    continue;
                };
                c.arg(*passed);
                for end in o.unacked.iter().take(*passed) {
                    id.clear();
                    write_entry_id(&mut id, *end);
                    c.arg(&id[..]);
                }
            }
        };
        let refused = if self.shared.client.is_cluster() {
            let mut pipe = redis::pipe();
            for (part, k) in parts.chunks(1).zip(keys.chunks(3)) {
                pipe.add_command(COMMIT.cmd(k, |c| call(c, part)));
            }
            let replies: Vec<usize> = self.control.pipe(&pipe).await?;
            replies.iter().position(|r| *r > 0).map_or(0, |i| i + 1)
        } else {
            let reply: usize = self
                .control
                .query(&COMMIT.cmd(&keys, |c| call(c, &parts)))
                .await?;
            reply
        };
        if refused > 0 {
            let partition = parts
                .get(refused - 1)
                .map(|(p, _, _)| p.clone())
                .ok_or_else(|| BrokerError::backend("redis", "bad commit reply"))?;
            return Err(BrokerError::NotAssigned { partition });
        }
        for (p, offset, _) in parts {
            if let Some(o) = self.owned.get_mut(&p) {
                while o.unacked.front().is_some_and(|end| *end <= offset) {
                    o.unacked.pop_front();
                }
            }
        }
        Ok(())
    }

    /// [`BrokerError::OffsetOutOfRange`] for an offset past its partition's
    /// end; [`BrokerError::NotAssigned`] for a partition not held.
    async fn check_in_range(&self, offsets: &CommitRequest) -> Result<(), BrokerError> {
        let mut unsure = Vec::new();
        for (p, offset) in offsets.iter() {
            self.assignment.check_committable(p)?;
            let Some(o) = self.owned.get(p) else {
                return Err(BrokerError::NotAssigned {
                    partition: p.clone(),
                });
            };
            // The end as this member last saw it: read, or delivered.
            let seen = o.end.into_iter().chain(o.unacked.back().copied()).max();
            if seen.is_none_or(|end| offset > end) {
                unsure.push((p, offset, o.end_key.as_str()));
            }
        }
        if unsure.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (_, _, key) in &unsure {
            pipe.cmd("GET").arg(*key);
        }
        let ends: Vec<Option<u64>> = self.control.pipe(&pipe).await?;
        for ((p, offset, _), end) in unsure.into_iter().zip(ends) {
            let end = end.unwrap_or(0);
            if offset > end {
                return Err(BrokerError::OffsetOutOfRange {
                    partition: p.clone(),
                    offset,
                    end,
                });
            }
        }
        Ok(())
    }
}
