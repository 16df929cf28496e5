//! `cargo xtask test`: install what the tests need, check the code's shape
//! (clippy, rustdoc), then run every test and a short run of each fuzz
//! target.

use std::process::Command;

use crate::run::{status, workspace_root};
use crate::{fuzz, services};

/// Packages with no tests of their own whose dev-dependencies (the benchmark
/// peers) would only lengthen the build: `cargo xtask bench` builds them.
const NOT_TESTED: &[&str] = &["weir-benches", "xtask"];

/// Packages clippy skips. The benches' peers (`sentry_arroyo` with its own
/// rdkafka and librdkafka, apalis, ...) would double the build of every run
/// for code that `cargo xtask bench` compiles anyway.
const NOT_LINTED: &[&str] = &["weir-benches"];

pub fn run(extra: &[String]) -> Result<(), String> {
    let env = services::install_all()?;
    let root = workspace_root();
    let cargo = |args: &[&str]| {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&root).args(args).envs(env.iter().cloned());
        cmd
    };
    if extra.is_empty() {
        // The shape checks come first: they fail in seconds, the suite in minutes.
        status(
            cargo(&["clippy", "--workspace", "--all-targets", "--all-features"])
                .args(NOT_LINTED.iter().flat_map(|p| ["--exclude", p]))
                .args(["--", "-D", "warnings"]),
        )?;
        // Broken intra-doc links and malformed docs fail the run too.
        status(
            cargo(&["doc", "--workspace", "--no-deps", "--all-features"])
                .args(NOT_TESTED.iter().flat_map(|p| ["--exclude", p]))
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
    }
    status(
        cargo(&[
            "nextest",
            "run",
            "--workspace",
            "--all-features",
            "--no-fail-fast",
        ])
        .args(NOT_TESTED.iter().flat_map(|p| ["--exclude", p]))
        .args(extra),
    )?;
    if extra.is_empty() {
        // nextest does not run doc tests; the crate docs' examples are tests too.
        status(
            cargo(&["test", "--workspace", "--all-features", "--doc"])
                .args(NOT_TESTED.iter().flat_map(|p| ["--exclude", p])),
        )?;
        // A few seconds of each fuzz target: the parsers still refuse
        // garbage without panicking (`cargo xtask fuzz` runs long).
        fuzz::run(None, fuzz::QUICK_SECONDS)?;
    }
    Ok(())
}
