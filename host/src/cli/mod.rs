//! The `helmdeck` command line: `serve`, `pack`, `marketplace`, `key`, `token`, `audit`, `vault`,
//! `connect`, `llm`, `providers`.
//!
//! Pack commands talk to a running `helmdeck serve` on the same data
//! directory when there is one (so installs hot-load into it and the audit
//! chain has one writer), and work on the data directory directly otherwise.

mod audit;
mod author;
mod connect;
mod examples;
mod install;
mod llm;
mod market;
mod output;
mod pack;
mod progress;
mod serve;
mod target;
mod template;
mod token;
mod vault;

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
    /// Refuse to install packs without a verified signature (local directory
    /// and upload installs then fail): `1`/`true` or `0`/`false`.
    #[arg(long, global = true, env = "HELMDECK_REQUIRE_SIGNED", value_name = "BOOL", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    require_signed: Option<bool>,
    /// Chromium executable for browser sessions (default: the system's,
    /// such as /usr/lib/chromium/chromium).
    #[arg(long, global = true, env = "HELMDECK_CHROMIUM", value_name = "PATH")]
    chromium: Option<PathBuf>,
    /// The base URL clients reach the server at (`https://helmdeck.example`),
    /// for signed download links and connect snippets. Default: `http://<listen address>`.
    #[arg(long, global = true, env = "HELMDECK_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: REST API under /api/v1, MCP at /mcp (and legacy SSE), health probes.
    Serve(serve::ServeArgs),
    /// Install, list, inspect, call, test and remove packs; create, sign and publish them.
    #[command(subcommand)]
    Pack(pack::PackCommand),
    /// Register the catalogs packs are installed from, and the keys they must be signed with.
    #[command(subcommand)]
    Marketplace(market::MarketCommand),
    /// Create signing keys (cosign-compatible).
    #[command(subcommand)]
    Key(author::KeyCommand),
    /// Issue API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage the credential vault (values are write-only).
    #[command(subcommand)]
    Vault(vault::VaultCommand),
    /// Print the configuration that connects an MCP client (claude-code,
    /// claude-desktop, gemini-cli, openclaw, hermes) to this Helmdeck.
    Connect(connect::ConnectArgs),
    /// Use models through the AI gateway: list them, chat with one.
    #[command(subcommand)]
    Llm(llm::LlmCommand),
    /// The AI gateway's providers: list them, test their keys, read their usage.
    #[command(subcommand)]
    Providers(llm::ProvidersCommand),
}

/// Parse the command line and run it. Errors print as `error[code]: message`.
pub fn run() -> ExitCode {
    // Everything this process creates (keys, the database, artifacts,
    // packs, session directories) is its user's alone, before a single
    // file is written: other users on the machine, session users included,
    // get nothing to read even where a directory's mode would let them in.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
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
        let config = self.config()?;
        init_logging(matches!(self.command, Command::Serve(_)));
        match self.command {
            Command::Serve(args) => serve::run(config, args).await,
            Command::Pack(cmd) => pack::run(config, cmd).await,
            Command::Marketplace(cmd) => market::run(config, cmd).await,
            Command::Key(cmd) => author::key(cmd),
            Command::Token(cmd) => token::run(config, cmd),
            Command::Audit(cmd) => audit::run(config, cmd).await,
            Command::Vault(cmd) => vault::run(config, cmd).await,
            Command::Connect(args) => connect::run(config, args),
            Command::Llm(cmd) => llm::run_llm(config, cmd).await,
            Command::Providers(cmd) => llm::run_providers(config, cmd).await,
        }
    }

    fn config(&self) -> crate::Result<Config> {
        let serve = match &self.command {
            Command::Serve(args) => Some(args),
            _ => None,
        };
        let file = match &self.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let overrides = Overrides {
            data_dir: self.data_dir.clone(),
            listen: serve.and_then(|s| s.listen),
            egress_allowlist: self.egress_allowlist.clone(),
            jwt_secret: std::env::var("HELMDECK_JWT_SECRET").ok().filter(|s| !s.is_empty()),
            require_signed: self.require_signed,
            bundled_catalog: serve.and_then(|s| s.bundled_catalog.clone()),
            bundled_catalog_key: serve.and_then(|s| s.bundled_catalog_key.clone()),
            chromium: self.chromium.clone(),
            public_url: self.public_url.clone(),
            vault_key: std::env::var(crate::vault::VAULT_KEY_ENV).ok().filter(|s| !s.is_empty()),
            mcp_allowed_hosts: serve.and_then(|s| s.mcp_allowed_hosts.clone()),
            mcp_allowed_origins: serve.and_then(|s| s.mcp_allowed_origins.clone()),
            gateway_env: std::env::vars().filter(|(name, _)| name.starts_with("HELMDECK_")).collect(),
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
