//! Support for the marketplace end-to-end tests: the real `helmdeck`
//! binary on a temporary data directory ([`Host`]), a catalog directory
//! served over HTTP on 127.0.0.1 ([`CatalogServer`]), a pack built from
//! `helmdeck pack new` for wasm32-wasip2 ([`greeter`]), and the Python
//! cosign implementation ([`python_interop`]).
//!
//! Kept small and separate: a shared `TestServer` may replace [`Host`].

use crate::prebuilt::workspace_root;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The password every test key is encrypted with.
pub const KEY_PASSWORD: &str = "correct horse battery staple";

/// `cargo` as the test runner was started with.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The `helmdeck` binary of this test run ([`crate::prebuilt`]).
pub fn helmdeck() -> &'static Path {
    crate::helmdeck_bin()
}

/// A `helmdeck` data directory, and the server running on it once [`Host::serve`] was called.
pub struct Host {
    pub data: tempfile::TempDir,
    server: Option<Child>,
    pub url: String,
    token: String,
}

impl Host {
    /// A fresh data directory.
    pub fn new() -> Host {
        Host { data: tempfile::tempdir().expect("temp dir"), server: None, url: String::new(), token: String::new() }
    }

    /// `helmdeck --data-dir DATA args…` with `envs`, stdin closed (no prompts).
    pub fn cli_with(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(helmdeck());
        cmd.arg("--data-dir").arg(self.data.path()).args(args).stdin(Stdio::null());
        cmd.env("HELMDECK_SIGNING_KEY_PASSWORD", KEY_PASSWORD).env_remove("HELMDECK_REQUIRE_SIGNED");
        cmd.envs(envs.iter().copied());
        cmd.output().expect("running helmdeck")
    }

    /// [`Host::cli_with`] without extra environment.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(args, &[])
    }

    /// [`Host::cli`], but killed if it has not finished within `limit`
    /// (then `None`): for a command that must fail fast rather than hang.
    pub fn cli_within(&self, args: &[&str], limit: Duration) -> Option<Output> {
        let mut cmd = Command::new(helmdeck());
        cmd.arg("--data-dir").arg(self.data.path()).args(args).stdin(Stdio::null());
        cmd.env("HELMDECK_SIGNING_KEY_PASSWORD", KEY_PASSWORD).env_remove("HELMDECK_REQUIRE_SIGNED");
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("running helmdeck");
        let deadline = Instant::now() + limit;
        while child.try_wait().expect("waiting for helmdeck").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(child.wait_with_output().expect("reading helmdeck's output"))
    }

    /// Run a CLI command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "helmdeck {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Start `helmdeck serve` on a free loopback port with `envs` and wait
    /// until it answers; an admin token is issued for [`Host::call`].
    pub fn serve(&mut self, args: &[&str], envs: &[(&str, &str)]) {
        let log = std::fs::File::create(self.data.path().join("serve.log")).expect("log file");
        let mut cmd = Command::new(helmdeck());
        cmd.arg("--data-dir").arg(self.data.path()).args(["serve", "--listen", "127.0.0.1:0"]).args(args);
        cmd.envs(envs.iter().copied()).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        self.server = Some(cmd.spawn().expect("spawning helmdeck serve"));
        let info = self.data.path().join("server.json");
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Ok(text) = std::fs::read_to_string(&info)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                self.url = v["url"].as_str().unwrap_or_default().to_owned();
                break;
            }
            if let Some(status) = self.server.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("helmdeck serve exited with {status}:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "helmdeck serve did not start:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        let token = self.ok(&["token", "issue", "--subject", "e2e", "--scope", "admin"]);
        self.token = token.trim().to_owned();
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("serve.log")).unwrap_or_default()
    }

    /// `METHOD /path` with the admin token and a JSON body: status and JSON answer.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let mut req = client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request reaches the server");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Call tool `tool` over REST.
    pub async fn call(&self, tool: &str, input: serde_json::Value) -> (u16, serde_json::Value) {
        self.request(reqwest::Method::POST, &format!("/api/v1/packs/{tool}"), Some(input)).await
    }

    /// Every file under the data directory's `packs/` with its size: what
    /// "nothing was installed" compares.
    pub fn pack_files(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        walk(&self.data.path().join("packs"), &mut out);
        out.sort();
        out
    }
}

impl Default for Host {
    fn default() -> Self {
        Host::new()
    }
}

fn walk(dir: &Path, out: &mut Vec<(String, u64)>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push((path.display().to_string(), entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory served over HTTP on 127.0.0.1 (a catalog, as a static file
/// server would), plus `/endless`: a body of zeros that never ends (a
/// hostile catalog's manifest or component).
pub struct CatalogServer {
    pub url: String,
    _runtime: tokio::runtime::Runtime,
}

impl CatalogServer {
    /// Serve `root` on a free port of 127.0.0.1.
    pub fn start(root: &Path) -> CatalogServer {
        CatalogServer::start_on(root, std::net::Ipv4Addr::LOCALHOST)
    }

    /// Serve `root` on a free port of the loopback address `ip` (`127.0.0.2`:
    /// a real destination an allowlist must open before it is reached).
    pub fn start_on(root: &Path, ip: std::net::Ipv4Addr) -> CatalogServer {
        assert!(ip.is_loopback(), "test servers listen on loopback only, not {ip}");
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let root = root.to_path_buf();
        let listener = runtime.block_on(tokio::net::TcpListener::bind((ip, 0))).expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let app =
            axum::Router::new().route("/endless", axum::routing::get(endless)).fallback(move |uri: axum::http::Uri| {
                let root = root.clone();
                async move { serve_file(&root, uri.path()).await }
            });
        runtime.spawn(async move { axum::serve(listener, app).await });
        CatalogServer { url, _runtime: runtime }
    }
}

/// Zeros, 64 KiB at a time, until the client hangs up.
async fn endless() -> axum::body::Body {
    let chunk = axum::body::Bytes::from(vec![0u8; 64 << 10]);
    axum::body::Body::from_stream(futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone())))
}

async fn serve_file(root: &Path, path: &str) -> (axum::http::StatusCode, Vec<u8>) {
    let relative = path.trim_start_matches('/');
    if relative.split('/').any(|part| part == "..") {
        return (axum::http::StatusCode::BAD_REQUEST, Vec::new());
    }
    match tokio::fs::read(root.join(relative)).await {
        Ok(bytes) => (axum::http::StatusCode::OK, bytes),
        Err(_) => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
    }
}

/// The directory [`greeter`] makes version `version` in, under `parent`.
pub fn greeter_dir(parent: &Path, version: &str) -> PathBuf {
    parent.join(format!("mk-greeter-{version}"))
}

/// A pack directory (manifest + component) of `mk-greeter` at `version`,
/// made the way `docs/writing-a-pack.md` says: `helmdeck pack new`, edit,
/// `cargo build --release --target wasm32-wasip2`, copy the component
/// beside the manifest. Its `greet` tool answers `"{greeting}, NAME!"`;
/// with `uses_http`, a name starting with `http` is fetched instead, so
/// the component imports `helmdeck:host/http` (its manifest still requests nothing).
pub fn greeter(parent: &Path, version: &str, greeting: &str, uses_http: bool) -> Result<PathBuf> {
    let dir = greeter_dir(parent, version);
    let sdk = workspace_root().join("sdk-guest");
    let out = Command::new(helmdeck())
        .args(["pack", "new", "mk-greeter", "--path"])
        .arg(&dir)
        .arg("--sdk")
        .arg(&sdk)
        .output()?;
    if !out.status.success() {
        bail!("pack new failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    edit(&dir.join("Cargo.toml"), "version = \"0.1.0\"", &format!("version = \"{version}\""))?;
    edit(&dir.join("helmdeck-pack.yaml"), "version: 0.1.0", &format!("version: {version}"))?;
    edit(&dir.join("helmdeck-pack.yaml"), "Hello, Ada!", &format!("{greeting}, Ada!"))?;
    edit(&dir.join("src/lib.rs"), "\"Hello, {}!\"", &format!("\"{greeting}, {{}}!\""))?;
    if uses_http {
        let fetch = "if input.name.starts_with(\"http\") {\n            \
                     let status = helmdeck_sdk::http::Request::get(&input.name).send()?.status;\n            \
                     return Ok(GreetOutput { greeting: status.to_string() });\n        }\n        Ok(GreetOutput";
        edit(&dir.join("src/lib.rs"), "Ok(GreetOutput", fetch)?;
    }
    // The workspace's lock file pins the same dependency versions, so the
    // shared target directory's builds of them are reused.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))?;
    let status = cargo()
        .args(["build", "--release", "--target", "wasm32-wasip2", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .status()?;
    if !status.success() {
        bail!("building mk-greeter {version} failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| dir.join("target"));
    // Copied at once: the next build of another version writes the same path.
    std::fs::copy(target.join("wasm32-wasip2/release/mk_greeter.wasm"), dir.join("mk_greeter.wasm"))?;
    Ok(dir)
}

fn edit(path: &Path, from: &str, to: &str) -> Result<()> {
    let text = std::fs::read_to_string(path)?;
    if !text.contains(from) {
        bail!("{} does not contain {from:?}", path.display());
    }
    std::fs::write(path, text.replacen(from, to, 1))?;
    Ok(())
}

/// Run `tests/interop/cosign_interop.py` with the test virtualenv's Python
/// (`cryptography` + `pynacl`, installed by `cargo xtask setup`).
pub fn python_interop(args: &[&str]) -> Output {
    Command::new(crate::mcp_support::python())
        .arg(workspace_root().join("tests/interop/cosign_interop.py"))
        .args(args)
        .output()
        .expect("running the test virtualenv's python")
}
