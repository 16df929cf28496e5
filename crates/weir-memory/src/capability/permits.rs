//! Permits in memory: each name's holders with their lease's end (tokio's
//! clock, so tests may pause it).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use weir_core::BrokerError;
use weir_core::capability::Permits;

use super::lock;
use crate::MemoryBroker;

#[derive(Debug, Default)]
pub(super) struct Held {
    by_name: HashMap<String, HashMap<String, Instant>>,
}

impl Permits for MemoryBroker {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        limit: u32,
        lease: Duration,
    ) -> Result<bool, BrokerError> {
        let now = Instant::now();
        let mut held = lock(&self.inner.capabilities.permits);
        let holders = held.by_name.entry(name.to_owned()).or_default();
        holders.retain(|_, until| *until > now);
        if !holders.contains_key(holder) && holders.len() >= limit as usize {
            return Ok(false);
        }
        holders.insert(holder.to_owned(), now + lease);
        Ok(true)
    }

    async fn release(&self, name: &str, holder: &str) -> Result<bool, BrokerError> {
        let now = Instant::now();
        let mut held = lock(&self.inner.capabilities.permits);
        let Some(holders) = held.by_name.get_mut(name) else {
            return Ok(false);
        };
        let had = holders.remove(holder).is_some_and(|until| until > now);
        if holders.is_empty() {
            held.by_name.remove(name);
        }
        Ok(had)
    }
}
