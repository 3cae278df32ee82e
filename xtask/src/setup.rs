//! Prerequisites a fresh Debian machine lacks, installed on demand: the
//! wasm32-wasip2 Rust target, the system packages the tests drive, and the
//! Python packages of the signature interoperability test.

use crate::workspace::run;
use anyhow::{Result, bail};
use std::process::Command;

/// Debian packages the project needs at run or test time, with a command
/// that proves each is present: git (fixture repositories and
/// `git http-backend` for the smart-HTTP tests), Chromium (session
/// browsers), OpenSSH's server and `ssh-keygen` (the SSH remote of the
/// code-loop tests).
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("git", "git"),
    ("chromium", "chromium"),
    ("openssh-server", "/usr/sbin/sshd"),
    ("openssh-client", "ssh-keygen"),
];

/// Python packages the tests use: an independent cosign implementation
/// (`tests/interop/cosign_interop.py`) checks Helmdeck's signatures and keys.
const PYTHON_PACKAGES: &[(&str, &str)] = &[("cryptography", "cryptography"), ("pynacl", "nacl")];

/// Everything `run` and `test` need.
pub fn ensure_all() -> Result<()> {
    ensure_wasm_target()?;
    ensure_system_packages()?;
    ensure_python_packages()?;
    ensure_sshd_runtime_dir()
}

/// `python3 -m pip install` the [`PYTHON_PACKAGES`] that do not import.
fn ensure_python_packages() -> Result<()> {
    let missing =
        missing(PYTHON_PACKAGES, |module| Command::new("python3").args(["-c", &format!("import {module}")]).output());
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("==> installing Python packages: {}", missing.join(" "));
    run(Command::new("python3").args(["-m", "pip", "install", "--quiet"]).args(&missing))
}

/// The packages of `(package, probe)` pairs whose probe command runs and fails.
fn missing<'a>(
    packages: &[(&'a str, &str)],
    probe: impl Fn(&str) -> std::io::Result<std::process::Output>,
) -> Vec<&'a str> {
    packages.iter().filter(|(_, p)| probe(p).is_ok_and(|o| !o.status.success())).map(|(package, _)| *package).collect()
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
    let missing =
        missing(SYSTEM_PACKAGES, |probe| Command::new("sh").args(["-c", &format!("command -v {probe}")]).output());
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
