//! Topic and partition names.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The name of a topic: a set of partitions on a broker.
///
/// Names are interned: each distinct name is stored once for the life of the
/// process (as Arroyo and the Kafka clients do), so a `Topic` is one pointer.
/// Cloning, comparing for equality and dropping it touch no shared counter,
/// which matters because every message carries its partition's topic. It is
/// ordered by name and hashable, so it can key maps.
///
/// ```
/// use weir_core::Topic;
/// let t = Topic::new("events");
/// assert_eq!(t.as_str(), "events");
/// assert_eq!(t.partition(3).to_string(), "events/3");
/// assert_eq!(t, Topic::new(String::from("events")));
/// ```
#[derive(Clone)]
pub struct Topic(&'static &'static str);

/// Every topic name made so far. A process names few topics, so the names
/// are kept rather than counted.
fn interned(name: &str) -> &'static &'static str {
    static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = names.get(name) {
        return known;
    }
    let owned: &'static str = Box::leak(name.into());
    let thin: &'static &'static str = Box::leak(Box::new(owned));
    names.insert(owned, thin);
    thin
}

impl Topic {
    /// A topic with this name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Topic(interned(name.as_ref()))
    }

    /// The topic's name.
    pub fn as_str(&self) -> &str {
        self.0
    }

    /// Partition `index` of this topic.
    pub fn partition(&self, index: u32) -> Partition {
        Partition::new(self.clone(), index)
    }
}

impl PartialEq for Topic {
    /// Interned names are equal exactly when they are the same name.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Topic {}

impl Ord for Topic {
    fn cmp(&self, other: &Self) -> Ordering {
        if self == other {
            Ordering::Equal
        } else {
            self.as_str().cmp(other.as_str())
        }
    }
}

impl PartialOrd for Topic {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash for Topic {
    /// Hashes the name's one stored address: names are interned and
    /// topics compare by that address, so this agrees with `Eq`, and a map
    /// keyed by topic hashes one word instead of the name's bytes.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(self.0, state);
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", self.as_str())
    }
}

impl From<&Topic> for Topic {
    fn from(t: &Topic) -> Self {
        t.clone()
    }
}

impl From<&str> for Topic {
    fn from(s: &str) -> Self {
        Topic::new(s)
    }
}

impl From<String> for Topic {
    fn from(s: String) -> Self {
        Topic::new(s)
    }
}

/// One partition of a topic: an ordered log of messages with dense `u64` offsets.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// The topic this partition belongs to.
    pub topic: Topic,
    /// Its index within the topic, from 0.
    pub index: u32,
}

impl Partition {
    /// Partition `index` of `topic`.
    pub fn new(topic: impl Into<Topic>, index: u32) -> Self {
        Partition {
            topic: topic.into(),
            index,
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.index)
    }
}

impl fmt::Debug for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Partition({}/{})", self.topic, self.index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_made_apart_are_one_topic() {
        let a = Topic::new("orders");
        let b = Topic::new(format!("ord{}", "ers"));
        assert_eq!(a, b);
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "stored once");
        assert_ne!(a, Topic::new("orders-dlq"));
        let hash = |t: &Topic| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            t.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
    }

    #[test]
    fn topics_are_equal_by_name() {
        let a = Topic::new("orders");
        assert_eq!(a, a.clone());
        assert_ne!(a, Topic::new("order"));
        assert_ne!(a, Topic::new("orders2"));
        assert_eq!(a.partition(1), Topic::new("orders").partition(1));
        assert_ne!(a.partition(1), a.partition(2));
    }

    #[test]
    fn topics_order_by_name() {
        let set: BTreeSet<Topic> = ["b", "c", "a", "b"].into_iter().map(Topic::new).collect();
        let names: Vec<&str> = set.iter().map(Topic::as_str).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(Partition::new("a", 9) < Partition::new("b", 0));
        assert!(Partition::new("a", 1) < Partition::new("a", 2));
    }
}
