//! The browser benchmark: `browser.screenshot_url` over REST against a warm
//! pool vs Playwright (new context + goto + screenshot) driving the same
//! system Chromium on the same local page; cold start; and how many
//! concurrent sessions the machine sustains with their memory.
//!
//! Self-contained: [`run`] builds what it needs, starts its own fixture page
//! and `helmdeck serve`, and returns one JSON object (also written to
//! `target/bench/browser.json`).

use crate::packs;
use crate::workspace::run as run_cmd;
use anyhow::{Context, Result, bail};
use helmdeck_build::Workspace;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Timed calls per side (after warm-up).
const SAMPLES: usize = 30;
/// Untimed calls first (JIT, caches, pool).
const WARMUP: usize = 5;
/// Session counts tried for the concurrency step.
const CONCURRENCY_STEPS: &[usize] = &[1, 2, 4, 8, 16, 32, 48];
/// Stop growing when less memory than this is left.
const MIN_FREE_MB: u64 = 2048;

const PAGE: &str = "<!doctype html><html><head><title>Bench</title></head><body style=\"margin:0\">\
<div style=\"width:300px;height:200px;background:#c00\"></div><p>Helmdeck browser benchmark page.</p></body></html>";

/// Run the whole benchmark against the release `helmdeck` binary; returns
/// its report (also written to `target/bench/browser.json`).
pub fn run(ws: &Workspace, helmdeck: &std::path::Path) -> Result<Value> {
    let built = packs::build_all(ws)?;
    let browser_pack = built.iter().find(|d| d.ends_with("browser")).context("the browser pack was not built")?;
    let page = serve_page()?;
    let url = format!("http://fixture.localhost:{page}/");

    let warm = Server::start(helmdeck, browser_pack, 1)?;
    let helmdeck_ms = time_calls(&warm, &url, None, SAMPLES)?;
    let playwright_ms = playwright(ws, &url)?;
    let session_create_ms = (0..10).map(|_| timed(|| warm.create_session().map(drop))).collect::<Result<Vec<_>>>()?;
    let concurrency = concurrency(&warm, &url)?;
    drop(warm);

    let cold = Server::start(helmdeck, browser_pack, 0)?;
    let cold_first_call_ms = timed(|| cold.screenshot(&url, None).map(drop))?;
    drop(cold);

    let (h, p) = (median(&helmdeck_ms), median(&playwright_ms));
    let report = json!({
        "page": url,
        "samples": SAMPLES,
        "screenshot_url_rest_warm_ms": summary(&helmdeck_ms),
        "playwright_context_goto_screenshot_ms": summary(&playwright_ms),
        "ratio_helmdeck_to_playwright": h / p,
        "target_ratio": 0.7,
        "session_create_rest_ms": summary(&session_create_ms),
        "cold_first_call_ms": cold_first_call_ms,
        "concurrency": concurrency,
    });
    let out = ws.target_dir.join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("browser.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

fn timed(work: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    work()?;
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

fn summary(samples: &[f64]) -> Value {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let at = |q: f64| s.get(((s.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(f64::NAN);
    json!({ "median": median(samples), "p90": at(0.9), "min": at(0.0), "max": at(1.0), "n": s.len() })
}

/// Serve [`PAGE`] on 127.0.0.1 from a thread; returns the port.
fn serve_page() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    PAGE.len()
                );
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(PAGE.as_bytes()));
            });
        }
    });
    Ok(port)
}

/// A `helmdeck serve` (release build) with the browser pack, on a fresh data directory.
struct Server {
    child: Child,
    data: tempfile::TempDir,
    url: String,
    token: String,
}

impl Server {
    fn start(helmdeck: &Path, pack: &Path, warm: usize) -> Result<Server> {
        let data = tempfile::tempdir()?;
        let config = data.path().join("helmdeck.toml");
        std::fs::write(&config, format!("browser_warm = {warm}\nbrowser_max_sessions = 256\n"))?;
        let cli = |args: &[&str]| {
            let mut cmd = Command::new(helmdeck);
            cmd.arg("--data-dir").arg(data.path()).arg("--config").arg(&config).args(args);
            cmd.env("HELMDECK_EGRESS_ALLOWLIST", "fixture.localhost").env("HELMDECK_LOG", "warn");
            cmd
        };
        run_cmd(cli(&["pack", "install", "--yes"]).arg(pack).stdout(Stdio::null()))?;
        let child = cli(&["serve", "--listen", "127.0.0.1:0"]).stdout(Stdio::null()).spawn()?;
        let info = data.path().join("server.json");
        let started = Instant::now();
        let url = loop {
            if let Some(url) = std::fs::read_to_string(&info).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok())
            {
                break url["url"].as_str().unwrap_or_default().to_owned();
            }
            if started.elapsed() > Duration::from_secs(30) {
                bail!("helmdeck serve did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = cli(&["token", "issue", "--subject", "bench", "--scope", "admin"]).output()?;
        let token = String::from_utf8(out.stdout)?.trim().to_owned();
        let server = Server { child, data, url, token };
        if warm > 0 {
            // Wait for the warm browser so the first timed call does not launch it.
            while server.get("/api/v1/browsers")?["stats"]["browsers"].as_u64() < Some(warm as u64) {
                if started.elapsed() > Duration::from_secs(60) {
                    bail!("the warm browser did not start");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(server)
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let answer = ureq::post(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .send_json(body);
        match answer {
            Ok(r) => Ok(r.into_json()?),
            Err(ureq::Error::Status(code, r)) => bail!("{path}: {code} {}", r.into_string().unwrap_or_default()),
            Err(e) => Err(e.into()),
        }
    }

    fn get(&self, path: &str) -> Result<Value> {
        Ok(ureq::get(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {}", self.token))
            .call()?
            .into_json()?)
    }

    fn screenshot(&self, url: &str, session: Option<&str>) -> Result<Value> {
        let mut input = json!({ "url": url });
        if let Some(id) = session {
            input["_session_id"] = json!(id);
        }
        self.post("/api/v1/packs/browser.screenshot_url", &input)
    }

    fn create_session(&self) -> Result<String> {
        Ok(self.post("/api/v1/sessions", &json!({}))?["id"].as_str().context("session id")?.to_owned())
    }

    /// Proportional set size (MiB) of every browser process of this server.
    fn browser_pss_mb(&self) -> f64 {
        let marker = format!("--user-data-dir={}", self.data.path().join("browsers").display());
        processes_matching(&marker).iter().map(|pid| pss_kb(*pid)).sum::<u64>() as f64 / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

fn time_calls(server: &Server, url: &str, session: Option<&str>, n: usize) -> Result<Vec<f64>> {
    for _ in 0..WARMUP {
        server.screenshot(url, session)?;
    }
    (0..n).map(|_| timed(|| server.screenshot(url, session).map(drop))).collect()
}

/// Open more and more sessions, each holding a context, and run one call
/// in all of them at once; stop at the first failure or when memory runs low.
fn concurrency(server: &Server, url: &str) -> Result<Value> {
    let baseline = server.browser_pss_mb();
    let mut sessions: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    for &n in CONCURRENCY_STEPS {
        while sessions.len() < n {
            sessions.push(server.create_session()?);
        }
        let started = Instant::now();
        let results: Vec<Result<Value>> = std::thread::scope(|scope| {
            let calls: Vec<_> =
                sessions.iter().map(|id| scope.spawn(move || server.screenshot(url, Some(id)))).collect();
            calls
                .into_iter()
                .map(|c| c.join().unwrap_or_else(|_| Err(anyhow::anyhow!("call thread panicked"))))
                .collect()
        });
        let wall_ms = started.elapsed().as_secs_f64() * 1e3;
        let failed = results.iter().filter(|r| r.is_err()).count();
        let pss = server.browser_pss_mb();
        let pool = server.get("/api/v1/browsers")?;
        steps.push(json!({
            "sessions": n, "failed": failed, "wall_ms": wall_ms,
            "browser_pss_mb": pss, "pss_per_session_mb": (pss - baseline) / n as f64,
            "browsers": pool["stats"]["browsers"],
        }));
        if failed > 0 || available_mb() < MIN_FREE_MB {
            break;
        }
    }
    let sustained = steps.iter().filter(|s| s["failed"] == 0).filter_map(|s| s["sessions"].as_u64()).max().unwrap_or(0);
    Ok(json!({ "baseline_browser_pss_mb": baseline, "sustained_sessions": sustained, "steps": steps }))
}

/// Playwright (playwright-core from npm, in `target/bench-node/`) with the
/// system Chromium: one browser, then per sample a new context, a page,
/// goto and a screenshot, closed after.
fn playwright(ws: &Workspace, url: &str) -> Result<Vec<f64>> {
    let dir = ws.target_dir.join("bench-node");
    std::fs::create_dir_all(&dir)?;
    if !dir.join("node_modules/playwright-core").exists() {
        run_cmd(
            Command::new("npm")
                .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
                .arg(&dir)
                .arg("playwright-core"),
        )?;
    }
    let script = dir.join("screenshot.js");
    std::fs::write(&script, PLAYWRIGHT_SCRIPT)?;
    let chromium = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .context("no system Chromium")?;
    let out = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", dir.join("node_modules"))
        .env("CHROMIUM", chromium)
        .env("URL", url)
        .env("SAMPLES", SAMPLES.to_string())
        .env("WARMUP", WARMUP.to_string())
        .output()?;
    if !out.status.success() {
        bail!("playwright failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

const PLAYWRIGHT_SCRIPT: &str = r#"
const { chromium } = require('playwright-core');
(async () => {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox'] });
  const shot = async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await context.newPage();
    await page.goto(process.env.URL, { waitUntil: 'load' });
    await page.screenshot({ type: 'png' });
    await context.close();
  };
  for (let i = 0; i < +process.env.WARMUP; i++) await shot();
  const times = [];
  for (let i = 0; i < +process.env.SAMPLES; i++) {
    const t = process.hrtime.bigint();
    await shot();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  await browser.close();
  process.stdout.write(JSON.stringify(times));
})().catch(e => { console.error(e); process.exit(1); });
"#;

fn processes_matching(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

fn pss_kb(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn available_mb() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}
