//! `helmdeck token issue`: mint a bearer token from the data directory's
//! secret. Prints only the token on stdout, so scripts can capture it.

use crate::Result;
use crate::auth::{Scope, TokenKeys};
use crate::config::Config;
use clap::{Args, Subcommand};
use std::collections::BTreeSet;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print it (only the token) on stdout.
    Issue(IssueArgs),
}

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Who the token acts as; the audit log records this name.
    #[arg(long, value_name = "NAME")]
    subject: String,
    /// Scopes (repeat or comma-separate): packs:read, packs:call, audit:read,
    /// audit:all, llm:call, admin. Default: packs:read, packs:call, audit:read
    /// (which reads only the audit records of the token's own calls; audit:all
    /// reads every subject's) and llm:call.
    #[arg(long, value_name = "SCOPE", value_delimiter = ',')]
    scope: Vec<Scope>,
    /// How long the token is valid: `30m`, `24h`, `7d`, ...
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
}

impl clap::ValueEnum for Scope {
    fn value_variants<'a>() -> &'a [Self] {
        &Scope::ALL
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.meaning()))
    }
}

pub fn run(config: Config, cmd: TokenCommand) -> Result<ExitCode> {
    let TokenCommand::Issue(args) = cmd;
    let paths = config.paths();
    paths.create()?;
    let keys = TokenKeys::load_or_create(config.jwt_secret.as_deref(), &paths.jwt_secret)?;
    let scopes: BTreeSet<Scope> =
        if args.scope.is_empty() { Scope::DEFAULT.into_iter().collect() } else { args.scope.into_iter().collect() };
    println!("{}", keys.issue(&args.subject, &scopes, args.ttl)?);
    Ok(ExitCode::SUCCESS)
}
