//! The result store on Redis: `SET key value PX ttl`, announced on a pub/sub
//! channel so waiters wake at once (all of a broker's waiters on one
//! connection, see `waiters.rs`).

use std::time::Duration;

use bytes::Bytes;
use weir_core::BrokerError;
use weir_core::capability::ResultStore;

use super::waiters::Woken;
use crate::RedisBroker;

impl RedisBroker {
    /// Adds the commands that store `value` as the result of `id` and wake
    /// its waiters.
    fn add_put(&self, pipe: &mut redis::Pipeline, id: &str, value: &[u8], ttl: Duration) {
        let keys = &self.shared.keys;
        pipe.cmd("SET")
            .arg(keys.result(id))
            .arg(value)
            .arg("PX")
            .arg((ttl.as_millis() as u64).max(1))
            .ignore()
            .cmd("PUBLISH")
            .arg(keys.result_channel(id))
            .arg(1)
            .ignore();
    }
}

impl ResultStore for RedisBroker {
    async fn put_result(&self, id: &str, value: Bytes, ttl: Duration) -> Result<(), BrokerError> {
        let mut pipe = redis::pipe();
        self.add_put(&mut pipe, id, &value, ttl);
        self.shared.conn.pipe::<()>(&pipe).await
    }

    /// One pipeline for all of them.
    async fn put_results(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
    ) -> Result<(), BrokerError> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (id, value) in entries {
            self.add_put(&mut pipe, id, value, ttl);
        }
        self.shared.conn.pipe::<()>(&pipe).await
    }

    /// One pipeline of `GET`s (not `MGET`: on a cluster the keys may live
    /// on different slots).
    async fn get_results(&self, ids: &[String]) -> Result<Vec<Option<Bytes>>, BrokerError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let s = &self.shared;
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.cmd("GET").arg(s.keys.result(id));
        }
        let values: Vec<Option<Vec<u8>>> = s.conn.pipe(&pipe).await?;
        Ok(values.into_iter().map(|v| v.map(Bytes::from)).collect())
    }

    async fn get_result(&self, id: &str) -> Result<Option<Bytes>, BrokerError> {
        let s = &self.shared;
        let v: Option<Vec<u8>> = s
            .conn
            .query(redis::cmd("GET").arg(s.keys.result(id)))
            .await?;
        Ok(v.map(Bytes::from))
    }

    /// Waits on the broker's one shared pub/sub connection (see `waiters.rs`).
    async fn wait_result(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, BrokerError> {
        let s = &self.shared;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let watch = s.waiters.watch(s, s.keys.result_channel(id)).await?;
            loop {
                // Watching first, then looking: a result stored in between
                // is not missed.
                let woken = watch.next();
                if let Some(v) = self.get_result(id).await? {
                    return Ok(Some(v));
                }
                match tokio::time::timeout_at(deadline, woken).await {
                    Err(_) => return self.get_result(id).await,
                    Ok(Woken::Announced) => {}
                    // The connection dropped: look again on a new one.
                    Ok(Woken::Lost) => break,
                }
            }
        }
    }
}
