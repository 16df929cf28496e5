//! Cross-crate integration tests for Weir live in this package's `tests/` folder.
