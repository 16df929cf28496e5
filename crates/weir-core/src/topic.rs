//! Topic and partition names.

use std::fmt;
use std::sync::Arc;

/// The name of a topic: a set of partitions on a broker.
///
/// Cheap to clone (a shared string), ordered and hashable, so it can key maps.
///
/// ```
/// use weir_core::Topic;
/// let t = Topic::new("events");
/// assert_eq!(t.as_str(), "events");
/// assert_eq!(t.partition(3).to_string(), "events/3");
/// ```
#[derive(Clone, PartialOrd, Ord)]
pub struct Topic(Arc<str>);

impl PartialEq for Topic {
    /// Clones of one `Topic` (the usual case) share their name, and are
    /// equal without comparing its bytes.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for Topic {}

impl std::hash::Hash for Topic {
    /// The name's hash, as equality compares names.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl Topic {
    /// A topic with this name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Topic(Arc::from(name.as_ref()))
    }

    /// The topic's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Partition `index` of this topic.
    pub fn partition(&self, index: u32) -> Partition {
        Partition::new(self.clone(), index)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Topic({:?})", &*self.0)
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

    #[test]
    fn topics_are_equal_by_name_shared_or_not() {
        let a = Topic::new("orders");
        assert_eq!(a, a.clone());
        assert_eq!(a, Topic::new(String::from("orders")));
        assert_ne!(a, Topic::new("order"));
        assert_ne!(a, Topic::new("orders2"));
        assert_eq!(a.partition(1), Topic::new("orders").partition(1));
        assert_ne!(a.partition(1), a.partition(2));
    }
}
