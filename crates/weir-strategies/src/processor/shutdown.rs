//! Stopping a running processor from elsewhere.

use tokio_util::sync::CancellationToken;

/// Asks a [`StreamProcessor`](crate::StreamProcessor) to stop gracefully: it
/// stops reading, joins its strategy (within the join timeout), commits what
/// finished, and leaves the group. Clones stop the same processor.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    pub(crate) fn new() -> Self {
        ShutdownHandle::default()
    }

    /// Requests the shutdown (idempotent).
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once a shutdown is requested.
    pub(crate) async fn requested(&self) {
        self.token.cancelled().await;
    }
}

/// Requests a shutdown on SIGINT or SIGTERM.
pub(crate) async fn on_signal(handle: ShutdownHandle) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the processor");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("signal received: shutting the stream processor down");
    handle.shutdown();
}
