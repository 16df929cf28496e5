//! The conformance suite of `conformance.rs` on a local 3-master Redis
//! Cluster per test (this target's name tells `common` to start one).

#[path = "conformance.rs"]
mod conformance;
