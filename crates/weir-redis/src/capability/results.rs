//! The result store on Redis: `SET key value PX ttl`, then one `PUBLISH` on
//! the prefix's `results-ready` channel naming every id the pipeline stored,
//! so waiters wake at once (all of a broker's waiters on one connection, see
//! `waiters.rs`).

use std::time::Duration;

use bytes::Bytes;
use weir_core::BrokerError;
use weir_core::capability::ResultStore;

use super::frame;
use super::waiters::Woken;
use crate::RedisBroker;

impl RedisBroker {
    /// The pipeline that stores each `(id, value)`: their `SET`s (with
    /// `NX` when `if_absent`, and then their replies kept), then the
    /// `PUBLISH`es of `events` on `channel` (if any), then the
    /// announcement that wakes the entries' waiters.
    fn put_pipeline<'a>(
        &self,
        entries: impl Iterator<Item = (&'a str, &'a [u8])> + Clone,
        ttl: Duration,
        events: Option<(&str, &[Bytes])>,
        if_absent: bool,
    ) -> redis::Pipeline {
        let keys = &self.shared.keys;
        let mut pipe = redis::Pipeline::with_capacity(entries.size_hint().0 + 2);
        let px = px(ttl);
        for (id, value) in entries.clone() {
            let key = keys.result(id);
            // Sized at once: its arguments, each with room for its header.
            let mut set = redis::Cmd::with_capacity(6, key.len() + value.len() + 72);
            set.arg("SET").arg(key).arg(value);
            if if_absent {
                set.arg("NX");
            }
            set.arg("PX").arg(px);
            let set = pipe.add_command(set);
            if !if_absent {
                set.ignore();
            }
        }
        self.add_events(&mut pipe, events);
        self.announce(&mut pipe, entries.map(|(id, _)| id));
        pipe
    }

    /// Stores each `(id, value)` unless a result of its id is, publishes
    /// `events` (if any), and announces the ids, in one pipeline; whether
    /// each stored, in order.
    async fn put_if_absent_pipeline<'a>(
        &self,
        entries: impl ExactSizeIterator<Item = (&'a str, &'a [u8])> + Clone,
        ttl: Duration,
        events: Option<(&str, &[Bytes])>,
    ) -> Result<Vec<bool>, BrokerError> {
        let n = entries.len();
        let pipe = self.put_pipeline(entries, ttl, events, true);
        // The `SET`s' replies first; a cluster also returns the ignored
        // commands' (see `client.rs`).
        let replies: Vec<redis::Value> = self.shared.conn.pipe(&pipe).await?;
        if replies.len() < n {
            return Err(BrokerError::backend(
                "redis",
                format!(
                    "a pipeline of {n} SET NX answered {} replies",
                    replies.len()
                ),
            ));
        }
        Ok(replies[..n]
            .iter()
            .map(|r| !matches!(r, redis::Value::Nil))
            .collect())
    }

    /// Adds to `pipe` the `PUBLISH`es of `events` on `channel` (if any).
    fn add_events(&self, pipe: &mut redis::Pipeline, events: Option<(&str, &[Bytes])>) {
        let Some((channel, events)) = events else {
            return;
        };
        let channel = self.shared.keys.channel(channel);
        for frame in frame::pack(events.iter().map(|e| &e[..])) {
            pipe.cmd("PUBLISH").arg(&channel).arg(frame).ignore();
        }
    }

    /// Adds to `pipe` the announcement that wakes the waiters of `ids`.
    fn announce<'a>(&self, pipe: &mut redis::Pipeline, ids: impl Iterator<Item = &'a str>) {
        let channel = self.shared.keys.results_ready();
        for announcement in frame::pack(ids.map(str::as_bytes)) {
            pipe.cmd("PUBLISH").arg(&channel).arg(announcement).ignore();
        }
    }
}

/// A time to live in whole milliseconds, at least one (`PX 0` is an error).
fn px(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

impl ResultStore for RedisBroker {
    async fn put_result(&self, id: &str, value: Bytes, ttl: Duration) -> Result<(), BrokerError> {
        let pipe = self.put_pipeline(std::iter::once((id, &value[..])), ttl, None, false);
        self.shared.conn.pipe::<()>(&pipe).await
    }

    /// One pipeline: `SET ... NX PX`, then the announcement to waiters
    /// (a waiter woken when nothing was stored finds the value it already
    /// had).
    async fn put_result_if_absent(
        &self,
        id: &str,
        value: Bytes,
        ttl: Duration,
    ) -> Result<bool, BrokerError> {
        let stored = self
            .put_if_absent_pipeline(std::iter::once((id, &value[..])), ttl, None)
            .await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    /// One pipeline: the `SET ... NX PX`s, the events' `PUBLISH`, then the
    /// announcement to waiters.
    async fn put_results_if_absent_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> Result<Vec<bool>, BrokerError> {
        if entries.is_empty() && events.is_empty() {
            return Ok(Vec::new());
        }
        self.put_if_absent_pipeline(
            entries.iter().map(|(id, v)| (id.as_str(), &v[..])),
            ttl,
            Some((channel, events)),
        )
        .await
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
        let pipe = self.put_pipeline(
            entries.iter().map(|(id, v)| (id.as_str(), &v[..])),
            ttl,
            None,
            false,
        );
        self.shared.conn.pipe::<()>(&pipe).await
    }

    /// One pipeline: the `SET`s, the events' `PUBLISH`, then the
    /// announcement to waiters.
    async fn put_results_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> Result<(), BrokerError> {
        if entries.is_empty() && events.is_empty() {
            return Ok(());
        }
        let pipe = self.put_pipeline(
            entries.iter().map(|(id, v)| (id.as_str(), &v[..])),
            ttl,
            Some((channel, events)),
            false,
        );
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
            let watch = s.waiters.watch(s, id).await?;
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
