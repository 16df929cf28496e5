//! Dedup in memory: ids with their expiry (tokio's clock, so tests may pause it).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use weir_core::BrokerError;
use weir_core::capability::Dedup;

use super::lock;
use crate::MemoryBroker;

#[derive(Debug, Default)]
pub(super) struct Seen {
    ids: HashMap<(String, String), Instant>,
}

impl Dedup for MemoryBroker {
    async fn first_seen(&self, scope: &str, id: &str, ttl: Duration) -> Result<bool, BrokerError> {
        let now = Instant::now();
        let mut seen = lock(&self.inner.capabilities.dedup);
        if seen.ids.len() > 1024 {
            seen.ids.retain(|_, until| *until > now);
        }
        let key = (scope.to_owned(), id.to_owned());
        match seen.ids.get(&key) {
            Some(until) if *until > now => Ok(false),
            _ => {
                seen.ids.insert(key, now + ttl);
                Ok(true)
            }
        }
    }

    async fn forget(&self, scope: &str, id: &str) -> Result<bool, BrokerError> {
        let now = Instant::now();
        let mut seen = lock(&self.inner.capabilities.dedup);
        Ok(seen
            .ids
            .remove(&(scope.to_owned(), id.to_owned()))
            .is_some_and(|until| until > now))
    }
}
