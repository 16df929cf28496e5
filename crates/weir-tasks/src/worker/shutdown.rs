//! Stopping a worker: a handle, and the signals it listens to.

use tokio_util::sync::CancellationToken;

/// Asks a [`Worker`](crate::Worker) to stop gracefully: it takes no more
/// jobs, lets running ones finish within its graceful shutdown time, then
/// cancels the rest (their jobs go back to the queue). Clones stop the same
/// worker.
#[derive(Clone, Debug, Default)]
pub struct ShutdownHandle {
    token: CancellationToken,
}

impl ShutdownHandle {
    /// Requests the shutdown (idempotent).
    pub fn shutdown(&self) {
        self.token.cancel();
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    pub(crate) async fn requested(&self) {
        self.token.cancelled().await;
    }
}

/// A process signal a worker can stop on.
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

/// Resolves when one of `signals` arrives; never, for none (or when none
/// can be listened to, which is logged).
pub(crate) async fn any_of(signals: Vec<Signal>) {
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
