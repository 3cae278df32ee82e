//! `cargo run --release -p helmdeck-tests --bin marketplace-bench -- [RUNS]`:
//! publish the built-in packs (`cargo xtask publish`) and print the
//! marketplace benchmark's samples and their percentiles as JSON.

use anyhow::{Result, bail};
use helmdeck_tests::marketplace::{CatalogServer, cargo};
use helmdeck_tests::marketplace_bench::measure;
use helmdeck_tests::prebuilt::{target_dir, workspace_root};
use serde_json::json;

fn main() -> Result<()> {
    let runs: usize = std::env::args().nth(1).map(|n| n.parse()).transpose()?.unwrap_or(5);
    let out = tempfile::tempdir()?;
    let catalog = out.path().join("catalog");
    let status = cargo().args(["xtask", "publish", "--out"]).arg(&catalog).current_dir(workspace_root()).status()?;
    if !status.success() {
        bail!("cargo xtask publish failed");
    }
    let key = target_dir().join("helmdeck-dev-key/cosign.pub");
    let served = CatalogServer::start(&catalog);
    let samples = tokio::runtime::Runtime::new()?.block_on(measure(&catalog, &served.url, &key, runs))?;
    let stats = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        json!({ "samples": sorted.len(), "p50": at(0.5), "p90": at(0.9), "min": sorted[0], "max": sorted[sorted.len() - 1] })
    };
    let report = json!({
        "pack": samples.pack,
        "component_bytes": samples.component_bytes,
        "unit": "us",
        "marketplace.install": stats(&samples.install_us),
        "marketplace.first_call": stats(&samples.first_call_us),
        "marketplace.load_cached": stats(&samples.load_cached_us),
        "marketplace.load_uncached": stats(&samples.load_uncached_us),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
