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
        let now = Instant::now();
        {
            let mut values = lock(&r.values);
            if values.len() > 1024 {
                values.retain(|_, (_, until)| *until > now);
            }
            values.insert(id.to_owned(), (value, now + ttl));
        }
        // Nobody waiting is fine.
        let _ = r.stored.send(id.to_owned());
        Ok(())
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
