//! What the processor does with invalid messages, and when it gives up.

use crate::processor::DeadLetterQueue;

/// What happens to an invalid message (undecodable, or refused by a task),
/// and how many the processor tolerates.
///
/// The default is [`InvalidPolicy::fail`]: the first invalid message stops
/// the processor with an error naming it.
///
/// ```
/// use weir_memory::MemoryBroker;
/// use weir_core::Broker;
/// use weir_strategies::{DeadLetterQueue, InvalidPolicy};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let broker = MemoryBroker::new();
/// let dlq = DeadLetterQueue::new(broker.producer().await.unwrap(), "orders-dlq");
/// let policy = InvalidPolicy::dead_letter(dlq).max_consecutive(100).max_ratio(0.05, 1_000);
/// # let _ = policy; });
/// ```
#[derive(Debug)]
pub struct InvalidPolicy {
    pub(crate) action: InvalidAction,
    pub(crate) max_consecutive: Option<u64>,
    pub(crate) max_ratio: Option<(f64, u64)>,
}

#[derive(Debug)]
pub(crate) enum InvalidAction {
    Fail,
    Skip,
    DeadLetter(DeadLetterQueue),
}

impl Default for InvalidPolicy {
    fn default() -> Self {
        InvalidPolicy::fail()
    }
}

impl InvalidPolicy {
    /// Stops the processor at the first invalid message.
    pub fn fail() -> Self {
        InvalidPolicy {
            action: InvalidAction::Fail,
            max_consecutive: None,
            max_ratio: None,
        }
    }

    /// Skips invalid messages, counting them (metric
    /// `weir_processor_invalid_messages_total`) and logging each.
    pub fn skip() -> Self {
        InvalidPolicy {
            action: InvalidAction::Skip,
            ..InvalidPolicy::fail()
        }
    }

    /// Sends invalid messages to a dead-letter topic.
    pub fn dead_letter(queue: DeadLetterQueue) -> Self {
        InvalidPolicy {
            action: InvalidAction::DeadLetter(queue),
            ..InvalidPolicy::fail()
        }
    }

    /// Stops the processor after `n` invalid messages in a row.
    pub fn max_consecutive(mut self, n: u64) -> Self {
        self.max_consecutive = Some(n);
        self
    }

    /// Stops the processor once more than `ratio` of the messages seen are
    /// invalid, judged after at least `min_messages` messages.
    pub fn max_ratio(mut self, ratio: f64, min_messages: u64) -> Self {
        self.max_ratio = Some((ratio, min_messages));
        self
    }
}

/// The counts the limits are checked against.
#[derive(Debug, Default)]
pub(crate) struct InvalidCounts {
    pub(crate) total: u64,
    pub(crate) invalid: u64,
    pub(crate) consecutive: u64,
}

/// Which limit was exceeded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum InvalidLimit {
    /// Too many invalid messages in a row.
    Consecutive {
        /// The limit.
        max: u64,
    },
    /// Too large a share of invalid messages.
    Ratio {
        /// The limit.
        max: f64,
        /// The share seen.
        seen: f64,
    },
}

impl std::fmt::Display for InvalidLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidLimit::Consecutive { max } => {
                write!(f, "more than {max} invalid messages in a row")
            }
            InvalidLimit::Ratio { max, seen } => {
                write!(
                    f,
                    "{:.1}% invalid messages (limit {:.1}%)",
                    seen * 100.0,
                    max * 100.0
                )
            }
        }
    }
}

impl InvalidCounts {
    pub(crate) fn valid(&mut self, n: u64) {
        if n > 0 {
            self.total += n;
            self.consecutive = 0;
        }
    }

    /// Counts an invalid message; the limit it breaks, if any.
    pub(crate) fn invalid(&mut self, policy: &InvalidPolicy) -> Option<InvalidLimit> {
        self.total += 1;
        self.invalid += 1;
        self.consecutive += 1;
        if let Some(max) = policy.max_consecutive
            && self.consecutive > max
        {
            return Some(InvalidLimit::Consecutive { max });
        }
        if let Some((max, min_messages)) = policy.max_ratio {
            let seen = self.invalid as f64 / self.total as f64;
            if self.total >= min_messages && seen > max {
                return Some(InvalidLimit::Ratio { max, seen });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_limit_resets_on_a_valid_message() {
        let policy = InvalidPolicy::skip().max_consecutive(2);
        let mut c = InvalidCounts::default();
        assert_eq!(c.invalid(&policy), None);
        assert_eq!(c.invalid(&policy), None);
        c.valid(1);
        assert_eq!(c.invalid(&policy), None);
        assert_eq!(c.invalid(&policy), None);
        assert_eq!(
            c.invalid(&policy),
            Some(InvalidLimit::Consecutive { max: 2 })
        );
    }

    #[test]
    fn ratio_limit_waits_for_enough_messages() {
        let policy = InvalidPolicy::skip().max_ratio(0.25, 8);
        let mut c = InvalidCounts::default();
        assert_eq!(c.invalid(&policy), None, "1 of 1, but too few to judge");
        for _ in 0..6 {
            c.valid(1);
        }
        assert_eq!(c.invalid(&policy), None, "2 of 8 is 25%");
        assert!(matches!(
            c.invalid(&policy),
            Some(InvalidLimit::Ratio { .. })
        ));
    }
}
