//! The workspace as cargo sees it, and the cargo builds the other steps run.

use crate::BuildError;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Whether a cargo build shows its progress lines (`Compiling ...`).
/// Warnings and errors are printed either way (on stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Show cargo's progress: interactive tasks.
    Shown,
    /// `--quiet`: test support, where a fresh build would only add noise.
    Quiet,
}

/// A Cargo workspace: its root, cargo's target directory and its member
/// packages, as `cargo metadata` reports them (so `CARGO_TARGET_DIR` and
/// `.cargo/config.toml` are honoured).
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The directory of the workspace's `Cargo.toml`.
    pub root: PathBuf,
    /// Where cargo writes build output.
    pub target_dir: PathBuf,
    members: Vec<Member>,
}

/// A workspace member: its package name and directory.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
}

#[derive(Deserialize)]
struct Metadata {
    workspace_root: PathBuf,
    target_directory: PathBuf,
    packages: Vec<MetadataPackage>,
}

#[derive(Deserialize)]
struct MetadataPackage {
    name: String,
    manifest_path: PathBuf,
}

/// One `compiler-artifact` message of `cargo build --message-format json`.
#[derive(Debug, Deserialize)]
pub(crate) struct Artifact {
    pub(crate) target: ArtifactTarget,
    #[serde(default)]
    pub(crate) filenames: Vec<PathBuf>,
    #[serde(default)]
    pub(crate) executable: Option<PathBuf>,
}

/// The target an artifact was built from.
#[derive(Debug, Deserialize)]
pub(crate) struct ArtifactTarget {
    /// The target's name (a library's uses `_` where the package has `-`).
    pub(crate) name: String,
}

impl Workspace {
    /// The workspace that contains `dir`.
    pub fn locate(dir: &Path) -> Result<Workspace, BuildError> {
        let mut cmd = cargo();
        cmd.args(["metadata", "--format-version", "1", "--no-deps"]).current_dir(dir).stderr(Stdio::inherit());
        let output = cmd.output().map_err(|source| BuildError::Spawn { command: describe(&cmd), source })?;
        if !output.status.success() {
            return Err(BuildError::Failed { command: describe(&cmd), status: output.status, hint: "" });
        }
        let meta: Metadata = serde_json::from_slice(&output.stdout)
            .map_err(|e| BuildError::CargoOutput(format!("cargo metadata: {e}")))?;
        let members = meta
            .packages
            .into_iter()
            .filter_map(|p| Some(Member { name: p.name, dir: p.manifest_path.parent()?.to_path_buf() }))
            .collect();
        Ok(Workspace { root: meta.workspace_root, target_dir: meta.target_directory, members })
    }

    /// `cargo` run in the workspace root.
    pub fn cargo(&self) -> Command {
        let mut cmd = cargo();
        cmd.current_dir(&self.root);
        cmd
    }

    /// Build binary `bin` of `package` with cargo profile `profile` (`dev`,
    /// `release`) and return the executable's path. A no-op when it is fresh.
    pub fn build_binary(
        &self,
        package: &str,
        bin: &str,
        profile: &str,
        progress: Progress,
    ) -> Result<PathBuf, BuildError> {
        let args = ["--package", package, "--bin", bin, "--profile", profile];
        let artifacts = self.build(&args, progress, "")?;
        artifacts
            .into_iter()
            .filter(|a| a.target.name == bin)
            .find_map(|a| a.executable)
            .ok_or_else(|| BuildError::MissingArtifact { package: package.to_owned(), what: "executable" })
    }

    /// The members whose directory is directly inside `parent`.
    pub(crate) fn members_in<'a>(&'a self, parent: &'a Path) -> impl Iterator<Item = &'a Member> + 'a {
        self.members.iter().filter(move |m| m.dir.parent() == Some(parent))
    }

    /// `cargo build ARGS --message-format json-render-diagnostics`: the
    /// artifacts it reports (fresh ones included). `hint` is appended to the
    /// error when the build fails.
    pub(crate) fn build(
        &self,
        args: &[&str],
        progress: Progress,
        hint: &'static str,
    ) -> Result<Vec<Artifact>, BuildError> {
        let mut cmd = self.cargo();
        cmd.arg("build").args(args).args(["--message-format", "json-render-diagnostics"]);
        if progress == Progress::Quiet {
            cmd.arg("--quiet");
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let output = cmd.output().map_err(|source| BuildError::Spawn { command: describe(&cmd), source })?;
        if !output.status.success() {
            return Err(BuildError::Failed { command: describe(&cmd), status: output.status, hint });
        }
        let artifacts = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["reason"] == "compiler-artifact")
            .map(|msg| {
                serde_json::from_value::<Artifact>(msg)
                    .map_err(|e| BuildError::CargoOutput(format!("artifact message: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(artifacts)
    }
}

/// `cargo` as the caller invoked it (`$CARGO`, so the same toolchain), else
/// the one on `PATH`.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A command line for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
