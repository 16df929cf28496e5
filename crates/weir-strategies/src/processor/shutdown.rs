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
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }
}

/// Requests a shutdown on SIGINT or SIGTERM.
pub(crate) async fn on_signal(handle: ShutdownHandle) {
    Signal::any([Signal::Interrupt, Signal::Terminate]).await;
    tracing::info!("signal received: shutting the stream processor down");
    handle.shutdown();
}

/// A process signal a processor or a worker can stop on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (what Kubernetes sends).
    Terminate,
    /// SIGQUIT.
    Quit,
    /// SIGHUP.
    Hangup,
}

impl Signal {
    /// Resolves when one of `signals` arrives; never, for none (or when
    /// none can be listened to, which is logged).
    pub async fn any(signals: impl IntoIterator<Item = Signal>) {
        any_of(signals.into_iter().collect()).await;
    }
}

async fn any_of(signals: Vec<Signal>) {
    #[cfg(unix)]
    {
        use futures::FutureExt;
        use tokio::signal::unix::{SignalKind, signal};
        let mut streams = Vec::new();
        for s in signals {
            let kind = match s {
                Signal::Interrupt => SignalKind::interrupt(),
                Signal::Terminate => SignalKind::terminate(),
                Signal::Quit => SignalKind::quit(),
                Signal::Hangup => SignalKind::hangup(),
            };
            match signal(kind) {
                Ok(stream) => streams.push(stream),
                Err(e) => tracing::warn!(signal = ?s, error = %e, "cannot listen for a signal"),
            }
        }
        if streams.is_empty() {
            return std::future::pending().await;
        }
        let waits = streams
            .iter_mut()
            .map(|s| async move { s.recv().await }.boxed());
        futures::future::select_all(waits).await;
    }
    #[cfg(not(unix))]
    {
        if signals.contains(&Signal::Interrupt) {
            let _ = tokio::signal::ctrl_c().await;
        } else {
            std::future::pending::<()>().await;
        }
    }
}
