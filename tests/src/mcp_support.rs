//! Support for the MCP end-to-end tests: a real `helmdeck serve` on
//! 127.0.0.1 with its own data directory (the binaries and packs of
//! [`crate::prebuilt`]), a tiny HTTP server for `http.fetch` to reach, and
//! running the Python MCP client (`tests/mcp/client.py`) in the test
//! virtualenv `cargo xtask setup` makes.

use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to start or a client run to finish.
const PATIENCE: Duration = Duration::from_secs(120);

pub use crate::prebuilt::workspace_root;

fn run(cmd: &mut Command) -> Result<Output> {
    let output = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !output.status.success() {
        bail!("{cmd:?} failed: {}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    Ok(output)
}

/// The `helmdeck` and `helmdeck-mcp` binaries under test.
pub struct Binaries {
    pub helmdeck: PathBuf,
    pub bridge: PathBuf,
}

/// The binaries of this test run ([`crate::prebuilt`]).
pub fn binaries() -> Binaries {
    Binaries { helmdeck: crate::helmdeck_bin().to_path_buf(), bridge: crate::prebuilt::bridge_bin().to_path_buf() }
}

/// The packs the MCP tests use.
pub struct Packs {
    pub fixture: PathBuf,
    pub http: PathBuf,
    pub text: PathBuf,
}

/// The pack directories of this test run ([`crate::prebuilt`]).
pub fn packs() -> Packs {
    Packs {
        fixture: crate::fixture_pack("fixture-pack").dir.clone(),
        http: crate::builtin_pack("http").dir.clone(),
        text: crate::builtin_pack("text").dir.clone(),
    }
}

/// A running `helmdeck serve` with its own data directory; stopped on drop.
pub struct TestServer {
    data: tempfile::TempDir,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    addr: SocketAddr,
}

impl TestServer {
    /// Install `packs` (granting what they request) and start serving on a
    /// free port. Loopback is allow-listed for packs, so `http.fetch` can
    /// reach the test's own HTTP server.
    pub fn start(packs: &[&Path]) -> Result<TestServer> {
        let data = tempfile::tempdir()?;
        let mut server = TestServer { data, child: None, url: String::new(), addr: "127.0.0.1:0".parse()? };
        for pack in packs {
            server.helmdeck(&["pack", "install", "--yes"]).arg(pack).output_ok()?;
        }
        server.launch()?;
        Ok(server)
    }

    /// A `helmdeck` command on this server's data directory.
    pub fn helmdeck(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&binaries().helmdeck);
        cmd.arg("--data-dir").arg(self.data.path()).args(args).env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1");
        cmd.env_remove("HELMDECK_JWT_SECRET");
        cmd
    }

    /// A token for `subject` with the default scopes (or `scopes`, comma-separated).
    pub fn token(&self, subject: &str, scopes: Option<&str>) -> Result<String> {
        let mut cmd = self.helmdeck(&["token", "issue", "--subject", subject]);
        if let Some(s) = scopes {
            cmd.args(["--scope", s]);
        }
        Ok(String::from_utf8(cmd.output_ok()?.stdout)?.trim().to_owned())
    }

    fn launch(&mut self) -> Result<()> {
        let info = self.data.path().join("server.json");
        let _ = std::fs::remove_file(&info);
        let listen = self.addr.to_string();
        let child = self
            .helmdeck(&["serve", "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting helmdeck serve")?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(url) = std::fs::read(&info).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
                self.url = url["url"].as_str().context("server.json has a url")?.to_owned();
                self.addr = self.url.trim_start_matches("http://").parse()?;
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("helmdeck serve exited with {status} before listening");
            }
            if started.elapsed() > PATIENCE {
                bail!("helmdeck serve did not start within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server (SIGTERM, waiting for it to exit).
    pub fn stop(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            run(Command::new("kill").args(["-TERM", &child.id().to_string()]))?;
            child.wait()?;
        }
        Ok(())
    }

    /// Stop and start again on the same address and data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `Command::output` that fails with the command's stderr unless it succeeded.
pub trait OutputOk {
    /// Run to completion; `Err` with stderr on a non-zero exit.
    fn output_ok(&mut self) -> Result<Output>;
}

impl OutputOk for Command {
    fn output_ok(&mut self) -> Result<Output> {
        run(self)
    }
}

/// Serve `body` as `text/plain` to every request on a free 127.0.0.1 port;
/// returns the URL. The thread lives as long as the test process.
pub fn serve_text(body: &'static str) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/", listener.local_addr()?);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    Ok(url)
}

/// The test virtualenv's Python, with the pinned MCP SDK (`cargo xtask setup`).
pub fn python() -> PathBuf {
    let python = crate::prebuilt::target_dir().join("test-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (it creates the virtualenv with the MCP Python SDK)",
        python.display()
    );
    python
}

/// What one run of the Python client reported, and what it logged.
pub struct ClientRun {
    pub report: Value,
    pub stderr: String,
}

/// Run `tests/mcp/client.py` with `args` against `server` using `token`;
/// fails unless it exits successfully with a JSON report on stdout.
pub fn client(server: &TestServer, token: &str, args: &[&str]) -> Result<ClientRun> {
    client_at(&server.url, token, args)
}

/// [`client`] against any base URL (a wrong one, for error tests).
pub fn client_at(url: &str, token: &str, args: &[&str]) -> Result<ClientRun> {
    let script = workspace_root().join("tests/mcp/client.py");
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .env("HELMDECK_URL", url)
        .env("HELMDECK_TOKEN", token)
        .env("HELMDECK_MCP_BRIDGE", &binaries().bridge)
        .stdin(Stdio::null())
        .output()
        .context("starting the Python MCP client")?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        bail!("client.py {args:?} failed with {}:\n{stderr}", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let last = stdout.lines().last().context("client.py printed no report")?;
    let report = serde_json::from_str(last).with_context(|| format!("client.py report is not JSON: {last}"))?;
    Ok(ClientRun { report, stderr })
}
