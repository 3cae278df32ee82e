//! `helmdeck pack …`: list, info, install, remove, call.

use super::output;
use super::target::Target;
use crate::api::views::PackView;
use crate::app::Helmdeck;
use crate::config::Config;
use crate::dispatch::CallRequest;
use crate::registry::{InstallRequest, ToolRef};
use crate::{Error, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use helmdeck_marketplace::{Capability, MANIFEST_FILE, Manifest};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum PackCommand {
    /// List installed packs and their tools.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a pack (`http`) or a tool (`http.fetch`) with schemas, grants and limits.
    Info { name: String },
    /// Install a pack from a directory holding helmdeck-pack.yaml and its component.
    Install(InstallArgs),
    /// Remove a pack (every version, or one with --version).
    Remove {
        name: String,
        #[arg(long)]
        version: Option<semver::Version>,
    },
    /// Call a tool: `helmdeck pack call text.stats --input '{"text":"hi"}'`.
    Call(CallArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// A pack directory, or the path of its helmdeck-pack.yaml.
    path: PathBuf,
    /// Capabilities to grant (repeat or comma-separate); each must be requested by the manifest.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<Capability>,
    /// Grant every capability the manifest requests, without asking.
    #[arg(long, short = 'y')]
    yes: bool,
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
    // Read and check local input before connecting, so a typo fails fast.
    let prepared_install = match &cmd {
        PackCommand::Install(args) => Some(read_pack(args)?),
        _ => None,
    };
    let target = Target::connect(config).await?;
    match (cmd, target) {
        (PackCommand::List { json }, target) => list(&target, json).await,
        (PackCommand::Info { name }, Target::Remote(r)) => {
            output::json(&r.send(Method::GET, &format!("/api/v1/packs/{name}"), None).await?);
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Info { name }, Target::Local(app)) => {
            output::json(&local_info(&app, &name)?);
            Ok(ExitCode::SUCCESS)
        }
        (PackCommand::Install(_), target) => {
            let (manifest, component, grants, source) = prepared_install.ok_or_else(|| Error::internal("install input missing"))?;
            install(&target, manifest, component, grants, source).await
        }
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
        (PackCommand::Call(args), target) => call(&target, args).await,
    }
}

async fn list(target: &Target, as_json: bool) -> Result<ExitCode> {
    let listing = match target {
        Target::Remote(r) => r.send(Method::GET, "/api/v1/packs", None).await?,
        Target::Local(app) => {
            let snapshot = app.registry.snapshot();
            let packs: Vec<PackView> = snapshot
                .latest()
                .map(|p| PackView::new(p, snapshot.versions(&p.manifest.name).map(|v| v.keys().map(ToString::to_string).collect()).unwrap_or_default()))
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
        eprintln!("failed to load {} {}: {}", text(&failure["name"]), text(&failure["version"]), failure["error"]["message"]);
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
    let latest = versions.values().next_back().ok_or_else(|| Error::not_found(format!("no pack `{name}` is installed")))?;
    Ok(json!(PackView::new(latest, versions.keys().map(ToString::to_string).collect())))
}

type PackInput = (Manifest, Vec<u8>, BTreeSet<Capability>, String);

/// Read the manifest and component and settle the grants (asking on a terminal).
fn read_pack(args: &InstallArgs) -> Result<PackInput> {
    let manifest_path = if args.path.is_dir() { args.path.join(MANIFEST_FILE) } else { args.path.clone() };
    let dir = manifest_path.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| Error::invalid_input(format!("cannot read `{}`: {e}", manifest_path.display())))?;
    let manifest = Manifest::from_yaml(&text).map_err(|e| Error::invalid_input(e.to_string()))?;
    let component_path = dir.join(&manifest.component.file);
    let component = std::fs::read(&component_path).map_err(|e| {
        Error::invalid_input(format!(
            "cannot read the component `{}` named by the manifest: {e}; build the pack first (cargo xtask build-packs)",
            component_path.display()
        ))
    })?;
    let requested: BTreeSet<Capability> = manifest.requested().collect();
    let grants: BTreeSet<Capability> = if args.yes { requested.clone() } else { args.grant.iter().copied().collect() };
    let missing: Vec<&str> = requested.difference(&grants).map(|c| c.as_str()).collect();
    let grants = if missing.is_empty() || args.yes {
        grants
    } else if std::io::stdin().is_terminal() && args.grant.is_empty() {
        confirm(&manifest)?;
        requested
    } else {
        return Err(Error::invalid_input(format!(
            "pack `{}` requests {} but `{}` were not granted; pass --grant {} (or --yes)",
            manifest.name,
            requested.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
            missing.join(", "),
            requested.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
        )));
    };
    Ok((manifest, component, grants, format!("file:{}", dir.canonicalize().unwrap_or(dir.to_path_buf()).display())))
}

fn confirm(manifest: &Manifest) -> Result<()> {
    eprintln!("pack `{}` {} requests:", manifest.name, manifest.version);
    for (cap, scope) in &manifest.capabilities {
        let scope = serde_json::to_string(scope).unwrap_or_default();
        eprintln!("  {cap:<10} {}", if scope == "{}" { "(unscoped)".to_owned() } else { scope });
    }
    eprint!("grant these capabilities? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| Error::internal(format!("stdin: {e}")))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::unauthorized("installation cancelled: capabilities not granted"))
    }
}

async fn install(target: &Target, manifest: Manifest, component: Vec<u8>, grants: BTreeSet<Capability>, source: String) -> Result<ExitCode> {
    let report = match target {
        Target::Remote(r) => {
            let body = json!({
                "manifest": manifest.to_yaml(),
                "component_base64": base64::engine::general_purpose::STANDARD.encode(&component),
                "grants": grants,
            });
            r.send(Method::POST, "/api/v1/packs", Some(body)).await?
        }
        Target::Local(app) => json!(
            app.registry
                .install(InstallRequest { manifest, component, grants, source, signer: None, actor: "cli".into() })
                .await?
        ),
    };
    eprintln!(
        "installed {} {} ({} tools{})",
        report["name"].as_str().unwrap_or("?"),
        report["version"].as_str().unwrap_or("?"),
        report["tools"].as_array().map_or(0, Vec::len),
        if matches!(target, Target::Remote(_)) { ", live in the running server" } else { "" }
    );
    output::json(&report);
    Ok(ExitCode::SUCCESS)
}

async fn call(target: &Target, args: CallArgs) -> Result<ExitCode> {
    let input: Value = match args.input.as_deref() {
        None => json!({}),
        Some("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| Error::invalid_input(format!("stdin: {e}")))?;
            parse_input(&text)?
        }
        Some(text) => parse_input(text)?,
    };
    let response = match target {
        Target::Remote(r) => r.send(Method::POST, &format!("/api/v1/packs/{}", args.tool), Some(input)).await?,
        Target::Local(app) => {
            let request = CallRequest::new(ToolRef::parse(&args.tool)?, input, "cli", "cli pack call");
            match app.dispatcher.call(request).await {
                Ok(done) => json!(done),
                Err(failure) => return Err(failure.error),
            }
        }
    };
    output::json(&response["output"]);
    Ok(ExitCode::SUCCESS)
}

fn parse_input(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::invalid_input(format!("--input is not valid JSON: {e}")))
}
