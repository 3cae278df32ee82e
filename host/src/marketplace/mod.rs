//! The signed marketplace: registered catalogs with their trusted keys,
//! and installing, upgrading and listing packs from them.
//!
//! Every operation here ends in [`PackRegistry::install_replacing`], the one
//! install path; this module only adds what a catalog needs first: resolve
//! the pack in a catalog, refuse downgrades, download with progress, and
//! verify signature and digests ([`verify`]). The CLI (locally or through
//! REST) and the REST handlers call the same methods, so both surfaces run
//! the same checks. A server's first start installs the built-in packs the
//! same way ([`bootstrap`]).

mod bootstrap;
mod catalogs;
mod error;
mod listing;
mod source;
mod verify;

pub use catalogs::{CatalogConfig, CatalogStore};
pub use error::MarketError;
pub use listing::{CatalogView, MarketListing, OfferView};
pub use source::{Fetcher, Location, Progress, Quiet};
pub use verify::{Resolved, SignedManifest, VerifiedPack};

use crate::guard::{EgressGuard, EgressPolicy, SystemResolver};
use crate::registry::{InstallReport, InstallRequest, PackRegistry};
use crate::{Error, Result};
use helmdeck_marketplace::{Capability, Catalog, TrustRoot};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use url::Url;

/// What to install: `name`, `name@1.2.0`, optionally from one catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackSpec {
    /// The pack's name.
    pub pack: String,
    /// An exact version; the newest when absent.
    pub version: Option<semver::Version>,
    /// The catalog to take it from; any registered one that offers it when absent.
    pub catalog: Option<String>,
}

impl PackSpec {
    /// Parse `name` or `name@version`.
    pub fn parse(text: &str, catalog: Option<String>) -> Result<PackSpec> {
        let (pack, version) = match text.split_once('@') {
            Some((pack, v)) => {
                let version = semver::Version::parse(v).map_err(|e| {
                    Error::invalid_input(format!("`{v}` in `{text}` is not a version such as 1.2.0: {e}"))
                })?;
                (pack, Some(version))
            }
            None => (text, None),
        };
        if pack.is_empty() {
            return Err(Error::invalid_input("`pack` must name a pack, such as `http` or `http@0.1.0`"));
        }
        Ok(PackSpec { pack: pack.to_owned(), version, catalog })
    }
}

/// Which capabilities to grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// Everything the signed manifest requests (`--yes`, the built-in packs).
    AllRequested,
    /// Exactly these; each must be requested by the manifest.
    Only(BTreeSet<Capability>),
}

/// An install from a catalog.
#[derive(Debug, Clone)]
pub struct MarketInstall {
    /// What to install.
    pub spec: PackSpec,
    /// What to grant it.
    pub grants: Grants,
    /// Install even when a newer version is installed.
    pub allow_downgrade: bool,
    /// Who asked (audited).
    pub actor: String,
}

/// What an install or upgrade from a catalog did.
#[derive(Debug, Clone, Serialize)]
pub struct MarketInstallReport {
    /// The catalog it came from.
    pub catalog: String,
    /// The verified signer (`builtin/key sha256:…`).
    pub signer: String,
    /// The manifest's URL.
    pub source: String,
    /// Versions of the same major this install replaced.
    pub retired: Vec<String>,
    /// What the registry did.
    #[serde(flatten)]
    pub install: InstallReport,
}

/// The outcome of upgrading one pack.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeOutcome {
    /// The pack.
    pub name: String,
    /// The version installed before.
    pub from: String,
    /// `upgraded`, `up-to-date`, `skipped` or `failed`.
    pub status: &'static str,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// What the upgrade installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<MarketInstallReport>,
}

/// The registered catalogs of a data directory: managing them, reading
/// their indexes and resolving packs in them. Needs no running host, so the
/// CLI uses it directly (the file is shared with a running server).
#[derive(Clone)]
pub struct Catalogs {
    store: CatalogStore,
    fetcher: Fetcher,
}

/// Catalogs and the installs made from them.
pub struct Marketplace {
    /// The registered catalogs (usable without a host: the CLI's view).
    pub catalogs: Catalogs,
    registry: Arc<PackRegistry>,
}

/// The prefix of an install record's `source` for catalog installs:
/// `catalog:<name> <manifest URL>`.
const SOURCE_PREFIX: &str = "catalog:";

/// The catalog a recorded install came from, if it came from one.
pub fn catalog_of(source: &str) -> Option<&str> {
    source.strip_prefix(SOURCE_PREFIX).and_then(|rest| rest.split(' ').next())
}

impl Catalogs {
    /// The catalogs registered under `dir` (`<data-dir>/marketplace`),
    /// downloaded through `guard`.
    pub fn new(dir: impl Into<PathBuf>, guard: Arc<EgressGuard>) -> Catalogs {
        Catalogs { store: CatalogStore::new(dir), fetcher: Fetcher::new(guard) }
    }

    /// [`Catalogs::new`] for a process without a server (the CLI): a guard
    /// enforcing `policy` with the system resolver, as the server's would.
    pub fn with_policy(dir: impl Into<PathBuf>, policy: EgressPolicy) -> Catalogs {
        Catalogs::new(dir, Arc::new(EgressGuard::new(policy, Arc::new(SystemResolver))))
    }

    /// Run a blocking catalog-store operation off the async runtime.
    async fn stored<T: Send + 'static>(
        &self,
        op: impl FnOnce(&CatalogStore) -> std::result::Result<T, MarketError> + Send + 'static,
    ) -> Result<T> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || op(&store)).await??)
    }

    /// Every registered catalog.
    pub async fn list(&self) -> Result<Vec<CatalogConfig>> {
        self.stored(|s| s.list()).await
    }

    /// Register catalog `name` at `location`, trusting `trust`. The index is
    /// fetched first, so a wrong location or an unreadable catalog is
    /// refused before anything is saved.
    pub async fn add_catalog(
        &self,
        name: &str,
        location: &str,
        trust: Vec<TrustRoot>,
        replace: bool,
    ) -> Result<(CatalogConfig, Catalog)> {
        for root in &trust {
            root.check().map_err(MarketError::from)?;
        }
        let location = Location::parse(location)?;
        let config = CatalogConfig { name: name.to_owned(), location: location.as_string(), trust };
        let (_, index) = self.fetch_index(&config).await?;
        let saved = config.clone();
        self.stored(move |s| s.add(saved, replace)).await?;
        let (key, cached) = (name.to_owned(), index.clone());
        self.stored(move |s| s.store_index(&key, &cached)).await?;
        Ok((config, index))
    }

    /// Forget catalog `name` (installed packs stay installed).
    pub async fn remove_catalog(&self, name: &str) -> Result<CatalogConfig> {
        let name = name.to_owned();
        self.stored(move |s| s.remove(&name)).await
    }

    /// Fetch catalog `config`'s index now and cache it.
    pub async fn fetch_index(&self, config: &CatalogConfig) -> Result<(Url, Catalog)> {
        let location = Location::parse(&config.location)?;
        let url = location.index_url()?.clone();
        let bytes = self.fetcher.fetch(&url, &url, source::MAX_INDEX_BYTES, &Quiet, "index").await?;
        let text = String::from_utf8_lossy(&bytes);
        let index =
            Catalog::from_yaml(&text).map_err(|error| MarketError::Catalog { catalog: config.name.clone(), error })?;
        let (name, cached) = (config.name.clone(), index.clone());
        self.stored(move |s| s.store_index(&name, &cached)).await?;
        Ok((url, index))
    }

    /// Find the catalog version `spec` names, from fresh indexes.
    pub async fn resolve(&self, spec: &PackSpec) -> Result<Resolved> {
        let catalogs = match &spec.catalog {
            Some(name) => {
                let name = name.clone();
                vec![self.stored(move |s| s.get(&name)).await?]
            }
            None => self.list().await?,
        };
        let mut found = Vec::new();
        let mut unreachable = Vec::new();
        for catalog in catalogs.iter() {
            match self.fetch_index(catalog).await {
                Ok((index_url, index)) => {
                    if let Some(entry) = index.find(&spec.pack, spec.version.as_ref()) {
                        found.push(Resolved {
                            catalog: catalog.clone(),
                            index_url,
                            pack: spec.pack.clone(),
                            entry: entry.clone(),
                        });
                    }
                }
                Err(e) if spec.catalog.is_some() => return Err(e),
                Err(e) => unreachable.push(format!("{}: {}", catalog.name, e.message)),
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(not_offered(spec, &catalogs, &unreachable).into()),
            _ => Err(MarketError::Ambiguous {
                pack: spec.pack.clone(),
                catalogs: found.iter().map(|r| r.catalog.name.as_str()).collect::<Vec<_>>().join(", "),
            }
            .into()),
        }
    }

    /// Resolve `spec` and verify its manifest, without downloading the
    /// component: what an install would grant, for a confirmation prompt.
    pub async fn plan(&self, spec: &PackSpec) -> Result<(Resolved, SignedManifest)> {
        let resolved = self.resolve(spec).await?;
        let signed = resolved.signed_manifest(&self.fetcher, &Quiet).await?;
        Ok((resolved, signed))
    }
}

impl Marketplace {
    /// The marketplace of the data directory whose `marketplace/` is `dir`,
    /// downloading through `guard`.
    pub fn new(dir: impl Into<PathBuf>, guard: Arc<EgressGuard>, registry: Arc<PackRegistry>) -> Marketplace {
        Marketplace { catalogs: Catalogs::new(dir, guard), registry }
    }

    /// Install a pack version from a catalog: resolve, refuse a downgrade,
    /// download, verify, then [`PackRegistry::install_replacing`] (which
    /// compiles, checks imports and grants, stores and hot-loads it,
    /// replacing other versions of the same major).
    pub async fn install(&self, req: MarketInstall, progress: &dyn Progress) -> Result<MarketInstallReport> {
        let resolved = self.catalogs.resolve(&req.spec).await?;
        let installed = self.installed_versions(&req.spec.pack);
        if let Some(newest) = installed.iter().max().filter(|v| **v > resolved.entry.version)
            && !req.allow_downgrade
        {
            return Err(MarketError::Downgrade {
                pack: req.spec.pack.clone(),
                installed: newest.clone(),
                requested: resolved.entry.version.clone(),
            }
            .into());
        }
        let verified = resolved.fetch_verified(&self.catalogs.fetcher, progress).await?;
        let grants = match req.grants {
            Grants::AllRequested => verified.signed.manifest.requested().collect(),
            Grants::Only(grants) => grants,
        };
        self.install_verified(&resolved, verified, grants, &req.actor, progress).await
    }

    async fn install_verified(
        &self,
        resolved: &Resolved,
        verified: VerifiedPack,
        grants: BTreeSet<Capability>,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<MarketInstallReport> {
        let VerifiedPack { signed, component } = verified;
        let version = signed.manifest.version.clone();
        let retire: Vec<semver::Version> = self
            .installed_versions(&resolved.pack)
            .into_iter()
            .filter(|v| v.major == version.major && *v != version)
            .collect();
        let signer = signed.signature.signer().to_owned();
        let source = format!("{SOURCE_PREFIX}{} {}", resolved.catalog.name, signed.url);
        progress.step("compiling and loading");
        let request = InstallRequest {
            manifest: signed.manifest,
            component,
            grants,
            source: source.clone(),
            signer: Some(signed.signature),
            actor: actor.to_owned(),
        };
        let install = self.registry.install_replacing(request, &retire).await?;
        Ok(MarketInstallReport {
            catalog: resolved.catalog.name.clone(),
            signer,
            source,
            retired: retire.iter().map(ToString::to_string).collect(),
            install,
        })
    }

    /// Upgrade pack `name` (or every pack installed from a catalog) to the
    /// newest version its catalog offers. Capabilities the new version
    /// requests that the installed one was not granted need `extra_grants`.
    /// With a name, a failure is the error; without, each pack's outcome is listed.
    pub async fn upgrade(
        &self,
        name: Option<&str>,
        extra_grants: &BTreeSet<Capability>,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<Vec<UpgradeOutcome>> {
        let snapshot = self.registry.snapshot();
        let installed: Vec<_> =
            snapshot.latest().filter(|p| name.is_none_or(|n| p.manifest.name == n)).cloned().collect();
        if let (Some(name), true) = (name, installed.is_empty()) {
            return Err(Error::not_found(format!(
                "no pack `{name}` is installed; install it with `helmdeck pack install {name}`"
            )));
        }
        let mut outcomes = Vec::new();
        for pack in installed {
            let from = pack.manifest.version.to_string();
            let outcome = |status, message: Option<String>, report| UpgradeOutcome {
                name: pack.manifest.name.clone(),
                from: from.clone(),
                status,
                message,
                report,
            };
            let Some(catalog) = catalog_of(&pack.record.source) else {
                let why = format!(
                    "`{}` was installed from {}, not a catalog; `helmdeck pack install {}` installs it from one",
                    pack.manifest.name, pack.record.source, pack.manifest.name
                );
                if name.is_some() {
                    return Err(Error::invalid_input(why));
                }
                outcomes.push(outcome("skipped", Some(why), None));
                continue;
            };
            let spec = PackSpec { pack: pack.manifest.name.clone(), version: None, catalog: Some(catalog.to_owned()) };
            let previous: BTreeSet<Capability> = pack.grants.keys().copied().collect();
            match self
                .upgrade_one(&spec, &pack.manifest.version, pack.digest, &previous, extra_grants, actor, progress)
                .await
            {
                Ok(None) => outcomes.push(outcome("up-to-date", None, None)),
                Ok(Some(report)) => outcomes.push(outcome("upgraded", None, Some(report))),
                Err(e) if name.is_some() => return Err(e),
                Err(e) => outcomes.push(outcome("failed", Some(e.message), None)),
            }
        }
        Ok(outcomes)
    }

    #[allow(clippy::too_many_arguments)]
    async fn upgrade_one(
        &self,
        spec: &PackSpec,
        current: &semver::Version,
        current_digest: helmdeck_marketplace::Digest,
        previous: &BTreeSet<Capability>,
        extra: &BTreeSet<Capability>,
        actor: &str,
        progress: &dyn Progress,
    ) -> Result<Option<MarketInstallReport>> {
        let resolved = self.catalogs.resolve(spec).await?;
        let entry = &resolved.entry;
        if entry.version < *current || (entry.version == *current && entry.component_sha256 == current_digest) {
            return Ok(None);
        }
        let verified = resolved.fetch_verified(&self.catalogs.fetcher, progress).await?;
        let requested: BTreeSet<Capability> = verified.signed.manifest.requested().collect();
        let missing: Vec<Capability> =
            requested.iter().filter(|c| !previous.contains(c) && !extra.contains(c)).copied().collect();
        if !missing.is_empty() {
            return Err(MarketError::NewCapabilities {
                pack: spec.pack.clone(),
                version: entry.version.to_string(),
                missing,
            }
            .into());
        }
        let grants = requested.into_iter().filter(|c| previous.contains(c) || extra.contains(c)).collect();
        self.install_verified(&resolved, verified, grants, actor, progress).await.map(Some)
    }

    fn installed_versions(&self, pack: &str) -> Vec<semver::Version> {
        self.registry.snapshot().versions(pack).map(|v| v.keys().cloned().collect()).unwrap_or_default()
    }
}

fn not_offered(spec: &PackSpec, catalogs: &[CatalogConfig], unreachable: &[String]) -> MarketError {
    let what = match &spec.version {
        Some(v) => format!("pack `{}` {v}", spec.pack),
        None => format!("pack `{}`", spec.pack),
    };
    let mut message = match (&spec.catalog, catalogs.is_empty()) {
        (Some(name), _) => format!("catalog `{name}` does not offer {what}"),
        (None, true) => {
            format!("no catalog is registered, so {what} cannot be found; add one with `helmdeck marketplace add`")
        }
        (None, false) => format!("no registered catalog ({}) offers {what}", catalogs::names(catalogs)),
    };
    if !unreachable.is_empty() {
        message.push_str(&format!(" (unreachable: {})", unreachable.join("; ")));
    }
    message.push_str(&format!("; to install a local directory instead, write a path such as `./{}`", spec.pack));
    MarketError::NotOffered(message)
}
