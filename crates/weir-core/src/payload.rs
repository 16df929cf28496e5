//! Raw message payloads: bytes, an optional key, and headers.

use std::sync::Arc;

use bytes::Bytes;

/// Message headers: an ordered list of `(name, value)` pairs; names may repeat.
///
/// Most messages carry none, so no headers cost one null pointer: cloning,
/// moving and dropping them is free. Headers that are there are shared:
/// cloning them (as a broker does for every reader of a message) is a
/// reference count increment; changing a clone copies the pairs first.
///
/// ```
/// use weir_core::Headers;
/// let h = Headers::new().with("trace-id", "abc").with("attempt", "2");
/// assert_eq!(h.get("attempt").map(|v| &v[..]), Some(&b"2"[..]));
/// ```
// Behind an `Arc` on purpose: one pointer instead of a `Vec`'s three keeps
// every payload (and every message moved through a pipeline) small, and
// cloning it allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Option<Arc<Vec<(String, Bytes)>>>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(None)
    }

    fn pairs(&self) -> &[(String, Bytes)] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// These headers with one more pair appended.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.insert(name, value);
        self
    }

    /// Appends a pair.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Bytes>) {
        Arc::make_mut(self.0.get_or_insert_with(Arc::default)).push((name.into(), value.into()));
    }

    /// The last value stored under `name`.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.pairs()
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Removes every pair named `name`.
    pub fn remove(&mut self, name: &str) {
        let Some(pairs) = &mut self.0 else {
            return;
        };
        if pairs.iter().any(|(n, _)| n == name) {
            let pairs = Arc::make_mut(pairs);
            pairs.retain(|(n, _)| n != name);
            if pairs.is_empty() {
                self.0 = None;
            }
        }
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.pairs().iter().map(|(n, v)| (n.as_str(), v))
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// Bytes taken by names and values, for size limits.
    pub fn byte_size(&self) -> usize {
        self.pairs().iter().map(|(n, v)| n.len() + v.len()).sum()
    }
}

impl<N: Into<String>, V: Into<Bytes>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let pairs: Vec<(String, Bytes)> = iter
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        Headers((!pairs.is_empty()).then(|| Arc::new(pairs)))
    }
}

/// What a broker stores for one message: the value bytes, an optional key
/// (used to choose a partition and, by keyed strategies, to order work) and headers.
///
/// ```
/// use weir_core::Payload;
/// let p = Payload::new("hello").with_key("user-1").with_header("kind", "greeting");
/// assert_eq!(&p.value[..], b"hello");
/// assert_eq!(p.key.as_deref(), Some(&b"user-1"[..]));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value bytes (may be empty).
    pub value: Bytes,
    /// The headers.
    pub headers: Headers,
}

impl Payload {
    /// A payload with this value, no key and no headers.
    pub fn new(value: impl Into<Bytes>) -> Self {
        Payload {
            key: None,
            value: value.into(),
            headers: Headers::new(),
        }
    }

    /// This payload with a key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// This payload with one more header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// This payload with these headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Bytes this payload takes: value, key and headers.
    pub fn byte_size(&self) -> usize {
        self.value.len() + self.key.as_ref().map_or(0, Bytes::len) + self.headers.byte_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_headers_take_one_pointer() {
        assert_eq!(std::mem::size_of::<Headers>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn clones_share_the_pairs_until_one_changes() {
        let a = Headers::new().with("a", "1");
        let mut b = a.clone();
        assert_eq!(
            a.iter().next().map(|(n, _)| n.as_ptr()),
            b.iter().next().map(|(n, _)| n.as_ptr()),
            "a clone shares the pairs"
        );
        b.insert("b", "2");
        b.remove("a");
        assert_eq!(a.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(b.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["b"]);
        let mut c = a.clone();
        c.remove("missing");
        assert_eq!(c, a);
    }

    #[test]
    fn removing_the_last_pair_equals_no_headers() {
        let mut h = Headers::new().with("a", "1").with("b", "2").with("a", "3");
        assert_eq!((h.len(), h.byte_size()), (3, 6));
        assert_eq!(h.get("a").map(|v| &v[..]), Some(&b"3"[..]));
        h.remove("a");
        assert_eq!(h.iter().map(|(n, _)| n).collect::<Vec<_>>(), vec!["b"]);
        h.remove("b");
        assert!(h.is_empty());
        assert_eq!(h, Headers::new());
        let none: Headers = std::iter::empty::<(String, Bytes)>().collect();
        assert_eq!(none, Headers::new());
    }
}
