//! `cargo xtask test`: install what the tests need, then run them all.

use std::process::Command;

use crate::run::{status, workspace_root};
use crate::services;

/// Packages with no tests of their own whose dev-dependencies (the benchmark
/// peers) would only lengthen the build: `cargo xtask bench` builds them.
const NOT_TESTED: &[&str] = &["weir-benches", "xtask"];

pub fn run(extra: &[String]) -> Result<(), String> {
    let env = services::install_all()?;
    let root = workspace_root();
    let mut nextest = Command::new("cargo");
    nextest
        .current_dir(&root)
        .args([
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(NOT_TESTED.iter().flat_map(|p| ["--exclude", p]))
        .args(extra)
        .envs(env.iter().cloned());
    status(&mut nextest)?;
    if extra.is_empty() {
        // nextest does not run doc tests; the crate docs' examples are tests too.
        let mut doc = Command::new("cargo");
        doc.current_dir(&root)
            .args(["test", "--workspace", "--all-features", "--doc"])
            .args(NOT_TESTED.iter().flat_map(|p| ["--exclude", p]))
            .envs(env.iter().cloned());
        status(&mut doc)?;
    }
    Ok(())
}
