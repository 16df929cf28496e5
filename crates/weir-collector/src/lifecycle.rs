//! A collector's setup before its first event and teardown after its last.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::BoxError;

/// Setup and teardown around a collector's life in a running queue, with its
/// context at hand: open a database pool before the first event, close it
/// after the last.
///
/// The queue runs every collector's `setup` once, in collector order, before
/// any consumer takes an event, and every `teardown` once, in reverse order,
/// after the last event finished (or was given up at shutdown). If a setup
/// fails, the queue does not start and the collectors already set up are torn
/// down again.
///
/// A context that gains resources in `setup` holds them behind interior
/// mutability, e.g. a `std::sync::OnceLock` or a `tokio::sync::Mutex`.
///
/// ```
/// use std::sync::OnceLock;
/// use weir_collector::{BoxError, Lifecycle};
///
/// #[derive(Default)]
/// struct Db { pool: OnceLock<String> }
///
/// struct OpenPool;
///
/// impl Lifecycle<Db> for OpenPool {
///     async fn setup(&self, db: &Db) -> Result<(), BoxError> {
///         db.pool.set("pool".to_owned()).map_err(|_| "pool already open")?;
///         Ok(())
///     }
///     async fn teardown(&self, _db: &Db) -> Result<(), BoxError> {
///         Ok(())
///     }
/// }
/// ```
pub trait Lifecycle<C>: Send + Sync + 'static {
    /// Runs once before the collector's first event.
    fn setup(&self, ctx: &C) -> impl Future<Output = Result<(), BoxError>> + Send;

    /// Runs once after the collector's last event.
    fn teardown(&self, ctx: &C) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// A lifecycle bound to its collector's context, with the context type erased.
pub(crate) trait BoundLifecycle: Send + Sync {
    fn setup(&self) -> BoxFuture<'_, Result<(), BoxError>>;
    fn teardown(&self) -> BoxFuture<'_, Result<(), BoxError>>;
}

pub(crate) struct Bound<L, C> {
    pub(crate) lifecycle: L,
    pub(crate) ctx: Arc<C>,
}

impl<L, C> BoundLifecycle for Bound<L, C>
where
    L: Lifecycle<C>,
    C: Send + Sync + 'static,
{
    fn setup(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.lifecycle.setup(&self.ctx))
    }

    fn teardown(&self) -> BoxFuture<'_, Result<(), BoxError>> {
        Box::pin(self.lifecycle.teardown(&self.ctx))
    }
}
