//! Assembling a Helmdeck instance from its [`Config`]: the store, the audit
//! log, the egress guard and HTTP client, the artifact store, the engine, the
//! registry and the dispatcher. `serve`, the CLI's local commands, the tests
//! and the benchmarks all start here, so they run the same parts.

use crate::artifacts::{ArtifactLinks, ArtifactStore, FsBlobStore};
use crate::audit::{AuditLog, Redactor};
use crate::auth::TokenKeys;
use crate::caps::HostServices;
use crate::caps::http::client::GuardedHttpClient;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::engine::PackEngine;
use crate::guard::{EgressGuard, Resolver, SystemResolver};
use crate::registry::{PackFiles, PackRegistry};
use crate::store::{SqliteStore, Store};
use crate::{Error, Result};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running Helmdeck's parts. Cheap to share (`Arc`).
pub struct Helmdeck {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub audit: AuditLog,
    pub engine: Arc<PackEngine>,
    pub services: Arc<HostServices>,
    pub registry: Arc<PackRegistry>,
    pub dispatcher: Dispatcher,
    pub tokens: TokenKeys,
    /// Signs artifact download links (MCP resource links, tokenless downloads).
    pub links: ArtifactLinks,
    /// Cancelled when the server starts shutting down: long-lived streams
    /// (MCP sessions, SSE) end on it so shutdown does not wait for clients.
    pub shutdown: CancellationToken,
}

impl Helmdeck {
    /// Open the data directory and load every installed pack, resolving
    /// names with the system resolver.
    pub async fn open(config: Config) -> Result<Arc<Helmdeck>> {
        Helmdeck::open_with_resolver(config, Arc::new(SystemResolver)).await
    }

    /// [`Helmdeck::open`] with a chosen resolver (tests map names to loopback).
    pub async fn open_with_resolver(config: Config, resolver: Arc<dyn Resolver>) -> Result<Arc<Helmdeck>> {
        let paths = config.paths();
        paths.create()?;
        let tokens = TokenKeys::load_or_create(config.jwt_secret.as_deref(), &paths.jwt_secret)?;
        let links = ArtifactLinks::load_or_create(&paths.link_key)?;
        let db = paths.database.clone();
        let store: Arc<dyn Store> = Arc::new(
            tokio::task::spawn_blocking(move || SqliteStore::open(&db))
                .await
                .map_err(|e| Error::internal(format!("database task failed: {e}")))??,
        );
        let audit = AuditLog::new(store.clone(), Redactor::default());
        let guard = Arc::new(EgressGuard::new(config.egress.clone(), resolver));
        let http = GuardedHttpClient::new(guard, config.http.clone())?;
        let artifacts =
            ArtifactStore::new(Arc::new(FsBlobStore::new(&paths.artifacts)), store.clone(), config.max_artifact_bytes);
        let services = Arc::new(HostServices { audit: audit.clone(), http, artifacts });
        let engine = Arc::new(PackEngine::new(config.engine.clone(), &paths.component_cache)?);
        let registry = Arc::new(PackRegistry::new(engine.clone(), services.clone(), store.clone(), PackFiles::new(&paths.packs)));
        registry.load_installed().await?;
        let dispatcher = Dispatcher::new(registry.clone(), engine.clone(), services.clone());
        let shutdown = CancellationToken::new();
        Ok(Arc::new(Helmdeck { config, store, audit, engine, services, registry, dispatcher, tokens, links, shutdown }))
    }
}
