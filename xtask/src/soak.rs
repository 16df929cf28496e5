//! `cargo xtask soak [ARGS]`: the soak run (`benches/src/bin/soak.rs`) in
//! release mode: 10M messages through a backpressured pipeline on memory,
//! 2M on Redis, printing the rate and this process's memory at 1M and at
//! the end. ARGS go to the binary (`--memory N`, `--redis N`).

use std::process::Command;

use crate::run::{status, workspace_root};
use crate::services;

pub fn run(args: &[String]) -> Result<(), String> {
    let env = services::install_all()?;
    status(
        Command::new("cargo")
            .current_dir(workspace_root())
            .args([
                "run",
                "--release",
                "-p",
                "weir-benches",
                "--bin",
                "soak",
                "--",
            ])
            .args(args)
            .envs(env.iter().cloned()),
    )
}
