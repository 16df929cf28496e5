//! Permits on Redis: a sorted set of holders per name, scored by when each
//! lease ends, taken with one script (`lua/permit_take.lua`) so that no two
//! callers see the same free permit.

use std::time::Duration;

use weir_core::BrokerError;
use weir_core::capability::Permits;

use crate::RedisBroker;
use crate::scripts::PERMIT_TAKE;

impl Permits for RedisBroker {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<bool, BrokerError> {
        let s = &self.shared;
        let cmd = PERMIT_TAKE.cmd(&[s.keys.permits(name)], |c| {
            c.arg(holder)
                .arg(limit)
                .arg((lease.as_millis() as u64).max(1));
        });
        let taken: i64 = s.conn.query(&cmd).await?;
        Ok(taken == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<bool, BrokerError> {
        let s = &self.shared;
        let removed: u64 = s
            .conn
            .query(redis::cmd("ZREM").arg(s.keys.permits(name)).arg(holder))
            .await?;
        Ok(removed == 1)
    }
}
