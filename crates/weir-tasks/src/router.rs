//! Routers: actors registered by name.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use weir_core::{Codec, MsgPack};

use crate::actor::{Actor, async_fn, blocking_fn};
use crate::catalogue::{ActorInfo, Catalogue};
use crate::{Context, Mode, RetryPolicy};

/// Actors by name, with their settings. Workers include routers; a later
/// actor of the same name replaces an earlier one (as in Repid).
///
/// An actor is an async fn, or a blocking fn run on tokio's blocking pool,
/// taking its typed arguments and a [`Context`] and returning
/// `Result<R, E>`: `R` is stored as the task's result (encoded with the
/// client's codec), `E` is anything that prints (`Display`) and fails the
/// attempt.
///
/// ```
/// use std::time::Duration;
/// use weir_tasks::{Context, RetryPolicy, Router};
///
/// let mut router = Router::new();
/// router
///     .actor("add", |(a, b): (i64, i64), _ctx: Context| async move { Ok::<_, String>(a + b) })
///     .queue("math")
///     .doc("Adds two numbers")
///     .timeout(Duration::from_secs(5))
///     .retries(2)
///     .retry_policy(RetryPolicy::fixed(Duration::from_secs(1)))
///     .max_concurrency(4);
/// router.blocking_actor("checksum", |data: Vec<u8>, _ctx: Context| {
///     Ok::<_, String>(data.iter().map(|b| u64::from(*b)).sum::<u64>())
/// });
/// assert_eq!(router.catalogue().len(), 2);
/// ```
pub struct Router<C = MsgPack> {
    pub(crate) actors: BTreeMap<String, Actor<C>>,
}

impl Router<MsgPack> {
    /// An empty router for jobs whose arguments are MessagePack (the default codec).
    pub fn new() -> Self {
        Router::with_codec()
    }
}

impl Default for Router<MsgPack> {
    fn default() -> Self {
        Router::new()
    }
}

impl<C> fmt::Debug for Router<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("actors", &self.actors.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl<C: Codec + Clone> Router<C> {
    /// An empty router for a client with codec `C` (`Router::<Json>::with_codec()`).
    pub fn with_codec() -> Self {
        Router {
            actors: BTreeMap::new(),
        }
    }

    fn register(&mut self, actor: Actor<C>) -> ActorOptions<'_, C> {
        let name = actor.info.name.clone();
        let slot = match self.actors.entry(name) {
            std::collections::btree_map::Entry::Occupied(mut o) => {
                o.insert(actor);
                o.into_mut()
            }
            std::collections::btree_map::Entry::Vacant(v) => v.insert(actor),
        };
        ActorOptions { actor: slot }
    }

    /// Registers an async fn as actor `name`; set its options on what this returns.
    pub fn actor<A, R, E, F, Fut>(&mut self, name: impl Into<String>, f: F) -> ActorOptions<'_, C>
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(A, Context<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        self.register(Actor {
            info: info(name.into(), Mode::Async),
            retry: RetryPolicy::default(),
            run: async_fn(f),
        })
    }

    /// Registers a blocking fn as actor `name`, run on tokio's blocking pool.
    pub fn blocking_actor<A, R, E, F>(
        &mut self,
        name: impl Into<String>,
        f: F,
    ) -> ActorOptions<'_, C>
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + Send + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(A, Context<C>) -> Result<R, E> + Send + Sync + 'static,
    {
        self.register(Actor {
            info: info(name.into(), Mode::Blocking),
            retry: RetryPolicy::default(),
            run: blocking_fn(f),
        })
    }

    /// Adds every actor of `other` (replacing those of the same name).
    pub fn include(&mut self, other: Router<C>) -> &mut Self {
        self.actors.extend(other.actors);
        self
    }

    /// The registered actors.
    pub fn catalogue(&self) -> Catalogue {
        Catalogue {
            actors: self.actors.values().map(|a| a.info.clone()).collect(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Actor<C>> {
        self.actors.get(name)
    }
}

fn info(name: String, mode: Mode) -> ActorInfo {
    ActorInfo {
        name,
        doc: None,
        queue: "default".to_owned(),
        mode,
        timeout: None,
        retries: None,
        max_concurrency: None,
        global_concurrency: None,
    }
}

/// The settings of an actor just registered, read top-down.
pub struct ActorOptions<'a, C> {
    actor: &'a mut Actor<C>,
}

impl<C> fmt::Debug for ActorOptions<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.actor.info.fmt(f)
    }
}

impl<C> ActorOptions<'_, C> {
    /// The queue it listens on (default `"default"`).
    pub fn queue(self, queue: impl Into<String>) -> Self {
        self.actor.info.queue = queue.into();
        self
    }

    /// Its documentation, for the catalogue.
    pub fn doc(self, doc: impl Into<String>) -> Self {
        self.actor.info.doc = Some(doc.into());
        self
    }

    /// How long an attempt may run when the job sets no timeout (default 10 minutes).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.actor.info.timeout = Some(timeout);
        self
    }

    /// How many retries a job gets when it sets none (default 0).
    pub fn retries(self, retries: u32) -> Self {
        self.actor.info.retries = Some(retries);
        self
    }

    /// The wait before each retry (default exponential, see [`RetryPolicy`]).
    pub fn retry_policy(self, policy: RetryPolicy) -> Self {
        self.actor.retry = policy;
        self
    }

    /// How many of its jobs one worker runs at once (default: the worker's
    /// concurrency). Jobs beyond it wait for a slot; none is dropped.
    pub fn max_concurrency(self, n: usize) -> Self {
        self.actor.info.max_concurrency = Some(n.max(1));
        self
    }

    /// How many of its jobs run at once in all the workers of the cluster
    /// together (default: no such limit), through the broker's shared
    /// permits. Jobs beyond it wait, in their worker's slot, for a permit;
    /// none is dropped. A worker that dies frees its permits when their
    /// lease (30 s) runs out.
    pub fn global_concurrency(self, n: u32) -> Self {
        self.actor.info.global_concurrency = Some(n.max(1));
        self
    }
}
