//! What the groups measure against: a fresh data directory with the
//! built-in packs installed by the real `helmdeck pack install`, Helmdeck
//! opened on it in this process (the same `Helmdeck::open` `serve` runs),
//! and the trivial tool call every latency benchmark makes.

use anyhow::{Context as _, Result, bail, ensure};
use helmdeck::app::Helmdeck;
use helmdeck::config::Config;
use helmdeck_sdk::PackDefinition;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use tempfile::TempDir;

/// The trivial tool: pure computation, no capability, small input.
pub const TOOL: &str = "text.stats";

/// A data directory holding every built-in pack, deleted on drop.
pub struct DataDir {
    dir: TempDir,
}

impl DataDir {
    /// A fresh directory with each of `packs` installed (all requested
    /// capabilities granted) by `helmdeck pack install --yes`.
    pub fn with_packs(helmdeck: &Path, packs: &[PathBuf]) -> Result<DataDir> {
        let dir = tempfile::Builder::new().prefix("helmdeck-bench-").tempdir()?;
        for pack in packs {
            let out = Command::new(helmdeck)
                .arg("--data-dir")
                .arg(dir.path())
                .args(["pack", "install", "--yes"])
                .arg(pack)
                .stdout(Stdio::null())
                .output()
                .with_context(|| format!("could not run {}", helmdeck.display()))?;
            if !out.status.success() {
                bail!("installing {} failed: {}", pack.display(), String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(DataDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Helmdeck opened on this directory in this process, its packs loaded.
    pub async fn open(&self) -> Result<Arc<Helmdeck>> {
        let app = Helmdeck::open(Config::for_data_dir(self.path())).await?;
        let failures = app.registry.snapshot().failures().len();
        ensure!(failures == 0, "{failures} installed packs failed to load");
        Ok(app)
    }
}

/// The input every latency benchmark sends to [`TOOL`].
pub fn input() -> Value {
    json!({ "text": "The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.\n" })
}

/// What [`TOOL`] must answer for [`input`]: the pack's own code run natively.
pub fn expected_output() -> Result<Value> {
    let output = pack_text::Pack::call("stats", &input().to_string()).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(serde_json::from_str(&output)?)
}

/// Fail unless `output` is the expected answer: a benchmark that times an
/// error path measures nothing.
pub fn check_output(what: &str, output: &Value) -> Result<()> {
    let expected = expected_output()?;
    ensure!(output == &expected, "{what} answered {output}, expected {expected}");
    Ok(())
}
