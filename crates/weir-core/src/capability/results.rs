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

    /// The result of `id`, if stored and not expired.
    fn get_result(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<Bytes>, BrokerError>> + Send;

    /// The result of `id`, waiting up to `timeout` for it to be stored
    /// (`None`: none came in time). A result stored before the call counts.
    fn wait_result(
        &self,
        id: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<Bytes>, BrokerError>> + Send;
}
