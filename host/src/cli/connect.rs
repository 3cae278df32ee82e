//! `helmdeck connect CLIENT`: print the configuration that connects an MCP
//! client to this Helmdeck, with a freshly issued token (or a placeholder),
//! the running server's URL and the bridge's path when it sits next to
//! `helmdeck`.

use super::target::ServerInfo;
use crate::Result;
use crate::auth::{Scope, TokenKeys};
use crate::config::Config;
use crate::connect::{Client, TOKEN_PLACEHOLDER, Target, snippets};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// claude-code, claude-desktop, gemini-cli, openclaw or hermes.
    client: Client,
    /// Who the issued token acts as (the audit log records it). Default: the client's name.
    #[arg(long, value_name = "NAME")]
    subject: Option<String>,
    /// How long the issued token is valid: `30d`, `12h`, ...
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
    /// Put `<HELMDECK_TOKEN>` in place of a token instead of issuing one.
    #[arg(long)]
    no_token: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl clap::ValueEnum for Client {
    fn value_variants<'a>() -> &'a [Self] {
        &Client::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

pub fn run(config: Config, args: ConnectArgs) -> Result<ExitCode> {
    let paths = config.paths();
    let running: Option<ServerInfo> =
        std::fs::read(&paths.server_info).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let url = match (&config.public_url, running) {
        (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
        (None, Some(info)) => info.url,
        (None, None) => format!("http://{}", config.listen),
    };
    let token = if args.no_token {
        TOKEN_PLACEHOLDER.to_owned()
    } else {
        paths.create()?;
        let keys = TokenKeys::load_or_create(config.jwt_secret.as_deref(), &paths.jwt_secret)?;
        let subject = args.subject.clone().unwrap_or_else(|| args.client.as_str().to_owned());
        keys.issue(&subject, &Scope::DEFAULT.into_iter().collect(), args.ttl)?
    };
    let bridge = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("helmdeck-mcp")))
        .filter(|path| path.is_file())
        .map_or_else(|| "helmdeck-mcp".to_owned(), |path| path.display().to_string());
    let all = snippets(args.client, &Target { url: url.clone(), token, bridge });
    if args.json {
        super::output::json(&serde_json::json!({ "client": args.client.as_str(), "url": url, "snippets": all }));
        return Ok(ExitCode::SUCCESS);
    }
    for s in all {
        println!("# {} form, {}", s.form, s.place);
        if !s.note.is_empty() {
            println!("# {}", s.note);
        }
        if s.supported {
            println!("{}\n", s.text.trim_end());
        } else {
            println!();
        }
    }
    Ok(ExitCode::SUCCESS)
}
