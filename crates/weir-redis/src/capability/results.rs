//! The result store on Redis: `SET key value PX ttl`, announced on a pub/sub
//! channel so waiters wake at once.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use weir_core::BrokerError;
use weir_core::capability::ResultStore;

use crate::RedisBroker;
use crate::connection::to_broker_error;

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

    async fn wait_result(&self, id: &str, timeout: Duration) -> Result<Option<Bytes>, BrokerError> {
        let s = &self.shared;
        let endpoint = s.conn.endpoint();
        let mut pubsub = s
            .client
            .pubsub()
            .get_async_pubsub()
            .await
            .map_err(|e| to_broker_error(endpoint, e))?;
        pubsub
            .subscribe(s.keys.result_channel(id))
            .await
            .map_err(|e| to_broker_error(endpoint, e))?;
        // Subscribed first, then looked: a result stored in between is not missed.
        if let Some(v) = self.get_result(id).await? {
            return Ok(Some(v));
        }
        let mut messages = pubsub.into_on_message();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, messages.next()).await {
                Err(_) => return self.get_result(id).await,
                Ok(None) => {
                    return Err(BrokerError::Unreachable {
                        endpoint: endpoint.to_owned(),
                        reason: format!("the connection waiting for result `{id}` closed"),
                    });
                }
                Ok(Some(_)) => {
                    if let Some(v) = self.get_result(id).await? {
                        return Ok(Some(v));
                    }
                }
            }
        }
    }
}
