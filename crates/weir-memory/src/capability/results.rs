//! The result store in memory: values with their expiry, and a broadcast of
//! stored ids that waiters listen to.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::time::Instant;
use weir_core::BrokerError;
use weir_core::capability::ResultStore;

use super::lock;
use crate::MemoryBroker;

#[derive(Debug)]
pub(super) struct Results {
    values: Mutex<HashMap<String, (Bytes, Instant)>>,
    stored: broadcast::Sender<String>,
}

impl Default for Results {
    fn default() -> Self {
        Results {
            values: Mutex::new(HashMap::new()),
            stored: broadcast::channel(256).0,
        }
    }
}

impl Results {
    /// Stores `value` as `id`'s result, without waking its waiters:
    /// replacing any stored one, or (`replace` false) only if none
    /// unexpired is; whether it stored.
    fn store(&self, id: &str, value: Bytes, ttl: Duration, replace: bool) -> bool {
        let now = Instant::now();
        let mut values = lock(&self.values);
        if values.len() > 1024 {
            values.retain(|_, (_, until)| *until > now);
        }
        if !replace && values.get(id).is_some_and(|(_, until)| *until > now) {
            return false;
        }
        values.insert(id.to_owned(), (value, now + ttl));
        true
    }

    /// Wakes whoever waits for `id`'s result.
    fn wake(&self, id: &str) {
        // Nobody waiting is fine.
        let _ = self.stored.send(id.to_owned());
    }

    fn get(&self, id: &str) -> Option<Bytes> {
        let now = Instant::now();
        let mut values = lock(&self.values);
        match values.get(id) {
            Some((v, until)) if *until > now => Some(v.clone()),
            Some(_) => {
                values.remove(id);
                None
            }
            None => None,
        }
    }
}

impl ResultStore for MemoryBroker {
    async fn put_result(&self, id: &str, value: Bytes, ttl: Duration) -> Result<(), BrokerError> {
        let r = &self.inner.capabilities.results;
        r.store(id, value, ttl, true);
        r.wake(id);
        Ok(())
    }

    async fn put_result_if_absent(
        &self,
        id: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, BrokerError> {
        let r = &self.inner.capabilities.results;
        let stored = r.store(id, value, ttl, false);
        if stored {
            r.wake(id);
        }
        Ok(stored)
    }

    /// Stores every entry, publishes, and only then wakes the waiters.
    async fn put_results_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> Result<(), BrokerError> {
        let r = &self.inner.capabilities.results;
        for (id, value) in entries {
            r.store(id, value.clone(), ttl, true);
        }
        let published =
            weir_core::capability::EventChannel::publish_many(self, channel, events).await;
        for (id, _) in entries {
            r.wake(id);
        }
        published
    }

    async fn get_result(&self, id: &str) -> Result<Option<Bytes>, BrokerError> {
        Ok(self.inner.capabilities.results.get(id))
    }

    async fn wait_result(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, BrokerError> {
        let r = &self.inner.capabilities.results;
        // Listen first, then look: a result stored in between is not missed.
        let mut stored = r.stored.subscribe();
        if let Some(v) = r.get(id) {
            return Ok(Some(v));
        }
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, stored.recv()).await {
                Err(_) => return Ok(r.get(id)),
                Ok(Ok(stored_id)) if stored_id != id => {}
                // Our id, or we lagged and may have missed it: look.
                Ok(_) => {
                    if let Some(v) = r.get(id) {
                        return Ok(Some(v));
                    }
                }
            }
        }
    }
}
