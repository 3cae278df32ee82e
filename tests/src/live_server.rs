//! The real `helmdeck` binary for the code-loop and vault tests (the binary
//! and packs of [`crate::prebuilt`]): installed into a data directory with
//! a clean environment, served on a free port, driven over REST. Every
//! response body is kept in a transcript so tests can prove a secret never
//! appeared in one.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The packs the code-loop tests use.
const PACKS: [&str; 5] = ["repo", "fs", "cmd", "git", "http"];

/// A data directory with the packs installed and two tokens issued.
pub struct Instance {
    pub data: tempfile::TempDir,
    /// Environment given to every `helmdeck` process of this instance.
    pub env: Vec<(String, String)>,
}

impl Instance {
    /// A fresh data directory; `env` goes to every process (the egress
    /// allowlist, a vault key, `HELMDECK_LOG`).
    pub fn new(env: &[(&str, &str)]) -> Result<Instance> {
        let instance = Instance {
            data: tempfile::tempdir()?,
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        for name in PACKS {
            let dir = &crate::builtin_pack(name).dir;
            let out = instance.cli(&["pack", "install", "--yes", dir.to_str().context("utf-8")?])?;
            if !out.status.success() {
                bail!("installing {name}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(instance)
    }

    /// Run `helmdeck --data-dir DATA args…` to completion.
    pub fn cli(&self, args: &[&str]) -> Result<std::process::Output> {
        self.cli_with_stdin(args, "")
    }

    /// [`Instance::cli`] with `stdin` written to the process.
    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Result<std::process::Output> {
        let mut child =
            self.command().args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
        std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, stdin.as_bytes())?;
        Ok(child.wait_with_output()?)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(crate::helmdeck_bin());
        command.arg("--data-dir").arg(self.data.path()).env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command
    }

    /// A bearer token for `subject` with `scopes` (comma-separated).
    pub fn token(&self, subject: &str, scopes: &str) -> Result<String> {
        let out = self.cli(&["token", "issue", "--subject", subject, "--scope", scopes])?;
        if !out.status.success() {
            bail!("token issue: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// Start `helmdeck serve` on a free port and wait until it listens.
    pub fn serve(&self) -> Result<LiveServer> {
        self.spawn(self.command())
    }

    /// [`Instance::serve`] in a mount namespace of its own where
    /// `/etc/resolv.conf` is `conf`: the server's system resolver then asks
    /// the name server `conf` names (a [`crate::rebinding_dns::RebindingDns`]),
    /// and nothing else on the machine notices. Needs root.
    pub fn serve_with_resolv_conf(&self, conf: &Path) -> Result<LiveServer> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::process::CommandExt;
        // Made before the fork: the child may not allocate.
        let source = std::ffi::CString::new(conf.as_os_str().as_bytes())?;
        let (root, target) = (c"/", c"/etc/resolv.conf");
        let mut command = self.command();
        // SAFETY: the closure only makes system calls on data prepared above.
        unsafe {
            command.pre_exec(move || {
                use rustix::mount::{MountPropagationFlags, mount_bind, mount_change};
                rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
                // Private first, so that the bind mount stays in this namespace.
                mount_change(root, MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
                mount_bind(source.as_c_str(), target)?;
                Ok(())
            });
        }
        self.spawn(command)
    }

    fn spawn(&self, mut command: Command) -> Result<LiveServer> {
        let mut child =
            command.args(["serve", "--listen", "127.0.0.1:0"]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn()?;
        let stderr = child.stderr.take().context("stderr")?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("listening on ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                bail!("helmdeck serve did not start: {}", log.lock().unwrap_or_else(|p| p.into_inner()));
            }
        };
        Ok(LiveServer { child, url, log, transcript: Mutex::new(Vec::new()), client: reqwest::Client::new() })
    }
}

/// A running `helmdeck serve`.
pub struct LiveServer {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
    transcript: Mutex<Vec<String>>,
    client: reqwest::Client,
}

impl LiveServer {
    /// Send `method path` with `body` as `token`; returns the status and the JSON answer.
    pub async fn send(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value)> {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        self.transcript.lock().unwrap_or_else(|p| p.into_inner()).push(text.clone());
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    /// Call tool `tool` with `input`.
    pub async fn call(&self, token: &str, tool: &str, input: Value) -> Result<(u16, Value)> {
        self.send(token, reqwest::Method::POST, &format!("/api/v1/packs/{tool}"), Some(&input)).await
    }

    /// Call `tool` and insist on success; returns `output`.
    pub async fn call_ok(&self, token: &str, tool: &str, input: Value) -> Result<Value> {
        let (status, answer) = self.call(token, tool, input).await?;
        if status != 200 {
            bail!("{tool} answered {status}: {answer}");
        }
        Ok(answer["output"].clone())
    }

    /// Every audit record, newest first (pages through the API).
    pub async fn audit(&self, admin: &str) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let (status, page) =
                self.send(admin, reqwest::Method::GET, &format!("/api/v1/audit?limit=1000{query}"), None).await?;
            if status != 200 {
                bail!("audit query answered {status}: {page}");
            }
            records.extend(page["records"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(records),
            }
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many of the server's threads are blocked opening a FIFO that no
    /// one writes to (the kernel's wait channel says so): threads a planted
    /// FIFO has pinned.
    pub fn threads_pinned_on_fifos(&self) -> usize {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid())).into_iter().flatten().flatten();
        tasks
            .filter(|task| {
                let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
                matches!(wchan.trim(), "wait_for_partner" | "fifo_open")
            })
            .count()
    }

    /// Everything the server logged to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every response body received so far.
    pub fn transcript(&self) -> Vec<String> {
        self.transcript.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stop with SIGTERM and wait.
    pub fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `needle` occurs in `haystack`, as a short report (for assertion messages).
pub fn find_secret(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Every file under `dir`, read in full (for scanning a data directory).
pub fn read_tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(path),
                Ok(t) if t.is_file() => found.push((path.clone(), std::fs::read(&path).unwrap_or_default())),
                _ => {}
            }
        }
    }
    found
}

/// The JSON body of a vault credential for `POST /api/v1/vault/credentials`.
pub fn credential(name: &str, kind: &str, hosts: &[&str], packs: &[&str], secret: Value) -> Value {
    json!({ "name": name, "kind": kind, "hosts": hosts, "packs": packs, "secret": secret })
}
