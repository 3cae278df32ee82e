//! `helmdeck-mcp`: Helmdeck for MCP clients that only start local (stdio)
//! servers. It speaks MCP over stdin/stdout to the client and relays every
//! message to a Helmdeck server's streamable HTTP endpoint (`$HELMDECK_URL/mcp`)
//! with `$HELMDECK_TOKEN` as the bearer token. It links no WebAssembly
//! runtime: everything runs in the server.
//!
//! On start it checks the server (`GET /healthz`, an authenticated
//! `GET /api/v1/packs`): a token the server refuses or a URL that is not a
//! Helmdeck ends it with a message saying what to fix; an unreachable server
//! only warns, since the client may have been started first. When the server
//! restarts, the next message reconnects (replaying the client's `initialize`
//! for session clients). Logs go to stderr: stdout carries the protocol.

mod probe;
mod relay;

use std::process::ExitCode;

/// What the bridge needs from its environment.
struct Settings {
    /// The server's base URL, without `/mcp`.
    base_url: String,
    token: String,
}

const USAGE: &str = "usage: helmdeck-mcp (configured by environment)
  HELMDECK_URL    the Helmdeck server, e.g. http://127.0.0.1:8931 (a URL ending in /mcp is accepted too)
  HELMDECK_TOKEN  a token from `helmdeck token issue --subject NAME` or `helmdeck connect CLIENT`
MCP clients start this program and talk to it over stdin/stdout.";

/// Print a line for the person reading the MCP client's logs.
fn say(message: impl std::fmt::Display) {
    eprintln!("helmdeck-mcp: {message}");
}

fn settings() -> Result<Settings, String> {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let url = var("HELMDECK_URL")
        .ok_or("HELMDECK_URL is not set; set it to the Helmdeck server's URL, e.g. http://127.0.0.1:8931")?;
    let token = var("HELMDECK_TOKEN")
        .ok_or("HELMDECK_TOKEN is not set; create one with `helmdeck token issue --subject NAME` on the server")?;
    let base_url = url.trim_end_matches('/').trim_end_matches("/mcp").to_owned();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(format!("HELMDECK_URL `{url}` must start with http:// or https://"));
    }
    Ok(Settings { base_url, token })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        return match arg.as_str() {
            "--version" | "-V" => {
                println!("helmdeck-mcp {}", env!("CARGO_PKG_VERSION"));
                ExitCode::SUCCESS
            }
            _ => {
                eprintln!("{USAGE}");
                if matches!(arg.as_str(), "--help" | "-h") { ExitCode::SUCCESS } else { ExitCode::from(2) }
            }
        };
    }
    let settings = match settings() {
        Ok(s) => s,
        Err(message) => {
            say(message);
            return ExitCode::from(2);
        }
    };
    if let Err(message) = probe::check(&settings).await {
        say(message);
        return ExitCode::FAILURE;
    }
    match relay::run(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(format!("stopped: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
