//! Connect snippets: the exact configuration that points an MCP client at
//! this Helmdeck, in the client's own format, for both ways in: the `url`
//! form (streamable HTTP at `/mcp` with a bearer header) and the `bridge`
//! form (the client launches `helmdeck-mcp`, which speaks stdio and proxies
//! to the server). Served by `GET /api/v1/connect/{client}` and printed by
//! `helmdeck connect CLIENT`; `docs/integrations/` explains each client.

use crate::{Error, Result};
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt;
use std::str::FromStr;

/// Stands for the token in snippets that carry none.
pub const TOKEN_PLACEHOLDER: &str = "<HELMDECK_TOKEN>";

/// The MCP clients Helmdeck has snippets for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    ClaudeCode,
    ClaudeDesktop,
    GeminiCli,
    OpenClaw,
    Hermes,
}

impl Client {
    /// Every client, in a stable order.
    pub const ALL: [Client; 5] =
        [Client::ClaudeCode, Client::ClaudeDesktop, Client::GeminiCli, Client::OpenClaw, Client::Hermes];

    /// The name used on the command line and in the URL (`claude-code`).
    pub fn as_str(self) -> &'static str {
        match self {
            Client::ClaudeCode => "claude-code",
            Client::ClaudeDesktop => "claude-desktop",
            Client::GeminiCli => "gemini-cli",
            Client::OpenClaw => "openclaw",
            Client::Hermes => "hermes",
        }
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Client {
    type Err = Error;
    fn from_str(s: &str) -> Result<Client> {
        Client::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Client::ALL.iter().map(|c| c.as_str()).collect();
            Error::not_found(format!("no connect snippet for `{s}`; clients: {}", names.join(", ")))
        })
    }
}

/// Where the snippets point.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server's base URL (`http://127.0.0.1:8931`), without `/mcp`.
    pub url: String,
    /// The bearer token to put in the configuration (or a placeholder).
    pub token: String,
    /// How the client should start the bridge (`helmdeck-mcp` or its full path).
    pub bridge: String,
}

/// One way to configure one client.
#[derive(Debug, Clone, Serialize)]
pub struct Snippet {
    /// `url` or `bridge`.
    pub form: &'static str,
    /// Where it goes: a file path or `shell`.
    pub place: &'static str,
    /// The text to paste or run; empty when `supported` is false.
    pub text: String,
    /// Whether the client supports this form at all.
    pub supported: bool,
    /// What to know before using it.
    pub note: &'static str,
}

/// The configuration of `client`, both forms, pointing at `target`.
pub fn snippets(client: Client, target: &Target) -> Vec<Snippet> {
    let endpoint = format!("{}/mcp", target.url.trim_end_matches('/'));
    let bearer = format!("Bearer {}", target.token);
    let env = json!({ "HELMDECK_URL": target.url, "HELMDECK_TOKEN": target.token });
    let stdio = json!({ "command": target.bridge, "env": env });
    let pretty = |v: Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    let servers = |entry: Value| pretty(json!({ "mcpServers": { "helmdeck": entry } }));
    let quoted = |s: &str| Value::from(s).to_string();
    match client {
        Client::ClaudeCode => vec![
            snippet(
                "url",
                "shell",
                format!("claude mcp add --transport http helmdeck {endpoint} --header \"Authorization: {bearer}\""),
                "",
            ),
            snippet(
                "bridge",
                "shell",
                format!(
                    "claude mcp add helmdeck --env HELMDECK_URL={} --env HELMDECK_TOKEN={} -- {}",
                    target.url, target.token, target.bridge
                ),
                "",
            ),
        ],
        Client::ClaudeDesktop => vec![
            Snippet {
                form: "url",
                place: "claude_desktop_config.json",
                text: String::new(),
                supported: false,
                note: "Claude Desktop's configuration file starts local (stdio) servers only; use the bridge form.",
            },
            snippet(
                "bridge",
                "claude_desktop_config.json",
                servers(stdio.clone()),
                "macOS: ~/Library/Application Support/Claude/; Windows: %APPDATA%\\Claude\\. Restart Claude Desktop after editing.",
            ),
        ],
        Client::GeminiCli => vec![
            snippet(
                "url",
                "~/.gemini/settings.json",
                servers(json!({ "httpUrl": endpoint, "headers": { "Authorization": bearer } })),
                "",
            ),
            snippet("bridge", "~/.gemini/settings.json", servers(stdio.clone()), ""),
        ],
        Client::OpenClaw => vec![
            snippet(
                "url",
                "~/.openclaw/openclaw.json",
                pretty(
                    json!({ "mcp": { "servers": { "helmdeck": { "url": endpoint, "headers": { "Authorization": bearer } } } } }),
                ),
                "",
            ),
            snippet(
                "bridge",
                "~/.openclaw/openclaw.json",
                pretty(json!({ "mcp": { "servers": { "helmdeck": stdio } } })),
                "",
            ),
        ],
        Client::Hermes => vec![
            snippet(
                "url",
                "~/.hermes/config.yaml",
                format!(
                    "mcp_servers:\n  helmdeck:\n    url: {}\n    headers:\n      Authorization: {}\n",
                    quoted(&endpoint),
                    quoted(&bearer)
                ),
                "",
            ),
            snippet(
                "bridge",
                "~/.hermes/config.yaml",
                format!(
                    "mcp_servers:\n  helmdeck:\n    command: {}\n    env:\n      HELMDECK_URL: {}\n      HELMDECK_TOKEN: {}\n",
                    quoted(&target.bridge),
                    quoted(&target.url),
                    quoted(&target.token)
                ),
                "",
            ),
        ],
    }
}

fn snippet(form: &'static str, place: &'static str, text: String, note: &'static str) -> Snippet {
    Snippet { form, place, text, supported: true, note }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target { url: "http://127.0.0.1:8931".into(), token: "tok.en.sig".into(), bridge: "/opt/helmdeck-mcp".into() }
    }

    #[test]
    fn every_supported_snippet_names_the_endpoint_or_bridge_and_the_token() {
        for client in Client::ALL {
            let all = snippets(client, &target());
            assert_eq!(all.iter().map(|s| s.form).collect::<Vec<_>>(), ["url", "bridge"], "{client}");
            for s in all.iter().filter(|s| s.supported) {
                assert!(s.text.contains("tok.en.sig"), "{client} {}: {}", s.form, s.text);
                let points = if s.form == "url" { "http://127.0.0.1:8931/mcp" } else { "/opt/helmdeck-mcp" };
                assert!(s.text.contains(points), "{client} {}: {}", s.form, s.text);
                if s.place.ends_with(".json") {
                    serde_json::from_str::<Value>(&s.text).unwrap_or_else(|e| panic!("{client} {}: {e}", s.form));
                }
            }
        }
    }

    #[test]
    fn client_names_round_trip_and_unknown_ones_list_the_known() {
        for c in Client::ALL {
            assert_eq!(c.as_str().parse::<Client>().unwrap(), c);
        }
        let err = "cursor".parse::<Client>().unwrap_err();
        assert!(err.message.contains("claude-code") && err.message.contains("hermes"), "{}", err.message);
    }
}
