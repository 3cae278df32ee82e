//! `cargo xtask …`: the project's tasks in Rust, so they run the same on
//! every machine. `run` and `test` install what is missing first (the
//! wasm32-wasip2 target, system packages), so a fresh Debian machine needs
//! only these two commands.

mod bench;
mod bench_browser;
mod bench_mcp;
mod packs;
mod publish;
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
    /// Build every pack under packs/ for wasm32-wasip2 into target/packs/NAME/
    /// (component + manifest with its digest).
    BuildPacks,
    /// Build every pack, sign it and write the bundled catalog (default target/catalog,
    /// signed with the development key in target/helmdeck-dev-key).
    Publish {
        /// The catalog directory to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Sign with this private key (a release key) instead of the development key;
        /// its .pub must sit beside it. Password: HELMDECK_SIGNING_KEY_PASSWORD.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Publish the packs, build Helmdeck and start the server, which installs the
    /// built-in packs from the bundled catalog through the verified path.
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
    /// Install the prerequisites (wasm32-wasip2 target, system packages, the
    /// Python test virtualenv under the target directory).
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
        Command::Publish { out, key } => {
            setup::ensure_wasm_target()?;
            publish::publish_all(&ws, out.as_deref(), key.as_deref())?;
        }
        Command::Run { data_dir, listen, debug } => {
            setup::ensure_all(&ws)?;
            let bundle = publish::publish_all(&ws, None, None)?;
            let helmdeck = workspace::build_helmdeck(&ws, !debug)?;
            workspace::build_bridge(&ws, !debug)?;
            workspace::serve(&helmdeck, data_dir.as_deref(), listen.as_deref(), &bundle)?;
        }
        Command::Test { args } => {
            setup::ensure_all(&ws)?;
            workspace::test(&ws, &args)?;
        }
        Command::Bench(args) => {
            setup::ensure_wasm_target()?;
            bench::run_all(&ws, &args)?;
        }
        Command::Lint => workspace::lint(&ws)?,
        Command::Setup => setup::ensure_all(&ws)?,
    }
    Ok(())
}
