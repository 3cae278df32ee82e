//! The pack registry: which packs are installed, loaded and callable.
//!
//! Packs installed under the data directory load at start. Install and
//! removal at runtime swap an immutable [`Snapshot`] atomically (no restart;
//! calls in flight finish on the version they started with). Every install,
//! whatever its source (a local directory now, a signed catalog later),
//! goes through [`PackRegistry::install`].

mod files;
mod snapshot;
mod tool_ref;
mod tools;

pub use files::PackFiles;
pub use snapshot::{LoadFailure, Snapshot};
pub use tool_ref::{ToolRef, VersionSelector, is_tool_name, mcp_name};
pub use tools::{Tool, Violation};
pub(crate) use tools::{masked_violations, summary as violation_summary};

use crate::audit::{AuditEvent, AuditKind, Outcome};
use crate::caps::{CallInfo, CapsContext, HostServices};
use crate::engine::{CacheOutcome, CallLimits, LinkedPack, Operation, PackEngine};
use crate::sessions::SessionSlot;
use crate::store::{InstalledPack, Store, Timestamp, run_blocking};
use crate::{Error, ErrorCode, Result};
use arc_swap::ArcSwap;
use helmdeck_marketplace::{Capability, CapabilityScope, Digest, Manifest, VerifiedSignature};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One loaded pack version.
pub struct LoadedPack {
    pub manifest: Manifest,
    /// The install record (source, signer, grants, time).
    pub record: InstalledPack,
    pub digest: Digest,
    /// Granted capabilities with the scopes the manifest requested.
    pub grants: BTreeMap<Capability, CapabilityScope>,
    pub limits: CallLimits,
    pub tools: Vec<Tool>,
    pub(crate) linked: LinkedPack,
}

impl LoadedPack {
    /// The tool at `index` (from [`Snapshot::resolve`]).
    pub fn tool(&self, index: usize) -> &Tool {
        &self.tools[index]
    }

    /// The component linked with this pack's grants, ready for
    /// [`PackEngine::invoke`] (the dispatcher's path; benchmarks time it alone).
    pub fn linked(&self) -> &LinkedPack {
        &self.linked
    }
}

/// What to install.
pub struct InstallRequest {
    pub manifest: Manifest,
    pub component: Vec<u8>,
    /// Capabilities an operator granted; must be a subset of the manifest's requests.
    pub grants: BTreeSet<Capability>,
    /// Where the pack came from (a path, a catalog URL), for the record.
    pub source: String,
    /// Proof that a trusted key signed the manifest; `None` for a local
    /// development install (recorded and shown as unsigned, refused when the
    /// host requires signatures).
    pub signer: Option<VerifiedSignature>,
    /// Who asked for the install (audited).
    pub actor: String,
}

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InstallReport {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub grants: Vec<Capability>,
    pub tools: Vec<String>,
    /// Whether the precompiled cache already held the component.
    pub cached: bool,
    /// The version this install replaced as the newest, if any.
    pub replaced: Option<String>,
    pub duration_ms: f64,
}

/// What changed in the registry: sent to every subscriber after the new
/// snapshot is in place, so a subscriber that reads the snapshot on receipt
/// sees the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackChange {
    /// The installed packs were (re)loaded from the store at start.
    Loaded,
    /// `name` `version` was installed (or reinstalled).
    Installed { name: String, version: String },
    /// These versions of `name` were removed.
    Removed { name: String, versions: Vec<String> },
}

/// How many changes a slow subscriber may fall behind before it misses some
/// (it then gets `RecvError::Lagged` and should re-read the snapshot).
const CHANGE_BACKLOG: usize = 64;

/// Installed packs and the current snapshot.
pub struct PackRegistry {
    current: ArcSwap<Snapshot>,
    /// Fired after each snapshot swap (MCP's `tools/list_changed`).
    changes: tokio::sync::broadcast::Sender<PackChange>,
    /// Serializes installs and removals; readers never take it.
    writer: tokio::sync::Mutex<()>,
    engine: Arc<PackEngine>,
    services: Arc<HostServices>,
    store: Arc<dyn Store>,
    files: PackFiles,
    require_signed: bool,
}

/// A `describe` call must be quick; it runs at every load.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);

impl PackRegistry {
    /// An empty registry; call [`PackRegistry::load_installed`] to load what
    /// the store records.
    pub fn new(engine: Arc<PackEngine>, services: Arc<HostServices>, store: Arc<dyn Store>, files: PackFiles) -> Self {
        PackRegistry {
            current: ArcSwap::from_pointee(Snapshot::default()),
            changes: tokio::sync::broadcast::channel(CHANGE_BACKLOG).0,
            writer: tokio::sync::Mutex::new(()),
            engine,
            services,
            store,
            files,
            require_signed: false,
        }
    }

    /// Refuse every install that carries no verified signature
    /// (`HELMDECK_REQUIRE_SIGNED=1`): local directory and upload installs then fail.
    pub fn requiring_signatures(mut self, require: bool) -> Self {
        self.require_signed = require;
        self
    }

    /// Whether unsigned installs are refused.
    pub fn requires_signatures(&self) -> bool {
        self.require_signed
    }

    /// The current snapshot (lock-free).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Changes from now on, one message per snapshot swap. Lossy for a
    /// subscriber more than 64 changes behind; there is no replay.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<PackChange> {
        self.changes.subscribe()
    }

    /// Swap `next` in and tell subscribers. Sending fails only when nobody
    /// subscribes, which is fine.
    fn publish(&self, next: Snapshot, change: PackChange) {
        self.current.store(Arc::new(next));
        let _ = self.changes.send(change);
    }

    /// Load every pack the store records as installed. A pack that fails
    /// (tampered component, incompatible contract) is reported in
    /// [`Snapshot::failures`] and logged; the others still load.
    pub async fn load_installed(&self) -> Result<()> {
        let _guard = self.writer.lock().await;
        let records = run_blocking(&self.store, |s| s.list_packs()).await?;
        let mut next = Snapshot::default();
        for record in records {
            match self.load_record(&record).await {
                Ok(pack) => {
                    next.packs
                        .entry(pack.manifest.name.clone())
                        .or_default()
                        .insert(pack.manifest.version.clone(), Arc::new(pack));
                }
                Err(error) => {
                    tracing::error!(pack = %record.name, version = %record.version, %error, "installed pack failed to load");
                    next.failures.push(LoadFailure { name: record.name, version: record.version, error });
                }
            }
        }
        self.publish(next, PackChange::Loaded);
        Ok(())
    }

    async fn load_record(&self, record: &InstalledPack) -> Result<LoadedPack> {
        let version = semver::Version::parse(&record.version)
            .map_err(|e| Error::internal(format!("recorded version `{}` is not semver: {e}", record.version)))?;
        let digest: Digest = record.digest.parse().map_err(Error::internal)?;
        let files = self.files.clone();
        let name = record.name.clone();
        let (manifest, component) = tokio::task::spawn_blocking(move || files.read(&name, &version, &digest))
            .await
            .map_err(|e| Error::internal(format!("pack read task failed: {e}")))??;
        let grants = record
            .grants
            .iter()
            .map(|g| g.parse::<Capability>().map_err(Error::internal))
            .collect::<Result<BTreeSet<_>>>()?;
        let (pack, _) = self.prepare(manifest, component, digest, &grants, record.clone()).await?;
        Ok(pack)
    }

    /// Compile, link with `grants`, describe and check a pack.
    async fn prepare(
        &self,
        manifest: Manifest,
        component: Vec<u8>,
        digest: Digest,
        grants: &BTreeSet<Capability>,
        record: InstalledPack,
    ) -> Result<(LoadedPack, CacheOutcome)> {
        let (compiled, cache) = self.engine.compile(digest, component).await?;
        let linked = self.engine.link(&compiled, grants)?;
        let scoped: BTreeMap<Capability, CapabilityScope> =
            grants.iter().map(|c| (*c, manifest.capabilities.get(c).cloned().unwrap_or_default())).collect();
        let limits = self.engine.limits(&manifest.limits);
        let caps = CapsContext {
            call: Arc::new(CallInfo {
                call_id: uuid::Uuid::now_v7().to_string(),
                actor: "system".into(),
                session: None,
                pack: manifest.name.clone(),
                version: manifest.version.to_string(),
                digest: digest.to_hex(),
                tool: None,
                grants: scoped.clone(),
                cleanup: Default::default(),
            }),
            session: Arc::new(SessionSlot::new(self.services.sessions.clone(), "system", None)),
            services: self.services.clone(),
            progress: Default::default(),
        };
        let describe_limits = CallLimits { timeout: limits.timeout.min(DESCRIBE_TIMEOUT), ..limits };
        let described = self.engine.invoke(&linked, describe_limits, caps, Operation::Describe).await;
        let json = described
            .result
            .map_err(|e| Error::new(e.code, format!("describe() of pack `{}` failed: {}", manifest.name, e.message)))?;
        let tools = tools::parse_description(&json, &manifest.name, &manifest.version)?;
        Ok((LoadedPack { manifest, record, digest, grants: scoped, limits, tools, linked }, cache))
    }

    /// Install (or reinstall) a pack version and make it callable at once.
    /// Nothing is written unless every check passes: digest, grants,
    /// imports, describe, tool names, collisions.
    pub async fn install(&self, req: InstallRequest) -> Result<InstallReport> {
        self.install_replacing(req, &[]).await
    }

    /// [`PackRegistry::install`], also retiring the `retire` versions of the
    /// same pack in the same snapshot swap (an upgrade): no moment exists in
    /// which neither version is callable, and calls in flight on a retired
    /// version finish on it.
    pub async fn install_replacing(&self, req: InstallRequest, retire: &[semver::Version]) -> Result<InstallReport> {
        let started = Instant::now();
        let actor = req.actor.clone();
        let target = format!("{}@{}", req.manifest.name, req.manifest.version);
        let result = self.install_inner(req, retire, started).await;
        let mut event = AuditEvent::new(AuditKind::Admin, actor);
        event.capability = Some("pack.install".into());
        event.pack = Some(target.split('@').next().unwrap_or_default().to_owned());
        event.target = Some(target);
        event.duration_us = started.elapsed().as_micros() as u64;
        match &result {
            Ok(report) => {
                event.version = Some(report.version.clone());
                event.digest = Some(report.digest.clone());
                event.details = serde_json::to_value(report).ok();
            }
            Err(e) => {
                event.outcome = Outcome::Error(e.code);
                event.details = Some(serde_json::json!({ "message": e.message }));
            }
        }
        self.services.audit.record(event).await?;
        result
    }

    async fn install_inner(
        &self,
        req: InstallRequest,
        retire: &[semver::Version],
        started: Instant,
    ) -> Result<InstallReport> {
        let InstallRequest { manifest, component, grants, source, signer, .. } = req;
        if signer.is_none() && self.require_signed {
            return Err(Error::unauthorized(format!(
                "signature check failed: pack `{}` is unsigned and this server requires signed packs \
                 (HELMDECK_REQUIRE_SIGNED); install it from a catalog with `helmdeck pack install {}`",
                manifest.name, manifest.name
            )));
        }
        manifest.validate().map_err(|e| Error::invalid_input(e.to_string()))?;
        let digest = Digest::of(&component);
        if let Some(pinned) = manifest.component.sha256
            && pinned != digest
        {
            return Err(Error::invalid_input(format!(
                "digest check failed: the component's SHA-256 is {digest}, but helmdeck-pack.yaml pins {pinned}"
            )));
        }
        if let Some(extra) = grants.iter().find(|g| !manifest.capabilities.contains_key(g)) {
            return Err(Error::invalid_input(format!(
                "cannot grant `{extra}`: pack `{}` does not request it in helmdeck-pack.yaml",
                manifest.name
            )));
        }
        let mut manifest = manifest;
        manifest.component.sha256 = Some(digest);
        let record = InstalledPack {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            digest: digest.to_hex(),
            grants: grants.iter().map(|g| g.as_str().to_owned()).collect(),
            source,
            signer: signer.map(|s| s.signer().to_owned()),
            installed_at: Timestamp::now(),
        };

        let _guard = self.writer.lock().await;
        let (pack, cache) = self.prepare(manifest.clone(), component.clone(), digest, &grants, record.clone()).await?;
        let current = self.current.load_full();
        if let Some((mcp, pair)) = current.collision(&pack) {
            return Err(Error::invalid_input(format!(
                "tool name collision: {pair} are both `{mcp}` over MCP; rename one of the tools or packs"
            )));
        }
        let files = self.files.clone();
        let to_write = manifest.clone();
        tokio::task::spawn_blocking(move || files.write(&to_write, &component))
            .await
            .map_err(|e| Error::internal(format!("pack write task failed: {e}")))??;
        let stored = record.clone();
        run_blocking(&self.store, move |s| s.upsert_pack(&stored)).await?;

        let retired = self.retire_files(&manifest.name, retire.iter().filter(|v| **v != manifest.version)).await?;
        let replaced = current.versions(&manifest.name).and_then(|v| v.keys().next_back()).map(ToString::to_string);
        let report = InstallReport {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            digest: digest.to_hex(),
            grants: grants.iter().copied().collect(),
            tools: pack.tools.iter().map(|t| t.name.clone()).collect(),
            cached: cache == CacheOutcome::Hit,
            replaced,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        let mut next = clone_snapshot(&current);
        next.failures.retain(|f| !(f.name == manifest.name && f.version == manifest.version.to_string()));
        let versions = next.packs.entry(manifest.name.clone()).or_default();
        versions.retain(|v, _| !retired.contains(v));
        versions.insert(manifest.version.clone(), Arc::new(pack));
        self.publish(next, PackChange::Installed { name: report.name.clone(), version: report.version.clone() });
        Ok(report)
    }

    /// Forget and delete `versions` of pack `name` (store record, then
    /// files); returns those that were installed. Callers hold the writer lock.
    async fn retire_files<'v>(
        &self,
        name: &str,
        versions: impl Iterator<Item = &'v semver::Version>,
    ) -> Result<Vec<semver::Version>> {
        let mut retired = Vec::new();
        for version in versions {
            let (key, only) = (name.to_owned(), version.to_string());
            if run_blocking(&self.store, move |s| s.remove_pack(&key, Some(&only))).await? == 0 {
                continue;
            }
            let files = self.files.clone();
            let (n, v) = (name.to_owned(), version.clone());
            tokio::task::spawn_blocking(move || files.remove(&n, &v))
                .await
                .map_err(|e| Error::internal(format!("pack removal task failed: {e}")))??;
            retired.push(version.clone());
        }
        Ok(retired)
    }

    /// Remove pack `name` (one `version`, or every version). Calls in flight
    /// finish; new calls get `not_found`. Returns the removed versions.
    pub async fn remove(&self, name: &str, version: Option<&semver::Version>, actor: &str) -> Result<Vec<String>> {
        let started = Instant::now();
        let result = self.remove_inner(name, version).await;
        let mut event = AuditEvent::new(AuditKind::Admin, actor);
        event.capability = Some("pack.remove".into());
        event.pack = Some(name.to_owned());
        event.target = Some(match version {
            Some(v) => format!("{name}@{v}"),
            None => name.to_owned(),
        });
        event.duration_us = started.elapsed().as_micros() as u64;
        match &result {
            Ok(removed) => event.details = Some(serde_json::json!({ "removed": removed })),
            Err(e) => event.outcome = Outcome::Error(e.code),
        }
        self.services.audit.record(event).await?;
        result
    }

    async fn remove_inner(&self, name: &str, version: Option<&semver::Version>) -> Result<Vec<String>> {
        let _guard = self.writer.lock().await;
        let current = self.current.load_full();
        let installed: Vec<semver::Version> = current
            .versions(name)
            .map(|v| v.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(current.failures.iter().filter(|f| f.name == name).filter_map(|f| f.version.parse().ok()))
            .filter(|v| version.is_none_or(|wanted| wanted == v))
            .collect();
        if installed.is_empty() {
            let what = version.map_or_else(|| format!("pack `{name}`"), |v| format!("pack `{name}` {v}"));
            return Err(Error::not_found(format!("{what} is not installed")));
        }
        self.retire_files(name, installed.iter()).await?;
        let mut next = clone_snapshot(&current);
        if let Some(versions) = next.packs.get_mut(name) {
            versions.retain(|v, _| !installed.contains(v));
            if versions.is_empty() {
                next.packs.remove(name);
            }
        }
        next.failures.retain(|f| !(f.name == name && f.version.parse().is_ok_and(|v| installed.contains(&v))));
        let versions: Vec<String> = installed.iter().map(ToString::to_string).collect();
        self.publish(next, PackChange::Removed { name: name.to_owned(), versions: versions.clone() });
        Ok(versions)
    }
}

/// A new snapshot sharing every loaded pack with `current`.
fn clone_snapshot(current: &Snapshot) -> Snapshot {
    Snapshot { packs: current.packs.clone(), failures: current.failures.clone() }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::new(ErrorCode::InternalError, format!("a background task failed: {e}"))
    }
}
