//! `cargo xtask …`: the project's tasks in Rust, so they run the same on
//! every machine. `run` and `test` install what is missing first (the
//! wasm32-wasip2 target, system packages), so a fresh Debian machine needs
//! only these two commands.

mod bench_mcp;
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
    /// Formatting and clippy with warnings denied.
    Lint,
    /// The MCP benchmarks (tools/call vs REST; browser_screenshot_url vs
    /// @playwright/mcp when the browser pack exists); part of `bench` once it exists.
    BenchMcp {
        /// Timed calls per measurement.
        #[arg(long, default_value_t = 200)]
        rounds: u32,
    },
    /// Install the prerequisites (wasm32-wasip2 target, system packages, the
    /// MCP test virtualenv under the target directory).
    Setup,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ws = workspace::Workspace::locate()?;
    match cli.command {
        Command::BuildPacks => {
            setup::ensure_wasm_target()?;
            packs::build_all(&ws)?;
        }
        Command::Run { data_dir, listen, debug } => {
            setup::ensure_all(&ws)?;
            let built = packs::build_all(&ws)?;
            let helmdeck = ws.build_helmdeck(!debug)?;
            packs::install_all(&helmdeck, data_dir.as_deref(), &built)?;
            ws.serve(&helmdeck, data_dir.as_deref(), listen.as_deref())?;
        }
        Command::Test { args } => {
            setup::ensure_all(&ws)?;
            ws.test(&args)?;
        }
        Command::Lint => ws.lint()?,
        Command::BenchMcp { rounds } => {
            setup::ensure_all(&ws)?;
            println!("{}", serde_json::to_string_pretty(&bench_mcp::run_all(&ws, rounds)?)?);
        }
        Command::Setup => setup::ensure_all(&ws)?,
    }
    Ok(())
}
