//! `helmdeck-bench`: Helmdeck's benchmarks. Runs every group in
//! [`groups::ALL`], writes one JSON [`report::Report`] and prints a summary
//! table. `cargo xtask bench` builds the packs and the release binary and
//! runs this; run it by hand only to pass `--only` or `--scale`.
//!
//! Figures, not tests: nothing here asserts on time. Every sampled operation
//! is checked for success, and a missed target is reported, not hidden.
//! See [`groups`] for how to add a benchmark.

mod fixture;
mod groups;
mod machine;
mod report;
mod sample;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use helmdeck::registry::ToolRef;
use report::{Machine, Report};
use std::path::{Path, PathBuf};

/// Run Helmdeck's benchmarks and write a JSON report.
#[derive(Debug, Parser)]
#[command(name = "helmdeck-bench")]
struct Args {
    /// The `helmdeck` binary (release build), used to install packs and for
    /// process-level measurements.
    #[arg(long, value_name = "FILE")]
    helmdeck: PathBuf,
    /// The built packs: a directory of pack directories (`target/packs`).
    #[arg(long, value_name = "DIR")]
    packs: PathBuf,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Multiply every sample count (0.1 for a quick look; figures get noisier).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Run only these groups (repeatable).
    #[arg(long, value_name = "GROUP")]
    only: Vec<String>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(unknown) = args.only.iter().find(|g| !groups::ALL.iter().any(|a| a.name == g.as_str())) {
        let known: Vec<&str> = groups::ALL.iter().map(|g| g.name).collect();
        bail!("no benchmark group `{unknown}`; the groups are {}", known.join(", "));
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("bench crate has no parent directory")?;
    let machine = Machine::detect(repo);
    let ctx = groups::Context { helmdeck: args.helmdeck, packs: pack_dirs(&args.packs)?, scale: args.scale };
    let mut benchmarks = Vec::new();
    for group in groups::ALL.iter().filter(|g| args.only.is_empty() || args.only.iter().any(|o| o == g.name)) {
        eprintln!("==> benchmark group `{}`", group.name);
        let entries = (group.run)(&ctx).with_context(|| format!("benchmark group `{}`", group.name))?;
        benchmarks.extend(entries);
    }
    let report = Report { format: report::FORMAT, machine, benchmarks };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!("{}", report.table());
    println!("report: {}", args.out.display());
    Ok(())
}

/// Every pack directory under `root`; fails when the trivial tool's pack is missing.
fn pack_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(root)
        .with_context(|| format!("reading {} (build the packs first: cargo xtask build-packs)", root.display()))?;
    let mut dirs = Vec::new();
    for entry in read {
        let path = entry?.path();
        if path.join(helmdeck_marketplace::MANIFEST_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    let needed = ToolRef::parse(fixture::TOOL)?.pack;
    if !dirs.iter().any(|d| d.file_name().is_some_and(|n| n == needed.as_str())) {
        bail!("{} has no `{needed}` pack; build the packs first: cargo xtask build-packs", root.display());
    }
    Ok(dirs)
}
