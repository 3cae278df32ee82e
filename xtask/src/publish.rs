//! `cargo xtask publish`: build every pack, sign each with the development
//! key and write the bundled catalog that `cargo xtask run` (and any `helmdeck
//! serve --bundled-catalog`) installs the built-in packs from.
//!
//! The development key lives in `<target>/helmdeck-dev-key/` (created once,
//! never in git; its password is `HELMDECK_SIGNING_KEY_PASSWORD`, empty by
//! default). The catalog is generated into `<target>/catalog/`: component
//! digests depend on the toolchain and signatures on the machine's key, so
//! it is a build output, not source. A release signs with `--key` (the
//! release key, password from the environment) into `--out`.

use crate::packs;
use crate::workspace::step;
use anyhow::{Context, Result, bail};
use helmdeck_build::Workspace;
use helmdeck_marketplace::{CatalogMeta, PackSource, SigningKey, publish};
use std::path::{Path, PathBuf};

/// Where `publish` put things.
pub struct Bundle {
    /// The catalog directory (its `index.yaml` lists every built-in pack).
    pub catalog: PathBuf,
    /// The public key that verifies it.
    pub public_key: PathBuf,
}

/// The password of the signing key (may be empty).
fn password() -> String {
    std::env::var("HELMDECK_SIGNING_KEY_PASSWORD").unwrap_or_default()
}

/// Build, sign and publish every pack into `out` (default `<target>/catalog`),
/// with `key` (default: the development key, created when missing).
pub fn publish_all(ws: &Workspace, out: Option<&Path>, key: Option<&Path>) -> Result<Bundle> {
    let built = packs::build_all(ws)?;
    let (signing_key, public_key) = match key {
        Some(path) => (load(path)?, path.with_extension("pub")),
        None => dev_key(&ws.target_dir.join("helmdeck-dev-key"))?,
    };
    if !public_key.exists() {
        bail!("{} is missing: the public key must sit beside the private key", public_key.display());
    }
    let catalog = out.map(Path::to_path_buf).unwrap_or_else(|| ws.target_dir.join("catalog"));
    step(&format!("signing and publishing {} packs into {}", built.len(), catalog.display()), || {
        // A fresh catalog each time: it lists exactly the packs in the tree.
        if catalog.exists() {
            std::fs::remove_dir_all(&catalog).with_context(|| format!("clearing {}", catalog.display()))?;
        }
        let meta = CatalogMeta {
            name: "helmdeck-builtin".into(),
            description: "The packs that ship with Helmdeck.".into(),
            maintainer: "Helmdeck".into(),
        };
        for dir in &built {
            let source = PackSource::read(dir, None)?;
            let signature = source.signature(Some(&signing_key))?;
            let done = publish(&source, &signature, &catalog, &meta)?;
            eprintln!("    {:<10} {:<8} signed", done.name, done.entry.version);
        }
        Ok(())
    })?;
    eprintln!("    HELMDECK_BUNDLED_CATALOG={}", catalog.display());
    eprintln!("    HELMDECK_BUNDLED_CATALOG_KEY={}", public_key.display());
    Ok(Bundle { catalog, public_key })
}

fn load(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SigningKey::from_encrypted_pem(&pem, password().as_bytes())?)
}

/// The development key in `dir`, created on first use.
fn dev_key(dir: &Path) -> Result<(SigningKey, PathBuf)> {
    let (private, public) = (dir.join("cosign.key"), dir.join("cosign.pub"));
    if private.exists() {
        return Ok((load(&private)?, public));
    }
    eprintln!("==> creating the development signing key in {}", dir.display());
    std::fs::create_dir_all(dir)?;
    let key = SigningKey::generate()?;
    let pem = key.to_encrypted_pem(password().as_bytes())?;
    std::fs::write(&private, pem.as_bytes())?;
    #[cfg(unix)]
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    std::fs::write(&public, key.public_key()?.to_pem())?;
    Ok((key, public))
}
