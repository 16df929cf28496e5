//! What `/healthz` reports: the state of every consumer of every service.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The state of one part of a service (a consumer, or the service as a whole).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartState {
    /// Setting up.
    Starting,
    /// Working.
    Running,
    /// Failed; the supervisor will restart it (the reason).
    Failed(String),
    /// Stopped on request.
    Stopped,
}

/// The health of the services of one process, shared by their runs and the
/// HTTP endpoint. Healthy while at least one part is registered and every
/// part runs.
///
/// ```
/// use weir_service::{Health, PartState};
/// let health = Health::new();
/// health.set("word-count", "requests", PartState::Running);
/// assert!(health.check().is_ok());
/// health.set("word-count", "requests", PartState::Failed("broker gone".into()));
/// assert_eq!(health.check().unwrap_err(), "word-count/requests: failed: broker gone");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Health {
    parts: Arc<Mutex<BTreeMap<(String, String), PartState>>>,
}

impl Health {
    /// No parts yet (not healthy until some run).
    pub fn new() -> Self {
        Health::default()
    }

    /// Records the state of `part` of `service`.
    pub fn set(&self, service: &str, part: &str, state: PartState) {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((service.to_owned(), part.to_owned()), state);
    }

    /// Forgets every part of `service` (before it starts again).
    pub fn clear(&self, service: &str) {
        self.parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(s, _), _| s != service);
    }

    /// `Ok` while every part runs, else why not (one line per part that does not).
    ///
    /// # Errors
    ///
    /// The reasons, one line each: `service/part: state`.
    pub fn check(&self) -> Result<(), String> {
        let parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        if parts.is_empty() {
            return Err("no service is running yet".into());
        }
        let bad: Vec<String> = parts
            .iter()
            .filter(|(_, s)| **s != PartState::Running)
            .map(|((svc, part), s)| {
                let state = match s {
                    PartState::Starting => "starting".to_owned(),
                    PartState::Running => "running".to_owned(),
                    PartState::Failed(r) => format!("failed: {r}"),
                    PartState::Stopped => "stopped".to_owned(),
                };
                format!("{svc}/{part}: {state}")
            })
            .collect();
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("\n"))
        }
    }
}
