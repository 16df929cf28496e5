//! A result store: results kept for a while, which callers can await.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::BrokerError;

/// Stores results by id for a time to live; callers may wait for one.
///
/// ```
/// use std::time::Duration;
/// use weir_core::capability::ResultStore;
///
/// async fn outcome<B: ResultStore>(broker: &B, job_id: &str) -> Result<Option<bytes::Bytes>, weir_core::BrokerError> {
///     broker.wait_result(job_id, Duration::from_secs(10)).await
/// }
/// ```
pub trait ResultStore: Send + Sync + 'static {
    /// Stores `value` as the result of `id` for `ttl`, replacing any earlier
    /// one, and wakes whoever waits for it.
    fn put_result(
        &self,
        id: &str,
        value: Bytes,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send;

    /// Stores `value` as the result of `id` for `ttl` only if none is
    /// stored (an expired one counts as none), in one atomic step, and wakes
    /// whoever waits for it; returns whether it stored. A writer that must
    /// never overwrite a later value of `id` races others safely with it.
    ///
    /// The default is [`BrokerError::Unsupported`]: a backend that cannot
    /// store it atomically does not pretend to.
    fn put_result_if_absent(
        &self,
        id: &str,
        value: Bytes,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send {
        let _ = (id, value, ttl);
        std::future::ready(Err(BrokerError::Unsupported {
            backend: std::any::type_name::<Self>(),
            capability: "result if absent",
        }))
    }

    /// The result of `id`, if stored and not expired.
    fn get_result(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Bytes>, BrokerError>> + Send;

    /// Stores each `(id, value)` as [`put_result`](ResultStore::put_result)
    /// does, in order, in as few round trips as the backend can (one
    /// pipeline on Redis). Not atomic: after an error, some may be stored.
    fn put_results(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
    ) -> impl Future<Output = Result<(), BrokerError>> + Send {
        async move {
            for (id, value) in entries {
                self.put_result(id, value.clone(), ttl).await?;
            }
            Ok(())
        }
    }

    /// Stores `entries` as [`put_results`](ResultStore::put_results) does
    /// and publishes `events` on `channel` as
    /// [`EventChannel::publish_many`](crate::capability::EventChannel::publish_many)
    /// does, in between: after the entries are stored, before whoever waits
    /// for them is woken. A subscriber so finds the results its events
    /// announce, and a waiter sees the events published before anything it
    /// does once woken. One round trip on Redis.
    ///
    /// The default stores, then publishes: a backend whose waiters could
    /// wake in between overrides it. Not atomic: after an error, some may
    /// be stored or published.
    fn put_results_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> impl Future<Output = Result<(), BrokerError>> + Send
    where
        Self: crate::capability::EventChannel,
    {
        async move {
            self.put_results(entries, ttl).await?;
            self.publish_many(channel, events).await
        }
    }

    /// Stores each `(id, value)` as
    /// [`put_result_if_absent`](ResultStore::put_result_if_absent) does and
    /// publishes `events` on `channel`, as
    /// [`put_results_publishing`](ResultStore::put_results_publishing)
    /// does: one round trip on Redis. The events go out whether or not
    /// anything was stored; returns, in order, whether each was.
    ///
    /// The default stores each, then publishes. Not atomic: after an
    /// error, some may be stored or published.
    fn put_results_if_absent_publishing(
        &self,
        entries: &[(String, Bytes)],
        ttl: Duration,
        channel: &str,
        events: &[Bytes],
    ) -> impl Future<Output = Result<Vec<bool>, BrokerError>> + Send
    where
        Self: crate::capability::EventChannel,
    {
        async move {
            let mut stored = Vec::with_capacity(entries.len());
            for (id, value) in entries {
                stored.push(self.put_result_if_absent(id, value.clone(), ttl).await?);
            }
            self.publish_many(channel, events).await?;
            Ok(stored)
        }
    }

    /// The results of `ids`, in their order, as
    /// [`get_result`](ResultStore::get_result) reads each, in as few round
    /// trips as the backend can (one pipeline on Redis).
    fn get_results(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Bytes>>, BrokerError>> + Send {
        async move {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.push(self.get_result(id).await?);
            }
            Ok(out)
        }
    }

    /// The result of `id`, waiting up to `timeout` for it to be stored
    /// (`None`: none came in time). A result stored before the call counts.
    fn wait_result(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<Bytes>, BrokerError>> + Send;
}
