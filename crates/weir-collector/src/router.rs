//! Routing: which collectors an event goes to.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use crate::{Delivery, Event};

/// A collector's place in its queue, as handed to a [`Router`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectorId(usize);

impl CollectorId {
    /// The collector's position in the order the queue was built with.
    pub fn index(self) -> usize {
        self.0
    }
}

/// The collectors of a queue as a router sees them: by id, by key, by topic.
#[derive(Debug, Clone)]
pub struct Directory {
    keys: Vec<Arc<str>>,
    topics: Vec<Vec<String>>,
    by_key: HashMap<Arc<str>, CollectorId>,
    by_topic: HashMap<String, Vec<CollectorId>>,
    all: Vec<CollectorId>,
}

impl Directory {
    pub(crate) fn new<'a>(
        collectors: impl IntoIterator<Item = (&'a Arc<str>, &'a [String])>,
    ) -> Self {
        let mut dir = Self {
            keys: Vec::new(),
            topics: Vec::new(),
            by_key: HashMap::new(),
            by_topic: HashMap::new(),
            all: Vec::new(),
        };
        for (index, (key, topics)) in collectors.into_iter().enumerate() {
            let id = CollectorId(index);
            dir.keys.push(Arc::clone(key));
            dir.topics.push(topics.to_vec());
            dir.by_key.insert(Arc::clone(key), id);
            for topic in topics {
                let ids = dir.by_topic.entry(topic.clone()).or_default();
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            dir.all.push(id);
        }
        dir
    }

    /// How many collectors the queue has.
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether the queue has no collector (never true for a built queue).
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Every collector, in build order.
    pub fn all(&self) -> &[CollectorId] {
        &self.all
    }

    /// The collector with this key.
    pub fn by_key(&self, key: &str) -> Option<CollectorId> {
        self.by_key.get(key).copied()
    }

    /// The collectors listening to this topic, in build order.
    pub fn by_topic(&self, topic: &str) -> &[CollectorId] {
        self.by_topic.get(topic).map_or(&[], Vec::as_slice)
    }

    /// The key of a collector.
    pub fn key(&self, id: CollectorId) -> Option<&str> {
        self.keys.get(id.0).map(|k| &**k)
    }

    /// The topics a collector listens to.
    pub fn topics(&self, id: CollectorId) -> &[String] {
        self.topics.get(id.0).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn key_arc(&self, id: CollectorId) -> Option<&Arc<str>> {
        self.keys.get(id.0)
    }
}

/// A router's answer: the collectors to deliver to, and the names (keys,
/// topics) that matched none.
///
/// The queue delivers to each target once, in the order given, ignoring
/// repeats and ids of other queues.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    all: bool,
    targets: Vec<CollectorId>,
    unmatched: Vec<String>,
}

impl Route {
    /// A route to nowhere.
    pub fn new() -> Self {
        Self::default()
    }

    /// A route to these collectors.
    pub fn to(targets: impl IntoIterator<Item = CollectorId>) -> Self {
        Self {
            all: false,
            targets: targets.into_iter().collect(),
            unmatched: Vec::new(),
        }
    }

    /// A route to every collector, in build order.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Whether the route goes to every collector.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Adds a target.
    pub fn push(&mut self, id: CollectorId) {
        self.targets.push(id);
    }

    /// Records a key or topic that matched no collector.
    pub fn push_unmatched(&mut self, name: impl Into<String>) {
        self.unmatched.push(name.into());
    }

    /// The targets added one by one (a route to [`all`](Self::all) needs none).
    pub fn targets(&self) -> &[CollectorId] {
        &self.targets
    }

    /// The names that matched no collector.
    pub fn unmatched(&self) -> &[String] {
        &self.unmatched
    }

    /// Resolves the targets against the directory: known ids only, each once.
    pub(crate) fn resolve(self, directory: &Directory) -> (Cow<'_, [CollectorId]>, Vec<String>) {
        if self.all {
            return (Cow::Borrowed(directory.all()), self.unmatched);
        }
        let mut targets = self.targets;
        let n = directory.len();
        if targets.len() > 1 {
            let mut seen = vec![false; n];
            targets.retain(|id| {
                let fresh = id.0 < n && !seen[id.0];
                if fresh {
                    seen[id.0] = true;
                }
                fresh
            });
        } else {
            targets.retain(|id| id.0 < n);
        }
        (Cow::Owned(targets), self.unmatched)
    }
}

/// Picks the collectors an event goes to. The default is [`SimpleRouter`];
/// implement this trait for any other rule (content-based, sharded, ...).
///
/// ```
/// use weir_collector::{Directory, Event, Route, Router};
///
/// /// Sends even numbers to "even", odd ones to "odd".
/// struct Parity;
///
/// impl Router<u64> for Parity {
///     fn route(&self, event: &Event<u64>, collectors: &Directory) -> Route {
///         let key = if event.payload().is_multiple_of(2) { "even" } else { "odd" };
///         let mut route = Route::new();
///         match collectors.by_key(key) {
///             Some(id) => route.push(id),
///             None => route.push_unmatched(key),
///         }
///         route
///     }
/// }
/// ```
pub trait Router<P>: Send + Sync + 'static {
    /// The collectors this event goes to.
    fn route(&self, event: &Event<P>, collectors: &Directory) -> Route;
}

/// The default router: follows the event's [`Delivery`].
///
/// - `Broadcast`: every collector.
/// - `Key(keys)`: the collector of each key; unknown keys are recorded as
///   unmatched.
/// - `Topic(topics)`: every collector listening to any of the topics; topics
///   nobody listens to are recorded as unmatched.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimpleRouter;

impl<P> Router<P> for SimpleRouter {
    fn route(&self, event: &Event<P>, collectors: &Directory) -> Route {
        let mut route = Route::new();
        match event.delivery() {
            Delivery::Broadcast => route.all = true,
            Delivery::Key(keys) => {
                for key in keys {
                    match collectors.by_key(key) {
                        Some(id) => route.push(id),
                        None => route.push_unmatched(key.as_str()),
                    }
                }
            }
            Delivery::Topic(topics) => {
                for topic in topics {
                    let ids = collectors.by_topic(topic);
                    if ids.is_empty() {
                        route.push_unmatched(topic.as_str());
                    }
                    route.targets.extend_from_slice(ids);
                }
            }
        }
        route
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn directory(spec: &[(&str, &[&str])]) -> Directory {
        let owned: Vec<(Arc<str>, Vec<String>)> = spec
            .iter()
            .map(|(k, ts)| (Arc::from(*k), ts.iter().map(|t| (*t).to_owned()).collect()))
            .collect();
        Directory::new(owned.iter().map(|(k, ts)| (k, ts.as_slice())))
    }

    fn keys(dir: &Directory, route: Route) -> (Vec<String>, Vec<String>) {
        let (targets, unmatched) = route.resolve(dir);
        let keys = targets
            .iter()
            .copied()
            .filter_map(|id| dir.key(id).map(str::to_owned))
            .collect();
        (keys, unmatched)
    }

    #[test]
    fn simple_router_follows_delivery() {
        let dir = directory(&[("a", &["t1"]), ("b", &["t1", "t2"]), ("c", &[])]);
        let route = |e: Event<()>| keys(&dir, SimpleRouter.route(&e, &dir));

        assert_eq!(route(Event::new(())).0, ["a", "b", "c"]);
        assert_eq!(
            route(Event::new(()).to_keys(["c", "zz", "a"])),
            (vec!["c".to_owned(), "a".to_owned()], vec!["zz".to_owned()])
        );
        assert_eq!(
            route(Event::new(()).to_topics(["t2", "t1", "none"])),
            (
                vec!["b".to_owned(), "a".to_owned()],
                vec!["none".to_owned()]
            )
        );
        assert_eq!(
            route(Event::new(()).to_topics(["nope"])).0,
            Vec::<String>::new()
        );
    }

    #[test]
    fn resolve_drops_foreign_ids() {
        let dir = directory(&[("a", &[])]);
        let (targets, _) = Route::to([CollectorId(3), CollectorId(0)]).resolve(&dir);
        assert_eq!(&*targets, [CollectorId(0)]);
        let (targets, _) = Route::all().resolve(&dir);
        assert_eq!(&*targets, [CollectorId(0)]);
        let (targets, _) = Route::to([CollectorId(9)]).resolve(&dir);
        assert!(targets.is_empty());
    }

    proptest! {
        #[test]
        fn resolved_targets_are_known_and_unique(ids in proptest::collection::vec(0usize..8, 0..20)) {
            let dir = directory(&[("a", &[]), ("b", &[]), ("c", &[]), ("d", &[])]);
            let (targets, _) = Route::to(ids.iter().map(|&i| CollectorId(i))).resolve(&dir);
            let mut sorted = targets.to_vec();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted.len(), targets.len());
            prop_assert!(targets.iter().all(|id| id.index() < 4));
            for i in 0..4usize {
                prop_assert_eq!(ids.contains(&i), targets.contains(&CollectorId(i)));
            }
        }
    }
}
