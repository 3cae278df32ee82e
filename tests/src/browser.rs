//! Support for the browser tests: a running `helmdeck serve` (the binary and
//! packs of [`crate::prebuilt`]) with the `browser` and `web` packs
//! installed, and [`crate::site`], the fixture site the browser visits.
//!
//! The server allow-lists `fixture.localhost` and `other.localhost` only:
//! the guard resolves `*.localhost` to loopback without DNS, so the fixture
//! (on 127.0.0.1) is reachable by those names (two sites for the tests)
//! while `127.0.0.1`, `169.254.169.254` and every other refused address
//! stay refused.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The host name the fixture site is reached by (allow-listed).
pub const FIXTURE_HOST: &str = "fixture.localhost";

/// A second allow-listed name for the same fixture: another site to the browser.
pub const OTHER_HOST: &str = "other.localhost";

/// A running `helmdeck serve` with the browser and web packs installed,
/// stopped (gracefully, so its browsers stop too) when dropped.
pub struct Server {
    child: Child,
    data: tempfile::TempDir,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A token with every scope.
    pub token: String,
    client: reqwest::Client,
}

/// A REST answer: status and JSON body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// The tool output of a successful call (panics with the body otherwise).
    pub fn output(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success, got {}", self.body);
        &self.body["output"]
    }

    /// The error code of a failed request (panics on success).
    pub fn code(&self) -> &str {
        assert_ne!(self.status, 200, "expected an error, got {}", self.body);
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The error message of a failed request.
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or_default()
    }
}

/// How to start a [`Server`] beyond the defaults.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Fixture packs (`tests/fixtures/<dir>`) installed beside `browser` and `web`.
    pub fixtures: Vec<&'static str>,
    /// Lines of the server's TOML configuration file (`browser_warm = 2`).
    pub config: Vec<String>,
}

impl Server {
    /// Install the packs into a fresh data directory and start serving.
    pub async fn start() -> Result<Server> {
        Server::start_with(Options::default()).await
    }

    /// [`Server::start`] with `options`.
    pub async fn start_with(options: Options) -> Result<Server> {
        // The first use builds the binary and the packs: off the runtime.
        tokio::task::spawn_blocking(crate::prebuilt::prebuilt).await?;
        let data = tempfile::tempdir()?;
        std::fs::write(data.path().join("helmdeck.toml"), options.config.join("\n"))?;
        let packs = ["browser", "web"].map(|p| &crate::builtin_pack(p).dir);
        let fixtures = options.fixtures.iter().map(|p| &crate::fixture_pack(p).dir);
        for pack in packs.into_iter().chain(fixtures) {
            let out = helmdeck(data.path()).args(["pack", "install", "--yes"]).arg(pack).output()?;
            if !out.status.success() {
                bail!("installing {}: {}", pack.display(), String::from_utf8_lossy(&out.stderr));
            }
        }
        let child = serve(data.path())?;
        let url = wait_for_server(data.path(), child.id()).await?;
        let out = helmdeck(data.path()).args(["token", "issue", "--subject", "tester", "--scope", "admin"]).output()?;
        let token = String::from_utf8(out.stdout)?.trim().lines().last().unwrap_or_default().to_owned();
        Ok(Server { child, data, url, token, client: reqwest::Client::new() })
    }

    /// Start `helmdeck serve` again on the same data directory (after
    /// [`Server::kill_hard`]) and wait until it answers `/readyz`.
    pub async fn restart(&mut self) -> Result<()> {
        self.child = serve(self.data.path())?;
        self.url = wait_for_server(self.data.path(), self.child.id()).await?;
        let ready = crate::wait_until(|| async {
            let answer = self.client.get(format!("{}/readyz", self.url)).send().await;
            Ok(answer.is_ok_and(|r| r.status().is_success()))
        })
        .await?;
        if !ready {
            bail!("the restarted server never became ready");
        }
        Ok(())
    }

    /// The server's process id (it leads a session of its own, so every
    /// process it starts carries this session id unless it leaves it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token for another subject with the default scopes.
    pub fn token_for(&self, subject: &str) -> Result<String> {
        let out = helmdeck(self.data.path()).args(["token", "issue", "--subject", subject]).output()?;
        Ok(String::from_utf8(out.stdout)?.trim().lines().last().unwrap_or_default().to_owned())
    }

    /// `method path` with an optional JSON body, as the admin token.
    pub async fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Answer> {
        let mut req = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    /// Call `tool` with `input`.
    pub async fn call(&self, tool: &str, input: Value) -> Result<Answer> {
        self.request(reqwest::Method::POST, &format!("/api/v1/packs/{tool}"), Some(input)).await
    }

    /// Call `tool` in session `session`.
    pub async fn call_in(&self, session: &str, tool: &str, mut input: Value) -> Result<Answer> {
        input["_session_id"] = json!(session);
        self.call(tool, input).await
    }

    /// Open a session; returns its id.
    pub async fn session(&self) -> Result<String> {
        let created = self.request(reqwest::Method::POST, "/api/v1/sessions", Some(json!({}))).await?;
        Ok(created.body["id"].as_str().context("session id")?.to_owned())
    }

    /// Bytes at `url` (absolute), without a token.
    pub async fn fetch_public(&self, url: &str) -> Result<(u16, Vec<u8>)> {
        let response = self.client.get(url).send().await?;
        Ok((response.status().as_u16(), response.bytes().await?.to_vec()))
    }

    /// An artifact's bytes over the authenticated route.
    pub async fn artifact(&self, id: &str) -> Result<Vec<u8>> {
        let response =
            self.client.get(format!("{}/api/v1/artifacts/{id}", self.url)).bearer_auth(&self.token).send().await?;
        if !response.status().is_success() {
            bail!("artifact {id}: {}", response.status());
        }
        Ok(response.bytes().await?.to_vec())
    }

    /// The browser pool's state (`GET /api/v1/browsers`).
    pub async fn browsers(&self) -> Result<Value> {
        Ok(self.request(reqwest::Method::GET, "/api/v1/browsers", None).await?.body)
    }

    /// How many requests the browsers sent to a URL ending in `suffix`, by
    /// the `browser.request` audit records of the session proxies.
    pub async fn requests_to(&self, suffix: &str) -> Result<usize> {
        let records = self.audit("capability=browser.request&limit=1000").await?;
        Ok(records.iter().filter(|r| r["target"].as_str().is_some_and(|t| t.ends_with(suffix))).count())
    }

    /// The URL of every page open in the pool's browsers, read from each
    /// browser's own DevTools endpoint (`/json/list`), not from Helmdeck.
    pub async fn open_pages(&self) -> Result<Vec<String>> {
        let mut urls = Vec::new();
        for pid in self.browsers().await?["instances"].as_array().context("browser instances")? {
            let port = crate::endpoints::devtools_port(pid.as_str().context("browser pid")?)?;
            let targets: Value =
                self.client.get(format!("http://127.0.0.1:{port}/json/list")).send().await?.json().await?;
            for target in targets.as_array().context("/json/list")? {
                if target["type"] == "page" {
                    urls.push(target["url"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
        Ok(urls)
    }

    /// Audit records matching `query` (`capability=browser.request&decision=deny`).
    pub async fn audit(&self, query: &str) -> Result<Vec<Value>> {
        let answer = self.request(reqwest::Method::GET, &format!("/api/v1/audit?{query}"), None).await?;
        Ok(answer.body["records"].as_array().cloned().unwrap_or_default())
    }

    /// The data directory (browser profiles live under `browsers/`).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }
}

fn helmdeck(data: &Path) -> Command {
    let mut cmd = Command::new(crate::helmdeck_bin());
    cmd.arg("--data-dir")
        .arg(data)
        .env("HELMDECK_EGRESS_ALLOWLIST", format!("{FIXTURE_HOST},{OTHER_HOST}"))
        .env("HELMDECK_CONFIG", data.join("helmdeck.toml"))
        .env_remove("HELMDECK_JWT_SECRET");
    cmd
}

/// `helmdeck serve` on `data`, in a session of its own.
fn serve(data: &Path) -> Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut cmd = helmdeck(data);
    cmd.args(["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::inherit());
    // SAFETY: setsid is async-signal-safe and touches nothing but this process.
    unsafe {
        cmd.pre_exec(|| rustix::process::setsid().map(drop).map_err(std::io::Error::from));
    }
    Ok(cmd.spawn()?)
}

/// The URL of the server with process id `pid`, once its `server.json`
/// names it (a killed server's file may linger) and `/healthz` answers.
async fn wait_for_server(data: &Path, pid: u32) -> Result<String> {
    let info = data.join("server.json");
    let started = Instant::now();
    loop {
        let found = std::fs::read_to_string(&info).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
        if let Some(v) = found.filter(|v| v["pid"] == pid) {
            return Ok(v["url"].as_str().unwrap_or_default().to_owned());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("helmdeck serve did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Server {
    /// Kill the server process with SIGKILL (no shutdown code runs), as the
    /// OOM killer or an operator would, and wait for it to be gone.
    pub fn kill_hard(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM lets serve stop its browsers; SIGKILL only if it hangs.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A killed server leaves its browsers; any local command on the data
        // directory reaps them (Helmdeck::open stops orphaned browsers).
        let _ = helmdeck(self.data.path()).args(["pack", "list"]).output();
    }
}
