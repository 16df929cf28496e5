//! What a handler receives: the decoded value and its envelope.

use bytes::Bytes;
use weir_core::Headers;

/// A message a consumer decoded for its handler.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Received<T> {
    /// The decoded value.
    pub value: T,
    /// The message key, if it had one.
    pub key: Option<Bytes>,
    /// The message headers (the correlation id of a request among them).
    pub headers: Headers,
}

impl<T> Received<T> {
    pub(crate) fn new(value: T, key: Option<Bytes>, headers: Headers) -> Self {
        Received {
            value,
            key,
            headers,
        }
    }

    /// The value, without the envelope.
    pub fn into_value(self) -> T {
        self.value
    }

    /// A header's value as text, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}
