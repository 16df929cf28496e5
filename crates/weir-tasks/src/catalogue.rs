//! The job catalogue: what the registered actors are and how they run.

use std::time::Duration;

use crate::Mode;

/// One registered actor, as the catalogue lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ActorInfo {
    /// Its name (what jobs ask for).
    pub name: String,
    /// Its documentation.
    pub doc: Option<String>,
    /// The queue it listens on.
    pub queue: String,
    /// Async or blocking.
    pub mode: Mode,
    /// Its timeout, if it sets one (else the job's, else 10 minutes).
    pub timeout: Option<Duration>,
    /// Its retries, if it sets them (a job's own setting wins; else 0).
    pub retries: Option<u32>,
    /// How many of its jobs one worker runs at once, if limited.
    pub max_concurrency: Option<usize>,
    /// How many of its jobs run at once in all workers together, if limited.
    pub global_concurrency: Option<u32>,
}

/// The registered actors of a router or worker, by name
/// ([`Router::catalogue`](crate::Router::catalogue)).
///
/// ```
/// use weir_tasks::{Mode, Router};
/// let mut router = Router::new();
/// router
///     .actor("add", |(a, b): (i64, i64), _ctx: weir_tasks::Context| async move { Ok::<_, String>(a + b) })
///     .doc("Adds two numbers")
///     .queue("math");
/// let catalogue = router.catalogue();
/// let add = catalogue.get("add").unwrap();
/// assert_eq!((add.queue.as_str(), add.mode), ("math", Mode::Async));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalogue {
    pub(crate) actors: Vec<ActorInfo>,
}

impl Catalogue {
    /// The actor named `name`.
    pub fn get(&self, name: &str) -> Option<&ActorInfo> {
        self.actors.iter().find(|a| a.name == name)
    }

    /// Every actor, by name.
    pub fn iter(&self) -> impl Iterator<Item = &ActorInfo> {
        self.actors.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.actors.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.actors.is_empty()
    }
}
