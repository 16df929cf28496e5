//! `cargo xtask bench [NAME]`: run benchmark suites.

use std::process::Command;

use crate::run::{status, workspace_root};
use crate::services;

pub fn run(name: Option<&str>) -> Result<(), String> {
    let env = services::install_all()?;
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root())
        .args(["bench", "-p", "weir-benches"])
        .envs(env.iter().cloned());
    if let Some(name) = name {
        cmd.args(["--bench", name]);
    }
    status(&mut cmd)
}
