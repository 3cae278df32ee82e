//! Running the real `helmdeck` command line against a data directory, with
//! a clean environment: inherited `HELMDECK_*` variables are removed so the
//! developer's own settings never leak into a test.

use crate::prebuilt::helmdeck_bin;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

/// How to run `helmdeck`: which data directory and which extra environment.
#[derive(Debug, Clone)]
pub struct Helmdeck {
    data_dir: PathBuf,
    env: Vec<(String, String)>,
}

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// The command line, for messages.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Helmdeck {
    /// `helmdeck --data-dir DATA_DIR ...` with no `HELMDECK_*` variables but `env`.
    pub fn new(data_dir: impl Into<PathBuf>, env: &[(String, String)]) -> Helmdeck {
        Helmdeck { data_dir: data_dir.into(), env: env.to_vec() }
    }

    /// The data directory every command gets.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A `helmdeck` command with the data directory and the environment set;
    /// its standard streams are null.
    pub fn std_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(helmdeck_bin());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("HELMDECK_") {
                cmd.env_remove(name);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.arg("--data-dir").arg(&self.data_dir);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        cmd
    }

    /// [`Helmdeck::std_command`] for async use; killed if dropped while running.
    pub fn command(&self) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.std_command());
        cmd.kill_on_drop(true);
        cmd
    }

    /// Run `helmdeck ARGS...` to completion, whatever its exit status.
    pub async fn run<I, S>(&self, args: I) -> Result<CliOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let command = format!("helmdeck {}", args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "));
        let mut cmd = self.command();
        cmd.args(&args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let output = cmd.output().await.with_context(|| format!("starting `{command}`"))?;
        Ok(CliOutput {
            command,
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Run `helmdeck ARGS...` and fail unless it exits with status 0.
    pub async fn run_ok<I, S>(&self, args: I) -> Result<CliOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run(args).await?.success()
    }

    /// `helmdeck token issue --subject SUBJECT --scope SCOPES --ttl TTL`: the
    /// token it prints (the only thing on its stdout).
    pub async fn issue_token(&self, subject: &str, scopes: &[&str], ttl: &str) -> Result<String> {
        let mut args = vec!["token", "issue", "--subject", subject, "--ttl", ttl];
        let scopes = scopes.join(",");
        if !scopes.is_empty() {
            args.extend(["--scope", scopes.as_str()]);
        }
        let out = self.run_ok(args).await?;
        let token = out.stdout.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            bail!("`{}` printed more or less than one token: {:?}", out.command, out.stdout);
        }
        Ok(token.to_owned())
    }
}

impl CliOutput {
    /// Itself when the command exited with status 0, else an error with its output.
    pub fn success(self) -> Result<CliOutput> {
        if self.status.success() {
            return Ok(self);
        }
        bail!("`{}` failed ({}):\nstdout: {}\nstderr: {}", self.command, self.status, self.stdout, self.stderr)
    }

    /// The exit code (`None` when a signal ended the process).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.stdout)
            .with_context(|| format!("`{}` did not print JSON on stdout: {:?}", self.command, self.stdout))
    }
}
