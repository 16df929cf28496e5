//! Deduplication of message ids within a time window.

use std::future::Future;
use std::time::Duration;

use crate::BrokerError;

/// Remembers ids for a while: the first caller to present an id wins.
///
/// A producer uses it to enqueue a job with a given id at most once per
/// window; a worker, to skip a redelivered job it already finished.
///
/// ```
/// use std::time::Duration;
/// use weir_core::capability::Dedup;
///
/// async fn enqueue_once<B: Dedup>(broker: &B, job_id: &str) -> Result<bool, weir_core::BrokerError> {
///     broker.first_seen("jobs", job_id, Duration::from_secs(3600)).await
/// }
/// ```
pub trait Dedup: Send + Sync + 'static {
    /// Records `id` in `scope` for `ttl` and returns `true`, unless it is
    /// already recorded there (then `false`, and the record keeps its expiry).
    /// Atomic: of concurrent callers with one id, exactly one gets `true`.
    fn first_seen(
        &self,
        scope: &str,
        id: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;

    /// Forgets `id` in `scope` (say, a job failed and its retry may run); `true` if it was recorded.
    fn forget(
        &self,
        scope: &str,
        id: &str,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;
}
