//! `cargo xtask …`: the project's tasks in Rust, so they run the same on
//! every machine. `run` and `test` install what is missing first (the
//! wasm32-wasip2 target, system packages), so a fresh Debian machine needs
//! only these two commands.

mod bench;
mod packs;
mod setup;
mod workspace;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Helmdeck project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build every pack under packs/ for wasm32-wasip2 into target/packs/<name>/
    /// (component + manifest with its digest).
    BuildPacks,
    /// Build the packs and Helmdeck, install the packs, and start the server.
    Run {
        /// Data directory (default: Helmdeck's per-user default).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Listen address (default 127.0.0.1:8931).
        #[arg(long)]
        listen: Option<String>,
        /// Build Helmdeck without optimisations (faster to build, slower to run).
        #[arg(long)]
        debug: bool,
    },
    /// Run every test (what CI runs).
    Test {
        /// Extra arguments for the test runner (a filter, for example).
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Build the packs and a release Helmdeck, run every benchmark, write
    /// target/bench/report.json and print a summary.
    Bench(bench::BenchArgs),
    /// Formatting and clippy with warnings denied.
    Lint,
    /// Install the prerequisites (wasm32-wasip2 target, system packages).
    Setup,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ws = workspace::locate()?;
    match cli.command {
        Command::BuildPacks => {
            setup::ensure_wasm_target()?;
            packs::build_all(&ws)?;
        }
        Command::Run { data_dir, listen, debug } => {
            setup::ensure_all()?;
            let built = packs::build_all(&ws)?;
            let helmdeck = workspace::build_helmdeck(&ws, !debug)?;
            packs::install_all(&helmdeck, data_dir.as_deref(), &built)?;
            workspace::serve(&helmdeck, data_dir.as_deref(), listen.as_deref())?;
        }
        Command::Test { args } => {
            setup::ensure_all()?;
            workspace::test(&ws, &args)?;
        }
        Command::Bench(args) => {
            setup::ensure_wasm_target()?;
            bench::run_all(&ws, &args)?;
        }
        Command::Lint => workspace::lint(&ws)?,
        Command::Setup => setup::ensure_all()?,
    }
    Ok(())
}
