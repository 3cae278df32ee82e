//! [`TestServer`]: the real `helmdeck serve` on a free loopback port with
//! its own temporary data directory, an admin token issued by the real CLI,
//! and a client that sends it. The process is killed when the value is
//! dropped (its log is printed when the test is failing).

use crate::api::ApiResponse;
use crate::cli::{CliOutput, Helmdeck};
use crate::prebuilt::BuiltPack;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a server may take to come up before the test gives up on it.
/// A guard against hanging, not a performance bound.
const STARTUP_DEADLINE: Duration = Duration::from_secs(120);
/// How long a graceful stop may take before the process is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// A temporary directory holding a data directory (`data/`) and the server
/// logs (`serve-<n>.log`). Outlives a server so another can start on it.
#[derive(Debug)]
pub struct DataDir {
    temp: TempDir,
}

impl DataDir {
    /// A fresh, empty one.
    pub fn new() -> Result<DataDir> {
        Ok(DataDir { temp: tempfile::Builder::new().prefix("helmdeck-e2e-").tempdir()? })
    }

    /// A fresh, empty one under `parent` (a data directory outside `/tmp`,
    /// where an operator's usually is).
    pub fn new_in(parent: &Path) -> Result<DataDir> {
        Ok(DataDir { temp: tempfile::Builder::new().prefix("helmdeck-e2e-").tempdir_in(parent)? })
    }

    /// The data directory (`--data-dir`).
    pub fn path(&self) -> PathBuf {
        self.temp.path().join("data")
    }

    /// What the `n`th server started on this directory logged (from 1).
    pub fn serve_log(&self, n: usize) -> String {
        std::fs::read_to_string(self.temp.path().join(format!("serve-{n}.log"))).unwrap_or_default()
    }

    fn next_log(&self) -> PathBuf {
        (1..).map(|n| self.temp.path().join(format!("serve-{n}.log"))).find(|p| !p.exists()).unwrap_or_default()
    }
}

/// How to start a [`TestServer`].
#[derive(Debug, Default)]
pub struct ServerBuilder {
    env: Vec<(String, String)>,
    data: Option<DataDir>,
    resolv_conf: Option<PathBuf>,
}

impl ServerBuilder {
    /// Set an environment variable for the server and every CLI command run
    /// through it (`HELMDECK_EGRESS_ALLOWLIST`, ...).
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Start on an existing data directory (a restart) instead of a new one.
    pub fn data_dir(mut self, data: DataDir) -> Self {
        self.data = Some(data);
        self
    }

    /// Run the server in a private mount namespace whose `/etc/resolv.conf`
    /// is `file` (a [`crate::dns::DnsRecorder`]'s), so its system resolver
    /// asks that DNS server. The binary is unchanged: this is the real
    /// resolver reading a real configuration.
    pub fn resolv_conf(mut self, file: &Path) -> Self {
        self.resolv_conf = Some(file.to_owned());
        self
    }

    /// Start `helmdeck serve --listen 127.0.0.1:0`, wait until it answers
    /// `/healthz`, and issue its admin token.
    pub async fn start(self) -> Result<TestServer> {
        let data = match self.data {
            Some(d) => d,
            None => DataDir::new()?,
        };
        let cli = Helmdeck::new(data.path(), &self.env);
        let log = data.next_log();
        let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = cli.std_command();
        cmd.args(["serve", "--listen", "127.0.0.1:0"]).stdout(log_file.try_clone()?).stderr(log_file);
        if let Some(file) = &self.resolv_conf {
            let file = crate::dns::c_path(file)?;
            // SAFETY: the closure only makes syscalls on data prepared before the fork.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || crate::dns::private_resolv_conf(&file));
            }
        }
        let child = cmd.spawn().context("starting helmdeck serve")?;
        let mut server = TestServer {
            child,
            url: String::new(),
            log,
            cli,
            client: reqwest::Client::new(),
            token: String::new(),
            data: Some(data),
        };
        server.url = server.wait_until_up().await?;
        server.token = server.cli.issue_token("e2e-admin", &["admin"], "1h").await?;
        server.client = client_with_token(&server.token)?;
        Ok(server)
    }
}

/// A running `helmdeck serve`.
#[derive(Debug)]
pub struct TestServer {
    child: Child,
    url: String,
    log: PathBuf,
    cli: Helmdeck,
    client: reqwest::Client,
    token: String,
    data: Option<DataDir>,
}

impl TestServer {
    /// How to start one with a chosen environment or data directory.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// Start one with a new data directory and no extra environment.
    pub async fn start() -> Result<TestServer> {
        ServerBuilder::default().start().await
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The data directory it runs on.
    pub fn data_dir(&self) -> &Path {
        self.cli.data_dir()
    }

    /// The SQLite database of its data directory.
    pub fn database(&self) -> PathBuf {
        self.data_dir().join("helmdeck.db")
    }

    /// The admin token it was started with.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A client that sends the admin token.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The CLI on the same data directory and environment.
    pub fn cli(&self) -> &Helmdeck {
        &self.cli
    }

    /// Run `helmdeck ARGS...` against this server's data directory (pack
    /// commands then go to this server).
    pub async fn run_cli<I, S>(&self, args: I) -> Result<CliOutput>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cli.run(args).await
    }

    /// Issue a token with the real CLI: `scopes` like `["packs:call"]`, `ttl` like `"1h"`.
    pub async fn issue_token(&self, subject: &str, scopes: &[&str], ttl: &str) -> Result<String> {
        self.cli.issue_token(subject, scopes, ttl).await
    }

    /// `helmdeck pack install DIR --yes` through the CLI (which hot-loads it
    /// into this server); fails unless the install succeeded. Returns the
    /// install report.
    pub async fn install(&self, pack: &BuiltPack) -> Result<Value> {
        let out = self.cli.run(["pack".as_ref(), "install".as_ref(), "--yes".as_ref(), pack.dir.as_os_str()]).await?;
        out.success()?.json()
    }

    /// `GET path` with the admin token.
    pub async fn get(&self, path: &str) -> Result<ApiResponse> {
        self.send(self.client.get(self.at(path))).await
    }

    /// `POST path` with a JSON body and the admin token.
    pub async fn post(&self, path: &str, body: &Value) -> Result<ApiResponse> {
        self.send(self.client.post(self.at(path)).json(body)).await
    }

    /// `POST /api/v1/packs/{tool}` with `input`: one tool call.
    pub async fn call(&self, tool: &str, input: &Value) -> Result<ApiResponse> {
        self.post(&format!("/api/v1/packs/{tool}"), input).await
    }

    /// Send any request built from [`TestServer::client`] (or another client).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<ApiResponse> {
        ApiResponse::read(request.send().await.context("request to helmdeck failed")?).await
    }

    /// The absolute URL of `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Every audit record matching `query` (a query string such as
    /// `call_id=...&kind=capability`, or empty), newest first, following
    /// `next_cursor` across pages.
    pub async fn audit(&self, query: &str) -> Result<Vec<Value>> {
        let mut records = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/audit?limit=1000&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = self.get(&path).await?;
            let body = page.ok();
            records.extend(body["records"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(records),
            }
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stop gracefully (SIGTERM, as an operator would) and hand back the data
    /// directory, to inspect it or start another server on it.
    pub async fn stop(mut self) -> Result<DataDir> {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).context("sending SIGTERM")?;
        let deadline = Instant::now() + STOP_DEADLINE;
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("helmdeck serve did not stop within {STOP_DEADLINE:?} of SIGTERM:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(self.data.take().unwrap_or_else(|| unreachable!("the data directory is only taken here")))
    }

    /// Kill with SIGKILL (a crash: nothing of the server runs its shutdown)
    /// and hand back the data directory for a restart.
    pub fn kill(mut self) -> Result<DataDir> {
        self.child.kill().context("sending SIGKILL")?;
        self.child.wait()?;
        Ok(self.data.take().unwrap_or_else(|| unreachable!("the data directory is only taken here")))
    }

    async fn wait_until_up(&mut self) -> Result<String> {
        let info_path = self.data_dir().join("server.json");
        let probe = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build()?;
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("helmdeck serve exited ({status}) before answering:\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("helmdeck serve did not come up within {STARTUP_DEADLINE:?}:\n{}", self.log());
            }
            // server.json of a previous server on this data directory may linger: wait for ours.
            let info: Option<Value> = std::fs::read(&info_path).ok().and_then(|b| serde_json::from_slice(&b).ok());
            if let Some(info) = info.filter(|i| i["pid"] == self.child.id()) {
                let url = info["url"].as_str().context("server.json without url")?.to_owned();
                if probe.get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                    return Ok(url);
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- helmdeck serve log ({}) ----\n{}", self.log.display(), self.log());
        }
    }
}

/// A client for loopback (no proxy) sending `token` as bearer.
pub fn client_with_token(token: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))?;
    value.set_sensitive(true);
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(reqwest::Client::builder().no_proxy().default_headers(headers).build()?)
}
