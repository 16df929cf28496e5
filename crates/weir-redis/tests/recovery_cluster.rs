//! The recovery tests of `recovery.rs` on a local 3-master Redis Cluster
//! per test (this target's name tells `common` to start one). Tests that
//! need a server of their own (a password, an unreachable port) run on one
//! server here too.

#[path = "recovery.rs"]
mod recovery;
