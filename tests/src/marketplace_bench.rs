//! The marketplace benchmark's measurements, in-process on the real parts
//! (the `Helmdeck` the server runs, a catalog served over HTTP on
//! 127.0.0.1): for the largest pack of a catalog, the install time
//! (download from loopback, verify, precompile, load) on a fresh data
//! directory, the time from install to the first successful call, and the
//! time to load the installed packs from disk with and without the
//! precompiled cache. Every sampled operation is checked for success.
//!
//! `cargo xtask bench` turns these samples into report entries
//! (`marketplace.install`, `marketplace.first_call`,
//! `marketplace.load_cached`, `marketplace.load_uncached`); the
//! `marketplace-bench` binary prints them on their own.

use anyhow::{Context, Result, bail};
use helmdeck::app::Helmdeck;
use helmdeck::config::Config;
use helmdeck::dispatch::CallRequest;
use helmdeck::marketplace::{Grants, MarketInstall, PackSpec, Quiet};
use helmdeck::registry::ToolRef;
use helmdeck_marketplace::{Catalog, PublicKey, TrustRoot};
use std::path::Path;
use std::time::Instant;

/// Microsecond samples of each measured quantity.
#[derive(Debug, Default)]
pub struct Samples {
    /// The pack measured (the catalog's largest component).
    pub pack: String,
    pub component_bytes: u64,
    /// Install from the loopback catalog into a fresh data directory (empty cache).
    pub install_us: Vec<f64>,
    /// From the end of the install to the end of the first successful call.
    pub first_call_us: Vec<f64>,
    /// `PackRegistry::load_installed` with the precompiled cache present.
    pub load_cached_us: Vec<f64>,
    /// The same with the cache directory emptied first (every component compiles).
    pub load_uncached_us: Vec<f64>,
}

/// Measure `runs` times against the catalog directory `catalog`, served at
/// `url` (a [`crate::marketplace::CatalogServer`], started outside the
/// runtime this runs on) and signed by `public_key`.
pub async fn measure(catalog: &Path, url: &str, public_key: &Path, runs: usize) -> Result<Samples> {
    let index = Catalog::from_yaml(&std::fs::read_to_string(catalog.join("index.yaml"))?)?;
    let (pack, size) = index
        .packs
        .iter()
        .filter_map(|(name, p)| p.versions.last().map(|v| (name.clone(), v.component_size.unwrap_or(0))))
        .max_by_key(|(_, size)| *size)
        .context("the catalog lists no pack")?;
    let key = PublicKey::from_pem(&std::fs::read_to_string(public_key)?)?;
    let mut samples = Samples { pack: pack.clone(), component_bytes: size, ..Samples::default() };
    for _ in 0..runs {
        let data = tempfile::tempdir()?;
        let app = Helmdeck::open(Config::for_data_dir(data.path())).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        app.marketplace
            .catalogs
            .add_catalog("bench", url, vec![TrustRoot::public_key(&key)], false)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let started = Instant::now();
        let req = MarketInstall {
            spec: PackSpec { pack: pack.clone(), version: None, catalog: Some("bench".into()) },
            grants: Grants::AllRequested,
            allow_downgrade: false,
            actor: "bench".into(),
        };
        let report = app.marketplace.install(req, &Quiet).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let installed = Instant::now();
        samples.install_us.push(micros(started, installed));
        first_call(&app, &pack).await?;
        samples.first_call_us.push(micros(installed, Instant::now()));
        if report.install.cached {
            bail!("a fresh data directory had the component cached: the install did not compile");
        }
        samples.load_cached_us.push(timed_load(&app).await?);
        clear_cache(&data.path().join("cache/components"))?;
        samples.load_uncached_us.push(timed_load(&app).await?);
    }
    Ok(samples)
}

/// Call the pack's first example (or its first tool with `{}`) until it succeeds once.
async fn first_call(app: &Helmdeck, pack: &str) -> Result<()> {
    let snapshot = app.registry.snapshot();
    let loaded = snapshot.versions(pack).and_then(|v| v.values().next_back()).context("the pack is not loaded")?;
    let (tool, input) = match loaded.manifest.examples.iter().find(|(_, list)| !list.is_empty()) {
        Some((tool, list)) => (tool.clone(), list[0].input.clone()),
        None => (loaded.tools[0].name.clone(), serde_json::json!({})),
    };
    let tool = ToolRef::parse(&format!("{pack}.{tool}")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let request = CallRequest::new(tool, input, "bench", "bench");
    app.dispatcher.call(request).await.map_err(|f| anyhow::anyhow!("the first call failed: {}", f.error))?;
    Ok(())
}

async fn timed_load(app: &Helmdeck) -> Result<f64> {
    let started = Instant::now();
    app.registry.load_installed().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let took = micros(started, Instant::now());
    if !app.registry.snapshot().failures().is_empty() {
        bail!("a pack failed to load: {:?}", app.registry.snapshot().failures());
    }
    Ok(took)
}

fn clear_cache(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        std::fs::remove_file(entry?.path())?;
    }
    Ok(())
}

fn micros(from: Instant, to: Instant) -> f64 {
    to.duration_since(from).as_secs_f64() * 1e6
}
