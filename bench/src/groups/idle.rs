//! The control plane's memory at rest: the real `helmdeck serve` started on
//! a data directory with the built-in packs installed, read from
//! `/proc/<pid>/status` once it answers `/healthz` and has settled.

use super::Context;
use crate::fixture::DataDir;
use crate::report::{Entry, Unit};
use anyhow::{Context as _, Result, bail};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GROUP: &str = "idle";

/// How long the server may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Quiet time after the first healthy answer, before reading memory.
const SETTLE: Duration = Duration::from_secs(2);
/// Readings taken after settling, this far apart.
const READINGS: usize = 20;
const READING_INTERVAL: Duration = Duration::from_millis(50);

pub fn run(ctx: &Context) -> Result<Vec<Entry>> {
    let data = DataDir::with_packs(&ctx.helmdeck, &ctx.packs)?;
    let mut server = Server::start(&ctx.helmdeck, data.path())?;
    ctx.runtime()?.block_on(server.wait_healthy(data.path()))?;
    std::thread::sleep(SETTLE);
    let (mut rss, mut hwm) = (Vec::new(), Vec::new());
    for _ in 0..READINGS {
        let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))?;
        rss.push(status_kib(&status, "VmRSS")?);
        hwm.push(status_kib(&status, "VmHWM")?);
        std::thread::sleep(READING_INTERVAL);
    }
    let packs =
        ctx.packs.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>().join(",");
    let rss = Entry::new(
        GROUP,
        "idle.rss",
        "resident memory (VmRSS) of `helmdeck serve` at rest after start, built-in packs loaded",
        Unit::KiB,
        &rss,
    )
    .context("packs", &packs);
    let hwm = Entry::new(
        GROUP,
        "idle.rss_peak",
        "peak resident memory (VmHWM) of `helmdeck serve` since start (loading the packs included)",
        Unit::KiB,
        &hwm,
    )
    .context("packs", &packs);
    Ok(vec![rss, hwm])
}

/// A `helmdeck serve` child, killed on drop.
struct Server {
    child: Child,
}

impl Server {
    fn start(helmdeck: &Path, data_dir: &Path) -> Result<Server> {
        let child = Command::new(helmdeck)
            .arg("--data-dir")
            .arg(data_dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", helmdeck.display()))?;
        Ok(Server { child })
    }

    /// Wait for `server.json` (the URL the server writes once it listens),
    /// then for `GET /healthz` to answer 200.
    async fn wait_healthy(&mut self, data_dir: &Path) -> Result<()> {
        let started = Instant::now();
        let client = reqwest::Client::new();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                bail!("helmdeck serve exited with {status} before answering /healthz");
            }
            if let Some(url) = server_url(data_dir) {
                let health = client.get(format!("{url}/healthz")).send().await;
                if health.is_ok_and(|r| r.status().is_success()) {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("helmdeck serve did not answer /healthz within {START_TIMEOUT:?}")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_url(data_dir: &Path) -> Option<String> {
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(data_dir.join("server.json")).ok()?).ok()?;
    info["url"].as_str().map(str::to_owned)
}

/// A `Name:   1234 kB` line of `/proc/<pid>/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Result<f64> {
    let line = status
        .lines()
        .find(|l| l.split(':').next() == Some(name))
        .with_context(|| format!("no {name} in /proc status"))?;
    let kib = line.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok());
    kib.with_context(|| format!("unreadable {name} line `{line}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_read_in_kib() {
        let status = "Name:\thelmdeck\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(status_kib(status, "VmRSS").unwrap(), 40960.0);
        assert_eq!(status_kib(status, "VmHWM").unwrap(), 51200.0);
        assert!(status_kib(status, "VmSwap").is_err());
    }
}
