//! Dedup on Redis: `SET key 1 NX PX ttl`.

use std::time::Duration;

use weir_core::BrokerError;
use weir_core::capability::Dedup;

use crate::RedisBroker;

impl Dedup for RedisBroker {
    async fn first_seen(&self, scope: &str, id: &str, ttl: Duration) -> Result<bool, BrokerError> {
        let s = &self.shared;
        let ms = (ttl.as_millis() as u64).max(1);
        let set: Option<String> = s
            .conn
            .query(
                redis::cmd("SET")
                    .arg(s.keys.dedup(scope, id))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms),
            )
            .await?;
        Ok(set.is_some())
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<bool, BrokerError> {
        let s = &self.shared;
        let n: u64 = s
            .conn
            .query(redis::cmd("DEL").arg(s.keys.dedup(scope, id)))
            .await?;
        Ok(n == 1)
    }
}
