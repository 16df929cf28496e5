//! A group member driven by a background task, for scenarios where several
//! members must poll at once (rebalances need every member to keep polling).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use weir_core::{BrokerValue, Consumer, ConsumerEvent, Partition, Payload};

use crate::support::WAIT;

#[derive(Debug, Default)]
struct Shared {
    received: Vec<BrokerValue<Payload>>,
    assignment: BTreeSet<Partition>,
    error: Option<String>,
}

/// A consumer polling in its own task, recording what it receives and
/// (optionally) committing every batch right after receiving it.
#[derive(Debug)]
pub struct RunningMember {
    stop: watch::Sender<bool>,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl RunningMember {
    /// Starts polling `consumer` (already subscribed).
    pub fn spawn<C: Consumer>(mut consumer: C, commit: bool) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stopped.changed() => break,
                    e = consumer.poll() => e,
                };
                let record = |f: &mut dyn FnMut(&mut Shared)| {
                    f(&mut state.lock().unwrap_or_else(PoisonError::into_inner))
                };
                match event {
                    Err(e) => {
                        record(&mut |s| s.error = Some(e.to_string()));
                        break;
                    }
                    Ok(ConsumerEvent::Assigned(a)) => {
                        record(&mut |s| s.assignment.extend(a.keys().cloned()))
                    }
                    Ok(ConsumerEvent::Revoked(r)) => {
                        record(&mut |s| s.assignment.retain(|p| !r.contains(p)))
                    }
                    Ok(ConsumerEvent::Messages(batch)) => {
                        if commit {
                            let req = batch.iter().collect();
                            if let Err(e) = consumer.commit(&req).await {
                                record(&mut |s| s.error = Some(format!("commit: {e}")));
                                break;
                            }
                        }
                        record(&mut |s| s.received.extend(batch.iter().cloned()));
                    }
                }
            }
            if *stopped.borrow() {
                let _ = consumer.close().await;
            }
        });
        RunningMember { stop, shared, task }
    }

    fn with<T>(&self, f: impl FnOnce(&Shared) -> T) -> T {
        f(&self.shared.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The partitions the member owns now.
    pub fn assignment(&self) -> BTreeSet<Partition> {
        self.with(|s| s.assignment.clone())
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<BrokerValue<Payload>> {
        self.with(|s| s.received.clone())
    }

    /// The error that stopped the member, if one did.
    pub fn error(&self) -> Option<String> {
        self.with(|s| s.error.clone())
    }

    /// Leaves the group gracefully and waits for the task to end.
    pub async fn stop(self) -> Vec<BrokerValue<Payload>> {
        let _ = self.stop.send(true);
        let RunningMember { shared, task, .. } = self;
        let _ = tokio::time::timeout(WAIT, task).await;
        received_of(&shared)
    }

    /// Ends the member abruptly, as a crash would: no commit, no goodbye
    /// beyond what dropping the client does.
    pub async fn crash(self) -> Vec<BrokerValue<Payload>> {
        let RunningMember { shared, task, .. } = self;
        task.abort();
        let _ = task.await;
        received_of(&shared)
    }
}

fn received_of(shared: &Mutex<Shared>) -> Vec<BrokerValue<Payload>> {
    shared
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .received
        .clone()
}

/// Waits until `condition` holds, checking every few milliseconds; fails the
/// test with `what` after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
