//! `helmdeck pack install` and `pack upgrade`.
//!
//! `install NAME[@VERSION]` installs from a registered catalog: the CLI
//! resolves the pack and verifies its signed manifest itself, shows what it
//! requests and settles the grants (`--grant`, `--yes`, or a prompt on a
//! terminal), then has the host install it (a running server over REST,
//! which downloads and verifies again, or the data directory in-process
//! with a progress bar). `install ./dir` installs a local development
//! directory: unsigned, recorded and listed as such.

use super::output;
use super::progress::Bar;
use super::target::Target;
use crate::config::Config;
use crate::marketplace::{Catalogs, Grants, MarketInstall, PackSpec};
use crate::registry::InstallRequest;
use crate::{Error, Result};
use base64::Engine as _;
use clap::Args;
use helmdeck_marketplace::{Capability, MANIFEST_FILE, Manifest};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `helmdeck pack install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// `NAME` or `NAME@VERSION` from a catalog, or a pack directory (a path with a `/`,
    /// such as `./my-pack`, or a directory here holding helmdeck-pack.yaml) for an
    /// unsigned development install.
    pack: String,
    /// The catalog to install from, when several offer the pack.
    #[arg(long)]
    catalog: Option<String>,
    /// Capabilities to grant (repeat or comma-separate); each must be requested by the manifest.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<Capability>,
    /// Grant every capability the manifest requests, without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Install even when a newer version is installed.
    #[arg(long)]
    allow_downgrade: bool,
}

/// Arguments of `helmdeck pack upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The pack to upgrade; with none, every pack installed from a catalog.
    name: Option<String>,
    /// Capabilities to grant beyond those the installed version has.
    #[arg(long, value_delimiter = ',')]
    grant: Vec<Capability>,
    /// Grant whatever new capabilities the new versions request.
    #[arg(long, short = 'y')]
    yes: bool,
}

/// Whether `text` names a directory or manifest rather than a catalog pack:
/// it looks like a path, or it is a directory holding a manifest.
fn is_path(text: &str) -> bool {
    text.contains('/')
        || text.contains('\\')
        || text == "."
        || text == ".."
        || text.ends_with(".yaml")
        || Path::new(text).join(MANIFEST_FILE).is_file()
}

/// `helmdeck pack install`.
pub async fn install(config: Config, args: InstallArgs) -> Result<ExitCode> {
    if is_path(&args.pack) {
        let (manifest, component, source) = read_directory(Path::new(&args.pack))?;
        let grants = settle_grants(&manifest, &args.grant, args.yes, None)?;
        let target = Target::connect(config).await?;
        return install_directory(&target, manifest, component, grants, source).await;
    }
    let spec = PackSpec::parse(&args.pack, args.catalog.clone())?;
    let catalogs = Catalogs::with_policy(config.paths().marketplace, config.egress.clone());
    let (resolved, signed) = catalogs.plan(&spec).await?;
    eprintln!(
        "pack `{}` {} from catalog `{}`, signed by {}",
        resolved.pack,
        resolved.entry.version,
        resolved.catalog.name,
        signed.signature.signer()
    );
    let grants = settle_grants(&signed.manifest, &args.grant, args.yes, Some(signed.signature.signer()))?;
    let pinned = PackSpec {
        version: Some(resolved.entry.version.clone()),
        catalog: Some(resolved.catalog.name.clone()),
        ..spec
    };
    let report = match Target::connect(config).await? {
        Target::Remote(r) => {
            eprintln!("installing through the running server at {}", r.url);
            let body = json!({
                "pack": format!("{}@{}", pinned.pack, resolved.entry.version),
                "catalog": resolved.catalog.name,
                "grants": grants,
                "allow_downgrade": args.allow_downgrade,
            });
            let bar = Bar::new();
            r.stream("/api/v1/marketplace/install", body, |event| bar.show(event)).await?
        }
        Target::Local(app) => {
            let req = MarketInstall {
                spec: pinned,
                grants: Grants::Only(grants),
                allow_downgrade: args.allow_downgrade,
                actor: "cli".into(),
            };
            json!(app.marketplace.install(req, &Bar::new()).await?)
        }
    };
    eprintln!(
        "installed {} {} ({} tools), signed by {}",
        text(&report["name"]),
        text(&report["version"]),
        report["tools"].as_array().map_or(0, Vec::len),
        text(&report["signer"])
    );
    output::json(&report);
    Ok(ExitCode::SUCCESS)
}

/// `helmdeck pack upgrade`.
pub async fn upgrade(target: &Target, args: UpgradeArgs) -> Result<ExitCode> {
    let grants: BTreeSet<Capability> =
        if args.yes { Capability::ALL.into_iter().collect() } else { args.grant.into_iter().collect() };
    let outcomes = match target {
        Target::Remote(r) => {
            let body = json!({ "pack": args.name, "grants": grants });
            r.send(Method::POST, "/api/v1/marketplace/upgrade", Some(body)).await?["packs"].clone()
        }
        Target::Local(app) => json!(app.marketplace.upgrade(args.name.as_deref(), &grants, "cli", &Bar::new()).await?),
    };
    let rows: Vec<Vec<String>> = outcomes
        .as_array()
        .into_iter()
        .flatten()
        .map(|o| {
            let to = o["report"]["version"].as_str().unwrap_or("-").to_owned();
            vec![
                text(&o["name"]),
                text(&o["from"]),
                to,
                text(&o["status"]),
                o["message"].as_str().unwrap_or("").to_owned(),
            ]
        })
        .collect();
    output::table(&["NAME", "FROM", "TO", "STATUS", "NOTE"], &rows);
    let failed = rows.iter().any(|r| r[3] == "failed");
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or("?").to_owned()
}

/// Read a pack directory (or manifest path) and its component.
fn read_directory(path: &Path) -> Result<(Manifest, Vec<u8>, String)> {
    let manifest_path = if path.is_dir() { path.join(MANIFEST_FILE) } else { path.to_path_buf() };
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
    let source = format!("file:{}", dir.canonicalize().unwrap_or(PathBuf::from(dir)).display());
    Ok((manifest, component, source))
}

async fn install_directory(
    target: &Target,
    manifest: Manifest,
    component: Vec<u8>,
    grants: BTreeSet<Capability>,
    source: String,
) -> Result<ExitCode> {
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
        "installed {} {} ({} tools{}), unsigned: a development install",
        text(&report["name"]),
        text(&report["version"]),
        report["tools"].as_array().map_or(0, Vec::len),
        if matches!(target, Target::Remote(_)) { ", live in the running server" } else { "" }
    );
    output::json(&report);
    Ok(ExitCode::SUCCESS)
}

/// The capabilities to grant: `--yes` grants every request, `--grant` names
/// them, and on a terminal the operator is asked; otherwise a pack that
/// requests anything not granted is refused with the flag to pass.
fn settle_grants(
    manifest: &Manifest,
    grant: &[Capability],
    yes: bool,
    signer: Option<&str>,
) -> Result<BTreeSet<Capability>> {
    let requested: BTreeSet<Capability> = manifest.requested().collect();
    let granted: BTreeSet<Capability> = if yes { requested.clone() } else { grant.iter().copied().collect() };
    let missing: Vec<&str> = requested.difference(&granted).map(|c| c.as_str()).collect();
    if missing.is_empty() {
        return Ok(granted);
    }
    if std::io::stdin().is_terminal() && grant.is_empty() {
        confirm(manifest, signer)?;
        return Ok(requested);
    }
    let all: Vec<&str> = requested.iter().map(|c| c.as_str()).collect();
    Err(Error::invalid_input(format!(
        "pack `{}` requests {} but `{}` were not granted; pass --grant {} (or --yes)",
        manifest.name,
        all.join(", "),
        missing.join(", "),
        all.join(",")
    )))
}

fn confirm(manifest: &Manifest, signer: Option<&str>) -> Result<()> {
    eprintln!("pack `{}` {} ({}) requests:", manifest.name, manifest.version, signer.unwrap_or("unsigned"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_pack_names_are_told_apart() {
        for path in ["./http", "target/packs/http", "/abs/pack", ".", "pack/helmdeck-pack.yaml", "helmdeck-pack.yaml"] {
            assert!(is_path(path), "{path}");
        }
        for name in ["http", "http@0.1.0", "my-pack_2"] {
            assert!(!is_path(name), "{name}");
        }
    }
}
