//! Printing an error with every cause in its chain.
//!
//! Weir's errors say only their own part in `Display` and leave the cause to
//! [`source`](std::error::Error::source), so a reporter that walks the
//! chain prints each cause once. [`ErrorReport`] is such a reporter, for a
//! log line or a test.

use std::error::Error;
use std::fmt;

/// An error and its causes, printed outermost first and joined by `": "`.
///
/// ```
/// use weir_core::{BrokerError, ErrorReport};
/// let e = BrokerError::backend("redis", std::io::Error::other("connection reset"));
/// assert_eq!(e.to_string(), "redis error");
/// assert_eq!(ErrorReport::new(&e).to_string(), "redis error: connection reset");
/// assert_eq!(ErrorReport::new(&e).messages(), ["redis error", "connection reset"]);
/// ```
#[derive(Clone, Copy)]
pub struct ErrorReport<'a> {
    error: &'a (dyn Error + 'static),
}

impl<'a> ErrorReport<'a> {
    /// A report of `error` and its causes.
    pub fn new(error: &'a (dyn Error + 'static)) -> Self {
        ErrorReport { error }
    }

    /// The error and its causes, outermost first.
    pub fn causes(&self) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
        std::iter::successors(Some(self.error), |e: &&'a (dyn Error + 'static)| {
            (*e).source()
        })
    }

    /// Each one's message, outermost first.
    pub fn messages(&self) -> Vec<String> {
        self.causes().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.causes().enumerate() {
            if i > 0 {
                f.write_str(": ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
