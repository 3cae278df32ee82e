//! The browser benchmark: `browser.screenshot_url` over REST against a warm
//! pool vs Playwright (new context + goto + screenshot) driving the same
//! Chromium binary the server's pool runs, on the same local page; cold
//! start; and how many concurrent sessions the machine sustains with their
//! memory.
//!
//! Each side is timed twice. *Paced*: every sample starts after the machine
//! has idled [`PACE`] (and, for Helmdeck, once the pool has its spare
//! contexts ready again): what an agent sees, whose calls come seconds
//! apart, and the issue's "warm pool". *Back to back*: the next call starts
//! as soon as the last answered, so Helmdeck's pool refills while calls run
//! and both compete for the two cores; reported, not the target.
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

/// Timed calls per side and series (after warm-up).
const SAMPLES: usize = 30;
/// Idle time before each paced sample, on both sides.
const PACE: Duration = Duration::from_millis(500);
/// Untimed calls first (JIT, caches, pool).
const WARMUP: usize = 5;
/// Session counts tried for the concurrency step.
const CONCURRENCY_STEPS: &[usize] = &[1, 2, 4, 8, 16, 32, 48, 64, 96, 128];
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
    warm.screenshot(&url, None)?;
    let chromium = browser_executable(warm.data.path()).context("no browser process of the server was found")?;
    let paced_ms = time_calls(&warm, &url, None, Some(PACE))?;
    let back_to_back_ms = time_calls(&warm, &url, None, None)?;
    let session = warm.create_session()?;
    let in_session_ms = time_calls(&warm, &url, Some(&session), Some(PACE))?;
    let playwright = playwright(ws, &chromium, &url)?;
    let session_create_ms = (0..10).map(|_| timed(|| warm.create_session().map(drop))).collect::<Result<Vec<_>>>()?;
    let concurrency = concurrency(&warm, &url)?;
    drop(warm);

    let cold = Server::start(helmdeck, browser_pack, 0)?;
    let cold_first_call_ms = timed(|| cold.screenshot(&url, None).map(drop))?;
    drop(cold);

    let report = json!({
        "page": url,
        "chromium": chromium,
        "samples": SAMPLES,
        "pace_ms": PACE.as_millis() as u64,
        "screenshot_url_rest_warm_ms": summary(&paced_ms),
        "playwright_context_goto_screenshot_ms": summary(&playwright.paced),
        "ratio_helmdeck_to_playwright": median(&paced_ms) / median(&playwright.paced),
        "target_ratio": 0.7,
        "back_to_back": {
            "screenshot_url_rest_ms": summary(&back_to_back_ms),
            "playwright_context_goto_screenshot_ms": summary(&playwright.back_to_back),
            "ratio_helmdeck_to_playwright": median(&back_to_back_ms) / median(&playwright.back_to_back),
        },
        "screenshot_url_rest_in_a_session_ms": summary(&in_session_ms),
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

    /// Wait (up to 10 s) until the pool has made all its spare contexts.
    fn pool_ready(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let pool = self.get("/api/v1/browsers")?;
            if pool["spare_contexts"].as_u64() >= pool["spare_contexts_wanted"].as_u64() {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the pool did not make its spare contexts within 10 s: {pool}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Proportional set size (MiB) of every browser process of this server,
    /// renderers included: each browser leads a process group, and its
    /// renderers (which do not carry the profile on their command line)
    /// are in it.
    fn browser_pss_mb(&self) -> f64 {
        let groups: Vec<u32> = self.browser_processes().into_iter().filter_map(process_group).collect();
        let members = all_processes().filter(|pid| process_group(*pid).is_some_and(|g| groups.contains(&g)));
        members.map(pss_kb).sum::<u64>() as f64 / 1024.0
    }

    fn browser_processes(&self) -> Vec<u32> {
        processes_matching(&browsers_marker(self.data.path()))
    }
}

/// The executable the browsers of the server with data directory `data`
/// run, once one runs (so Playwright drives the very same binary).
pub fn browser_executable(data: &Path) -> Option<PathBuf> {
    processes_matching(&browsers_marker(data))
        .iter()
        .find_map(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
}

/// What the command line of a browser of the server with data directory `data` contains.
fn browsers_marker(data: &Path) -> String {
    format!("--user-data-dir={}", data.join("browsers").display())
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// [`SAMPLES`] timed calls after [`WARMUP`] untimed ones; with `pace`, each
/// timed call starts after that much idle time and a full pool of spares.
fn time_calls(server: &Server, url: &str, session: Option<&str>, pace: Option<Duration>) -> Result<Vec<f64>> {
    for _ in 0..WARMUP {
        server.screenshot(url, session)?;
    }
    (0..SAMPLES)
        .map(|_| {
            if let Some(pace) = pace {
                std::thread::sleep(pace);
                server.pool_ready()?;
            }
            timed(|| server.screenshot(url, session).map(drop))
        })
        .collect()
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

/// Playwright's samples, in milliseconds.
struct PlaywrightTimes {
    paced: Vec<f64>,
    back_to_back: Vec<f64>,
}

/// Playwright (playwright-core from npm, in `target/bench-node/`) with
/// `chromium`: one browser, then per sample a new context, a page, goto and
/// a screenshot, closed after; paced and back to back like Helmdeck's.
fn playwright(ws: &Workspace, chromium: &Path, url: &str) -> Result<PlaywrightTimes> {
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
    let out = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", dir.join("node_modules"))
        .env("CHROMIUM", chromium)
        .env("URL", url)
        .env("SAMPLES", SAMPLES.to_string())
        .env("WARMUP", WARMUP.to_string())
        .env("PACE_MS", PACE.as_millis().to_string())
        .output()?;
    if !out.status.success() {
        bail!("playwright failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let times: Value = serde_json::from_slice(&out.stdout)?;
    let series = |key: &str| -> Result<Vec<f64>> {
        let list = times[key].as_array().with_context(|| format!("playwright printed no `{key}` series"))?;
        Ok(list.iter().filter_map(Value::as_f64).collect())
    };
    Ok(PlaywrightTimes { paced: series("paced")?, back_to_back: series("back_to_back")? })
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
  const series = async (pace) => {
    for (let i = 0; i < +process.env.WARMUP; i++) await shot();
    const times = [];
    for (let i = 0; i < +process.env.SAMPLES; i++) {
      if (pace) await new Promise(r => setTimeout(r, pace));
      const t = process.hrtime.bigint();
      await shot();
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return times;
  };
  const paced = await series(+process.env.PACE_MS);
  const back_to_back = await series(0);
  await browser.close();
  process.stdout.write(JSON.stringify({ paced, back_to_back }));
})().catch(e => { console.error(e); process.exit(1); });
"#;

fn all_processes() -> impl Iterator<Item = u32> {
    let entries = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    entries.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
}

fn processes_matching(marker: &str) -> Vec<u32> {
    all_processes()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

/// The process group of `pid` (the fifth field of `/proc/PID/stat`).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
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
