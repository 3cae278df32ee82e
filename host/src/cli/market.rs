//! `helmdeck marketplace add|list|refresh|remove` and `helmdeck pack search`.
//!
//! Registering catalogs edits the data directory's catalog file directly (a
//! running server reads it on every operation); listings show install state,
//! so they go to the running server when there is one.

use super::output;
use super::target::Target;
use crate::config::Config;
use crate::marketplace::{Catalogs, MarketListing};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use helmdeck_marketplace::{PublicKey, TrustRoot};
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;

/// `helmdeck marketplace …`.
#[derive(Debug, Subcommand)]
pub enum MarketCommand {
    /// Register a catalog (directory, index.yaml or HTTP(S) URL) and the key(s) its packs must be signed with.
    Add {
        /// The local name (`acme`).
        name: String,
        /// Where the catalog is: a directory, its index.yaml, or an http(s):// URL.
        location: String,
        /// The publisher's public key (PEM, cosign.pub); repeat to trust several.
        #[arg(long, required = true, value_name = "PUBKEY")]
        key: Vec<PathBuf>,
        /// Replace a catalog already registered under this name.
        #[arg(long)]
        replace: bool,
    },
    /// List the registered catalogs and what they offer.
    List(SearchArgs),
    /// Fetch the index of one catalog (or all) now.
    Refresh { name: Option<String> },
    /// Forget a catalog; packs installed from it stay installed.
    Remove { name: String },
}

/// Arguments of `helmdeck pack search` and `helmdeck marketplace list`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Only packs whose name, description, category or tags contain this.
    query: Option<String>,
    /// Fetch every catalog's index now instead of using the cached one.
    #[arg(long)]
    refresh: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `helmdeck marketplace …`.
pub async fn run(config: Config, cmd: MarketCommand) -> Result<ExitCode> {
    let catalogs = Catalogs::with_policy(config.paths().marketplace, config.egress.clone());
    match cmd {
        MarketCommand::Add { name, location, key, replace } => {
            let mut trust = Vec::new();
            for path in &key {
                let pem = std::fs::read_to_string(path)
                    .map_err(|e| Error::invalid_input(format!("--key `{}`: {e}", path.display())))?;
                let key = PublicKey::from_pem(&pem)
                    .map_err(|e| Error::invalid_input(format!("--key `{}`: {e}", path.display())))?;
                trust.push(TrustRoot::public_key(&key));
            }
            let (config, index) = catalogs.add_catalog(&name, &location, trust, replace).await?;
            eprintln!("added catalog `{name}` ({}, {} packs) at {}", index.name, index.packs.len(), config.location);
            for root in &config.trust {
                eprintln!("  trusts {}", root.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        MarketCommand::List(args) => search(config, args).await,
        MarketCommand::Refresh { name } => {
            let all = catalogs.list().await?;
            let chosen: Vec<_> = all.iter().filter(|c| name.as_ref().is_none_or(|n| &c.name == n)).collect();
            if let (Some(name), true) = (&name, chosen.is_empty()) {
                return Err(Error::not_found(format!("no catalog `{name}` is registered")));
            }
            let mut failed = false;
            for catalog in chosen {
                match catalogs.fetch_index(catalog).await {
                    Ok((_, index)) => eprintln!("{}: {} packs", catalog.name, index.packs.len()),
                    Err(e) => {
                        failed = true;
                        eprintln!("{}: error[{}]: {}", catalog.name, e.code, e.message);
                    }
                }
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        MarketCommand::Remove { name } => {
            let removed = catalogs.remove_catalog(&name).await?;
            eprintln!("removed catalog `{}` ({}); installed packs stay installed", removed.name, removed.location);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `helmdeck pack search` and `helmdeck marketplace list`.
pub async fn search(config: Config, args: SearchArgs) -> Result<ExitCode> {
    let listing: Value = match Target::connect(config).await? {
        Target::Remote(r) => {
            let mut path = format!("/api/v1/marketplace?refresh={}", args.refresh);
            if let Some(q) = &args.query {
                path.push_str(&format!(
                    "&q={}",
                    url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
                ));
            }
            r.send(Method::GET, &path, None).await?
        }
        Target::Local(app) => {
            let listing: MarketListing = app.marketplace.listing(args.refresh).await?;
            json!(match &args.query {
                Some(q) => listing.search(q),
                None => listing,
            })
        }
    };
    if args.json {
        output::json(&listing);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let list = |v: &Value| v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_default();
    let mut rows = Vec::new();
    for catalog in listing["catalogs"].as_array().into_iter().flatten() {
        if let Some(error) = catalog["error"].as_str() {
            eprintln!("catalog `{}` could not be read: {error}", text(&catalog["name"]));
        }
        for pack in catalog["packs"].as_array().into_iter().flatten() {
            let installed = list(&pack["installed"]);
            rows.push(vec![
                text(&catalog["name"]),
                text(&pack["name"]),
                text(&pack["latest"]),
                if installed.is_empty() { "-".into() } else { installed },
                if pack["signed"].as_bool() == Some(true) { "signed".into() } else { "UNSIGNED".into() },
                list(&pack["capabilities"]),
                text(&pack["description"]),
            ]);
        }
    }
    output::table(&["CATALOG", "PACK", "LATEST", "INSTALLED", "SIGNATURE", "CAPABILITIES", "DESCRIPTION"], &rows);
    Ok(ExitCode::SUCCESS)
}
