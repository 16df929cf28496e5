//! Permits: a counting semaphore every process on the broker shares.

use std::future::Future;
use std::time::Duration;

use crate::BrokerError;

/// Up to `limit` holders at once per name, across every process that uses
/// the broker; a permit is leased, so one whose holder died is free again
/// once its lease runs out.
///
/// A job layer uses it to cap how many runs of one actor go at once in a
/// whole cluster of workers. A holder renews its lease by acquiring again
/// while it holds the permit.
///
/// ```
/// use std::time::Duration;
/// use weir_core::capability::Permits;
///
/// async fn run_alone<B: Permits>(broker: &B, me: &str) -> Result<bool, weir_core::BrokerError> {
///     let lease = Duration::from_secs(30);
///     if !broker.try_acquire("nightly-report", me, 1, lease).await? {
///         return Ok(false); // someone else runs it
///     }
///     // ... the work, acquiring again before `lease` runs out to keep it ...
///     broker.release("nightly-report", me).await
/// }
/// ```
pub trait Permits: Send + Sync + 'static {
    /// Takes one of the `limit` permits of `name` for `holder`, leased for
    /// `lease`: `true` if taken, or if `holder` holds one already (its lease
    /// starts again); `false` if `limit` others hold one. Atomic: of
    /// concurrent callers, at most `limit` hold a permit at any time.
    fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        limit: u32,
        lease: Duration,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;

    /// Gives back `holder`'s permit of `name`; `true` if it held one.
    fn release(
        &self,
        name: &str,
        holder: &str,
    ) -> impl Future<Output = Result<bool, BrokerError>> + Send;
}
