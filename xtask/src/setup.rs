//! Prerequisites a fresh Debian machine lacks, installed on demand: the
//! wasm32-wasip2 Rust target, the system packages the tests drive, and the
//! Python virtualenv the MCP and signature-interoperability tests use.

use crate::workspace::run;
use anyhow::{Context, Result, bail};
use helmdeck_build::Workspace;
use std::process::Command;

/// Debian packages the project needs at run or test time, with a shell
/// command that succeeds when each is present: git (fixture repositories and
/// `git http-backend` for the smart-HTTP tests), Chromium and its headless
/// shell (session browsers run the shell when it is there), OpenSSH's server and `ssh-keygen` (the SSH remote of the
/// code-loop tests), Python with venv (the test virtualenv).
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("git", "command -v git"),
    ("chromium", "command -v chromium"),
    ("chromium-headless-shell", "command -v chromium-headless-shell"),
    ("openssh-server", "command -v /usr/sbin/sshd"),
    ("openssh-client", "command -v ssh-keygen"),
    ("python3", "command -v /usr/bin/python3"),
    // Debian splits venv/ensurepip out of python3.
    ("python3-venv", "/usr/bin/python3 -c 'import venv, ensurepip'"),
];

/// The Python the test virtualenv is made from: Debian's, which the
/// packages above install.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Everything `run` and `test` need.
pub fn ensure_all(ws: &Workspace) -> Result<()> {
    ensure_wasm_target()?;
    ensure_system_packages()?;
    ensure_sshd_runtime_dir()?;
    ensure_test_venv(ws)
}

/// The packages of `(package, probe)` pairs whose probe command runs and fails.
fn missing<'a>(packages: &[(&'a str, &str)]) -> Vec<&'a str> {
    packages
        .iter()
        .filter(|(_, probe)| Command::new("sh").args(["-c", probe]).output().is_ok_and(|o| !o.status.success()))
        .map(|(package, _)| *package)
        .collect()
}

/// sshd refuses to start without its privilege-separation directory, which
/// a fresh machine (or container) may lack; only root can make it.
fn ensure_sshd_runtime_dir() -> Result<()> {
    let dir = std::path::Path::new("/run/sshd");
    if dir.is_dir() || !is_root() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `<target>/test-venv`: a virtualenv with `tests/requirements.txt`
/// (the pinned MCP Python SDK and the interop test's crypto). A virtualenv rather than `pip install
/// --user`: Debian 12 marks its Python as externally managed (PEP 668), so
/// pip refuses to install outside a virtualenv, as root too; under the
/// target directory it needs no root, never touches system packages, and
/// goes away with `cargo clean`. Rebuilt when the requirements change.
pub fn ensure_test_venv(ws: &Workspace) -> Result<()> {
    let venv = ws.target_dir.join("test-venv");
    let requirements = ws.root.join("tests/requirements.txt");
    let wanted =
        std::fs::read_to_string(&requirements).with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    eprintln!("==> creating the test virtualenv at {}", venv.display());
    if venv.exists() {
        std::fs::remove_dir_all(&venv)?;
    }
    run(Command::new(SYSTEM_PYTHON).args(["-m", "venv"]).arg(&venv))?;
    let pip = venv.join("bin/pip");
    run(Command::new(&pip).args(["install", "--quiet", "--disable-pip-version-check", "-r"]).arg(&requirements))?;
    std::fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))
}

/// `rustup target add wasm32-wasip2` when it is missing.
pub fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    match installed {
        Ok(out) if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "wasm32-wasip2") => Ok(()),
        Ok(_) => {
            eprintln!("==> installing the wasm32-wasip2 Rust target");
            run(Command::new("rustup").args(["target", "add", "wasm32-wasip2"]))
        }
        Err(_) => bail!("rustup is not on PATH; install the wasm32-wasip2 target for your toolchain by hand"),
    }
}

fn ensure_system_packages() -> Result<()> {
    let missing = missing(SYSTEM_PACKAGES);
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing system packages: {}; install them with `sudo apt-get install {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    eprintln!("==> installing system packages: {}", missing.join(" "));
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}
