//! The `helmdeck` command line: `serve`, `pack`, `token`, `audit`.
//!
//! Pack commands talk to a running `helmdeck serve` on the same data
//! directory when there is one (so installs hot-load into it and the audit
//! chain has one writer), and work on the data directory directly otherwise.

mod audit;
mod connect;
mod output;
mod pack;
mod serve;
mod target;
mod token;

use crate::config::{Config, FileConfig, Overrides};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Helmdeck: typed tools for AI agents, run as sandboxed WebAssembly packs.
#[derive(Debug, Parser)]
#[command(name = "helmdeck", version, about, long_about = None)]
pub struct Cli {
    /// Data directory (database, packs, artifacts, keys).
    /// Default: $XDG_DATA_HOME/helmdeck (~/.local/share/helmdeck).
    #[arg(long, global = true, env = "HELMDECK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Optional TOML config file; flags and environment variables win over it.
    #[arg(long, global = true, env = "HELMDECK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Hosts and networks the egress guard lets packs reach although they are
    /// private or loopback: names, `*.suffix`, IPs and CIDRs, comma-separated.
    #[arg(long, global = true, env = "HELMDECK_EGRESS_ALLOWLIST", value_name = "LIST")]
    egress_allowlist: Option<String>,
    /// The base URL clients reach the server at (`https://helmdeck.example`),
    /// for artifact links and connect snippets. Default: the listen address.
    #[arg(long, global = true, env = "HELMDECK_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API under /api/v1, MCP at /mcp (and legacy SSE), health probes.
    Serve(serve::ServeArgs),
    /// Install, list, inspect, call and remove packs.
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// Issue API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Print the configuration that connects an MCP client (claude-code,
    /// claude-desktop, gemini-cli, openclaw, hermes) to this Helmdeck.
    Connect(connect::ConnectArgs),
}

/// Parse the command line and run it. Errors print as `error[code]: message`.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.dispatch()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error[{}]: {}", e.code, e.message);
            if let Some(details) = &e.details {
                eprintln!("{}", serde_json::to_string_pretty(details).unwrap_or_default());
            }
            ExitCode::FAILURE
        }
    }
}

impl Cli {
    async fn dispatch(self) -> crate::Result<ExitCode> {
        let serve = match &self.command {
            Command::Serve(args) => Some(args),
            _ => None,
        };
        let config = self.config(serve)?;
        init_logging(matches!(self.command, Command::Serve(_)));
        match self.command {
            Command::Serve(args) => serve::run(config, args).await,
            Command::Pack(cmd) => pack::run(config, cmd).await,
            Command::Token(cmd) => token::run(config, cmd),
            Command::Audit(cmd) => audit::run(config, cmd).await,
            Command::Connect(args) => connect::run(config, args),
        }
    }

    fn config(&self, serve: Option<&serve::ServeArgs>) -> crate::Result<Config> {
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let overrides = Overrides {
            data_dir: self.data_dir.clone(),
            listen: serve.and_then(|s| s.listen),
            egress_allowlist: self.egress_allowlist.clone(),
            jwt_secret: std::env::var("HELMDECK_JWT_SECRET").ok().filter(|s| !s.is_empty()),
            public_url: self.public_url.clone(),
            mcp_allowed_hosts: serve.and_then(|s| s.mcp_allowed_hosts.clone()),
            mcp_allowed_origins: serve.and_then(|s| s.mcp_allowed_origins.clone()),
        };
        Config::resolve(overrides, file)
    }
}

/// Logs go to stderr; `HELMDECK_LOG` takes a tracing filter (`debug`,
/// `helmdeck=trace`). The server logs at `info`, other commands at `warn`.
fn init_logging(server: bool) {
    let default = if server { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("HELMDECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
