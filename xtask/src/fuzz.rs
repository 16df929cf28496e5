//! `cargo xtask fuzz [TARGET] [--seconds N]`: runs the fuzz targets in
//! `fuzz/` with cargo-fuzz (installed when missing), each for N seconds
//! (default 300), all of them when no target is named. `cargo xtask test`
//! runs each for a few seconds.
//!
//! cargo-fuzz wants a nightly compiler; the project builds on stable, so
//! the run sets `RUSTC_BOOTSTRAP=1` (cargo-fuzz's flags are accepted by the
//! stable compiler then) and `--sanitizer none` (AddressSanitizer needs the
//! nightly `-Zsanitizer`; the fuzzed code is safe Rust, so a bug shows as a
//! panic, which libFuzzer catches as a crash). libfuzzer-sys builds
//! libFuzzer from source with the system C++ compiler. The corpus is kept
//! in `fuzz/corpus/<target>` between runs; a crash is written to
//! `fuzz/artifacts/<target>/` and fails the run: make it a regression test.

use std::process::Command;

use crate::run::{status, workspace_root};

/// Seconds per target in `cargo xtask test`: five targets stay under 30 s.
pub const QUICK_SECONDS: u64 = 4;

/// Seconds per target in `cargo xtask fuzz` without `--seconds`.
pub const LONG_SECONDS: u64 = 300;

fn cargo_fuzz() -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg("fuzz")
        .current_dir(workspace_root().join("fuzz"))
        .env("RUSTC_BOOTSTRAP", "1");
    cmd
}

/// Installs cargo-fuzz when `cargo fuzz` is not there.
fn install() -> Result<(), String> {
    let present = cargo_fuzz()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("xtask: installing cargo-fuzz");
    status(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))
}

/// The targets `fuzz/Cargo.toml` declares.
fn targets() -> Result<Vec<String>, String> {
    let out = cargo_fuzz()
        .arg("list")
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs `target` (all when `None`) for `seconds` each.
pub fn run(target: Option<&str>, seconds: u64) -> Result<(), String> {
    install()?;
    let targets = match target {
        Some(t) => vec![t.to_owned()],
        None => targets()?,
    };
    // One build for all targets, so the timed runs are runs only.
    status(cargo_fuzz().args(["build", "--sanitizer", "none"]))?;
    for t in &targets {
        eprintln!("xtask: fuzzing {t} for {seconds} s");
        status(
            cargo_fuzz()
                .args(["run", "--sanitizer", "none", t, "--"])
                .args([
                    format!("-max_total_time={seconds}"),
                    // Quiet: only the final line and any crash.
                    "-print_final_stats=0".to_owned(),
                    "-verbosity=0".to_owned(),
                ]),
        )?;
    }
    Ok(())
}
