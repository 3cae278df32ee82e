//! The MCP benchmarks, `cargo xtask bench --only mcp`: `tools/call` overhead
//! against REST for a trivial tool (`text.stats`), and Helmdeck's
//! `browser_screenshot_url` against `@playwright/mcp` (navigate + screenshot)
//! through the same Python client on the same local page. The timing loop is
//! `tests/mcp/bench.py`; this module starts the servers around it.

use crate::bench_browser;
use crate::workspace::{run, step};
use anyhow::{Context, Result, bail};
use helmdeck_build::Workspace;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `@playwright/mcp` release the comparison pins.
const PLAYWRIGHT_MCP: &str = "@playwright/mcp@0.0.83";

/// Kills its process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run both benchmarks with `rounds` timed calls each against `helmdeck`
/// with the pack directories `built` installed; the report as JSON.
pub fn run_all(ws: &Workspace, helmdeck: &Path, built: &[PathBuf], rounds: u32) -> Result<Value> {
    let root = ws.target_dir.join("bench-mcp");
    let data = root.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    for pack in built {
        run(Command::new(helmdeck).arg("--data-dir").arg(&data).args(["pack", "install", "--yes"]).arg(pack))?;
    }
    let (_server, url) = serve(helmdeck, &data)?;
    let token = String::from_utf8(
        Command::new(helmdeck)
            .arg("--data-dir")
            .arg(&data)
            .args(["token", "issue", "--subject", "bench"])
            .output()?
            .stdout,
    )?;
    let bench = |args: &[&str]| -> Result<Value> {
        let output = Command::new(ws.target_dir.join("test-venv/bin/python"))
            .arg(ws.root.join("tests/mcp/bench.py"))
            .args(args)
            .args(["--url", &url, "--token", token.trim(), "--rounds", &rounds.to_string()])
            .stderr(Stdio::inherit())
            .output()?;
        if !output.status.success() {
            bail!("bench.py {args:?} failed");
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    };
    let overhead = step("timing tools/call against REST for text.stats", || bench(&["overhead"]))?;
    let screenshot = if built.iter().any(|dir| dir.ends_with("browser")) {
        // The server starts its warm browser on its own; Playwright runs the same binary.
        let chromium =
            wait_for(|| bench_browser::browser_executable(&data)).context("the server's warm browser did not start")?;
        let (_playwright, playwright_url) = playwright(&root, &chromium)?;
        step("timing browser_screenshot_url against @playwright/mcp", || {
            bench(&["screenshot", "--playwright", &playwright_url])
        })?
    } else {
        json!({ "skipped": "no browser pack in packs/ (issue 3)" })
    };
    Ok(json!({ "mcp_overhead": overhead, "screenshot_vs_playwright_mcp": screenshot }))
}

/// `helmdeck serve` on a free loopback port; waits for `server.json`.
fn serve(helmdeck: &Path, data: &Path) -> Result<(Running, String)> {
    let child = Command::new(helmdeck)
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")
        .stderr(Stdio::null())
        .spawn()?;
    let running = Running(child);
    let info = data.join("server.json");
    let url = wait_for(|| {
        let bytes = std::fs::read(&info).ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()?["url"].as_str().map(str::to_owned)
    })
    .context("helmdeck serve did not start")?;
    Ok((running, url))
}

/// `@playwright/mcp` on a free port with `chromium`, installed into the
/// target directory (its own browser download is not reachable).
fn playwright(root: &Path, chromium: &Path) -> Result<(Running, String)> {
    let prefix = root.join("node");
    let bin: PathBuf = prefix.join("node_modules/.bin/playwright-mcp");
    if !bin.exists() {
        run(Command::new("npm").args(["install", "--silent", "--prefix"]).arg(&prefix).arg(PLAYWRIGHT_MCP))?;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(bin)
        .args(["--port", &port.to_string(), "--host", "127.0.0.1", "--browser", "chromium", "--executable-path"])
        .arg(chromium)
        .args(["--headless", "--isolated", "--no-sandbox"])
        // It writes each snapshot and screenshot under its working directory.
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let running = Running(child);
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).ok()).context("@playwright/mcp did not start")?;
    // @playwright/mcp answers only requests whose Host is `localhost:PORT`.
    Ok((running, format!("http://localhost:{port}/mcp")))
}

/// Poll `ready` every 50 ms for up to a minute.
fn wait_for<T>(mut ready: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Some(value) = ready() {
            return Some(value);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
