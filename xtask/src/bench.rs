//! `cargo xtask bench [NAME]`: run benchmark suites.
//!
//! A suite installs only the services it starts (all of them when every
//! suite runs, or for a suite this file does not know).

use std::process::Command;

use crate::run::{status, workspace_root};
use crate::services;

/// The services a suite starts, by name; `None` for a suite not listed here.
fn services_of(suite: &str) -> Option<&'static [&'static str]> {
    match suite {
        "memory" | "strategies" | "collector" => Some(&[]),
        "redis" | "tasks" => Some(&["redis"]),
        "kafka" => Some(&["kafka"]),
        _ => None,
    }
}

pub fn run(name: Option<&str>) -> Result<(), String> {
    let env = match name.and_then(services_of) {
        Some(needed) => services::install_only(needed)?,
        None => services::install_all()?,
    };
    let mut cmd = Command::new("cargo");
    cmd.current_dir(workspace_root())
        .args(["bench", "-p", "weir-benches"])
        .envs(env.iter().cloned());
    if let Some(name) = name {
        cmd.args(["--bench", name]);
    }
    status(&mut cmd)
}
