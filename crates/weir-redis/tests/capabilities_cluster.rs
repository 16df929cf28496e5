//! The job capabilities of `capabilities.rs` on a local 3-master Redis
//! Cluster per test (this target's name tells `common` to start one).

#[path = "capabilities.rs"]
mod capabilities;
