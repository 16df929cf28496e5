//! What an event produced: one result per collector it was delivered to.

use std::sync::Arc;

use crate::CollectorError;

/// The outcome of one event: a result per collector it went to, in routing
/// order, and the keys or topics that matched no collector.
///
/// An empty list means the event was delivered nowhere ([`is_delivered`]
/// is `false`), which is not the same as "every collector succeeded"
/// ([`all_ok`] on a non-empty list).
///
/// [`is_delivered`]: Results::is_delivered
/// [`all_ok`]: Results::all_ok
#[derive(Debug)]
pub struct Results<R> {
    entries: Vec<(Arc<str>, Result<R, CollectorError>)>,
    unmatched: Vec<String>,
    abandoned: bool,
    routing_failure: Option<String>,
}

impl<R> Results<R> {
    pub(crate) fn new(
        entries: Vec<(Arc<str>, Result<R, CollectorError>)>,
        unmatched: Vec<String>,
    ) -> Self {
        Self {
            entries,
            unmatched,
            abandoned: false,
            routing_failure: None,
        }
    }

    pub(crate) fn with_routing_failure(mut self, failure: String) -> Self {
        self.routing_failure = Some(failure);
        self
    }

    pub(crate) fn abandoned() -> Self {
        Self {
            entries: Vec::new(),
            unmatched: Vec::new(),
            abandoned: true,
            routing_failure: None,
        }
    }

    /// The first collector's result, if the event went anywhere.
    pub fn first(&self) -> Option<&Result<R, CollectorError>> {
        self.entries.first().map(|(_, r)| r)
    }

    /// Each collector's result, in routing order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Result<R, CollectorError>> {
        self.entries.iter().map(|(_, r)| r)
    }

    /// Each collector's key with its result.
    pub fn keyed(&self) -> impl ExactSizeIterator<Item = (&str, &Result<R, CollectorError>)> {
        self.entries.iter().map(|(k, r)| (&**k, r))
    }

    /// The result of the collector with this key, if it was a target.
    pub fn get(&self, key: &str) -> Option<&Result<R, CollectorError>> {
        self.entries
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, r)| r)
    }

    /// The keys of the collectors the event went to.
    pub fn targets(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// The values of the collectors that succeeded.
    pub fn values(&self) -> impl Iterator<Item = &R> {
        self.iter().filter_map(|r| r.as_ref().ok())
    }

    /// The failures.
    pub fn errors(&self) -> impl Iterator<Item = &CollectorError> {
        self.iter().filter_map(|r| r.as_ref().err())
    }

    /// How many collectors the event went to.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the event went to no collector.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the event went to at least one collector.
    pub fn is_delivered(&self) -> bool {
        !self.entries.is_empty()
    }

    /// Whether the event went somewhere and every collector succeeded.
    pub fn all_ok(&self) -> bool {
        self.is_delivered() && self.entries.iter().all(|(_, r)| r.is_ok())
    }

    /// The keys or topics of the delivery that matched no collector.
    pub fn unmatched(&self) -> &[String] {
        &self.unmatched
    }

    /// Why the event went nowhere if the router failed (panicked) on it.
    pub fn routing_failure(&self) -> Option<&str> {
        self.routing_failure.as_deref()
    }

    /// Whether the queue was dropped (not shut down) before the event was
    /// processed, so no collector answered.
    pub fn is_abandoned(&self) -> bool {
        self.abandoned
    }

    /// The results, dropping the keys.
    pub fn into_results(self) -> Vec<Result<R, CollectorError>> {
        self.entries.into_iter().map(|(_, r)| r).collect()
    }
}

impl<R> IntoIterator for Results<R> {
    type Item = (Arc<str>, Result<R, CollectorError>);
    type IntoIter = std::vec::IntoIter<Self::Item>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Failure;

    fn mixed() -> Results<u32> {
        Results::new(
            vec![
                (Arc::from("a"), Ok(1)),
                (
                    Arc::from("b"),
                    Err(CollectorError::new("b", Failure::ShutDown, 0)),
                ),
                (Arc::from("c"), Ok(3)),
            ],
            vec!["ghost".into()],
        )
    }

    #[test]
    fn accessors_agree() {
        let r = mixed();
        assert_eq!(r.len(), 3);
        assert!(r.is_delivered());
        assert!(!r.all_ok());
        assert_eq!(r.first().and_then(|r| r.as_ref().ok()), Some(&1));
        assert_eq!(r.targets().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(r.values().copied().collect::<Vec<_>>(), [1, 3]);
        assert_eq!(
            r.errors().map(CollectorError::key).collect::<Vec<_>>(),
            ["b"]
        );
        assert!(r.get("c").is_some_and(Result::is_ok));
        assert!(r.get("zz").is_none());
        assert_eq!(r.unmatched(), ["ghost"]);
        assert_eq!(r.into_results().len(), 3);
    }

    #[test]
    fn nowhere_is_not_all_ok() {
        let r: Results<()> = Results::new(Vec::new(), vec!["k".into()]);
        assert!(!r.is_delivered());
        assert!(!r.all_ok());
        assert!(r.first().is_none());
        assert!(!r.is_abandoned());
        assert!(Results::<()>::abandoned().is_abandoned());
    }
}
