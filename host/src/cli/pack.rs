//! `helmdeck pack …`: list, info, install, upgrade, remove, call, test,
//! and the author's commands (new, sign, verify, publish).

use super::author::{NewArgs, PublishArgs, SignArgs, VerifyArgs};
use super::examples::TestArgs;
use super::install::{InstallArgs, UpgradeArgs};
use super::market::SearchArgs;
use super::output;
use super::target::Target;
use crate::api::views::PackView;
use crate::app::Helmdeck;
use crate::config::Config;
use crate::dispatch::CallRequest;
use crate::registry::ToolRef;
use crate::{Error, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// List installed packs and their tools, with who signed each.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a pack (`http`) or a tool (`http.fetch`) with schemas, grants and limits.
    Info { name: String },
    /// Search the registered catalogs.
    Search(SearchArgs),
    /// Install `NAME[@VERSION]` from a catalog (verified), or a local directory (`./dir`, unsigned).
    Install(InstallArgs),
    /// Upgrade a pack (or every pack installed from a catalog) to its catalog's newest version.
    Upgrade(UpgradeArgs),
    /// Remove a pack (every version, or one with --version).
    Remove {
        name: String,
        #[arg(long)]
        version: Option<semver::Version>,
    },
    /// Call a tool: `helmdeck pack call text.stats --input '{"text":"hi"}'`.
    Call(CallArgs),
    /// Run an installed pack's manifest examples against the host; pass/fail per example.
    Test(TestArgs),
    /// Create a new pack crate from the template.
    New(NewArgs),
    /// Sign a pack's manifest (writes helmdeck-pack.yaml.sig, as `cosign sign-blob` would).
    Sign(SignArgs),
    /// Verify a pack directory's signature and component digest with a public key.
    Verify(VerifyArgs),
    /// Publish a built pack into a catalog directory (signing it).
    Publish(PublishArgs),
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// `pack.tool`, optionally `pack.tool@VERSION`.
    tool: String,
    /// The input JSON; `-` reads it from stdin. Default: `{}`.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
}

pub async fn run(config: Config, cmd: PackCommand) -> Result<ExitCode> {
    // Commands that need no host (and read local input first, so a typo fails fast).
    let cmd = match cmd {
        PackCommand::New(args) => return super::author::new_pack(args),
        PackCommand::Sign(args) => return super::author::sign(args),
        PackCommand::Verify(args) => return super::author::verify(args),
        PackCommand::Publish(args) => return super::author::publish(args),
        PackCommand::Install(args) => return super::install::install(config, args).await,
        PackCommand::Search(args) => return super::market::search(config, args).await,
        other => other,
    };
    let target = Target::connect(config).await?;
    match (cmd, target) {
        (PackCommand::List { json }, target) => list(&target, json).await,
        (PackCommand::Info { name }, target) => {
            output::json(&info(&target, &name).await?);
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Upgrade(args), target) => super::install::upgrade(&target, args).await,
        (PackCommand::Remove { name, version }, Target::Remote(r)) => {
            let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
            output::json(&r.send(Method::DELETE, &format!("/api/v1/packs/{name}{query}"), None).await?);
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Remove { name, version }, Target::Local(app)) => {
            let removed = app.registry.remove(&name, version.as_ref(), "cli").await?;
            output::json(&json!({ "name": name, "removed": removed }));
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Call(args), target) => {
            let input = read_input(args.input.as_deref())?;
            output::json(&call(&target, &args.tool, input).await?);
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Test(args), target) => super::examples::test(&target, args).await,
        (other, _) => Err(Error::internal(format!("command {other:?} was not dispatched"))),
    }
}

/// A pack or tool as `GET /api/v1/packs/{name}` shows it.
pub async fn info(target: &Target, name: &str) -> Result<Value> {
    match target {
        Target::Remote(r) => r.send(Method::GET, &format!("/api/v1/packs/{name}"), None).await,
        Target::Local(app) => local_info(app, name),
    }
}

async fn list(target: &Target, as_json: bool) -> Result<ExitCode> {
    let listing = match target {
        Target::Remote(r) => r.send(Method::GET, "/api/v1/packs", None).await?,
        Target::Local(app) => {
            let snapshot = app.registry.snapshot();
            let packs: Vec<PackView> = snapshot
                .latest()
                .map(|p| {
                    PackView::new(
                        p,
                        snapshot
                            .versions(&p.manifest.name)
                            .map(|v| v.keys().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                    )
                })
                .collect();
            json!({ "packs": packs, "failures": snapshot.failures() })
        }
    };
    if as_json {
        output::json(&listing);
        return Ok(ExitCode::SUCCESS);
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let rows: Vec<Vec<String>> = listing["packs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let tools: Vec<String> = p["tools"].as_array().into_iter().flatten().map(|t| text(&t["name"])).collect();
            let grants: Vec<String> = p["grants"].as_object().map(|g| g.keys().cloned().collect()).unwrap_or_default();
            vec![
                text(&p["name"]),
                text(&p["version"]),
                tools.join(", "),
                if grants.is_empty() { "-".into() } else { grants.join(", ") },
                p["signer"].as_str().unwrap_or("unsigned").to_owned(),
            ]
        })
        .collect();
    output::table(&["NAME", "VERSION", "TOOLS", "GRANTS", "SIGNER"], &rows);
    for failure in listing["failures"].as_array().into_iter().flatten() {
        eprintln!(
            "failed to load {} {}: {}",
            text(&failure["name"]),
            text(&failure["version"]),
            failure["error"]["message"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn local_info(app: &Helmdeck, name: &str) -> Result<Value> {
    let snapshot = app.registry.snapshot();
    if name.split('@').next().unwrap_or_default().contains('.') {
        let (pack, index) = snapshot.resolve(&ToolRef::parse(name)?)?;
        return Ok(json!(crate::api::views::ToolView::new(&pack, pack.tool(index))));
    }
    let versions = snapshot.versions(name).ok_or_else(|| Error::not_found(format!("no pack `{name}` is installed")))?;
    let latest =
        versions.values().next_back().ok_or_else(|| Error::not_found(format!("no pack `{name}` is installed")))?;
    Ok(json!(PackView::new(latest, versions.keys().map(ToString::to_string).collect())))
}

/// Call `tool` (`pack.tool[@version]`) with `input`; the tool's output.
pub async fn call(target: &Target, tool: &str, input: Value) -> Result<Value> {
    let response = match target {
        Target::Remote(r) => r.send(Method::POST, &format!("/api/v1/packs/{tool}"), Some(input)).await?,
        Target::Local(app) => {
            let request = CallRequest::new(ToolRef::parse(tool)?, input, "cli", "cli pack call");
            match app.dispatcher.call(request).await {
                Ok(done) => json!(done),
                Err(failure) => return Err(failure.error),
            }
        }
    };
    Ok(response["output"].clone())
}

fn read_input(input: Option<&str>) -> Result<Value> {
    let text = match input {
        None => return Ok(json!({})),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| Error::invalid_input(format!("stdin: {e}")))?;
            text
        }
        Some(text) => text.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| Error::invalid_input(format!("--input is not valid JSON: {e}")))
}
