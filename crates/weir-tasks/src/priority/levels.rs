//! The levels of a prioritized queue and their weights.

use weir_core::{BrokerError, Topic};

/// The levels of a prioritized queue, highest first, each with a weight:
/// while every level has work, level `i` gets `weight(i)` of every
/// `sum of weights` messages served. Level `i` of queue `q` is the topic `q.p{i}`.
///
/// ```
/// use weir_core::Topic;
/// use weir_tasks::priority::PriorityLevels;
/// let levels = PriorityLevels::new([6, 3, 1]).unwrap();
/// assert_eq!(levels.len(), 3);
/// assert_eq!(levels.topic(&Topic::new("jobs"), 0).as_str(), "jobs.p0");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityLevels {
    weights: Vec<u32>,
}

impl PriorityLevels {
    /// Levels with these weights, highest level first; fails unless there is
    /// at least one level and every weight is positive.
    pub fn new(weights: impl IntoIterator<Item = u32>) -> Result<Self, BrokerError> {
        let weights: Vec<u32> = weights.into_iter().collect();
        if weights.is_empty() || weights.contains(&0) {
            return Err(BrokerError::InvalidConfig(format!(
                "priority weights must be one or more positive numbers, got {weights:?}"
            )));
        }
        Ok(PriorityLevels { weights })
    }

    /// Three levels, high, medium and low, weighted 6, 3 and 1.
    pub fn high_medium_low() -> Self {
        PriorityLevels {
            weights: vec![6, 3, 1],
        }
    }

    /// How many levels there are.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Whether there are none (never: construction needs one).
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The weight of `level`.
    pub fn weight(&self, level: usize) -> Option<u32> {
        self.weights.get(level).copied()
    }

    /// Every level's weight, highest level first.
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }

    /// The topic holding `level` of `queue`.
    pub fn topic(&self, queue: &Topic, level: usize) -> Topic {
        level_topic(queue, level)
    }

    /// Every level's topic of `queue`, highest first.
    pub fn topics(&self, queue: &Topic) -> Vec<Topic> {
        (0..self.len()).map(|l| level_topic(queue, l)).collect()
    }
}

/// The topic of `level` of `queue`; a level the queue lacks names a topic
/// that does not exist, which the broker reports as unknown.
pub(crate) fn level_topic(queue: &Topic, level: usize) -> Topic {
    Topic::new(format!("{queue}.p{level}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_must_be_positive() {
        assert!(PriorityLevels::new([]).is_err());
        assert!(PriorityLevels::new([3, 0]).is_err());
        assert!(PriorityLevels::new([1]).is_ok());
    }

    #[test]
    fn level_topics_are_named_after_the_queue() {
        let levels = PriorityLevels::new([2, 1]).expect("two positive weights");
        assert_eq!(
            levels.topics(&Topic::new("q")),
            vec![Topic::new("q.p0"), Topic::new("q.p1")]
        );
    }
}
