//! Assembling a Helmdeck instance from its [`Config`]: the store, the audit
//! log, the vault, the egress guard and HTTP client, the AI gateway, the artifact store, the
//! engine, the registry, the marketplace and the dispatcher. `serve`, the CLI's local commands, the tests
//! and the benchmarks all start here, so they run the same parts.

use crate::artifacts::{ArtifactStore, FsBlobStore};
use crate::audit::{AuditLog, Redactor};
use crate::auth::TokenKeys;
use crate::caps::HostServices;
use crate::caps::browser::BrowserService;
use crate::caps::http::client::GuardedHttpClient;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::engine::PackEngine;
use crate::gateway::Gateway;
use crate::guard::{EgressGuard, Resolver, SystemResolver};
use crate::marketplace::Marketplace;
use crate::registry::{PackFiles, PackRegistry};
use crate::sessions::{BrowserPool, LocalConfig, LocalRuntime, Sessions};
use crate::signed_url::LinkSigner;
use crate::store::{SqliteStore, Store};
use crate::vault::Vault;
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
    /// Registered catalogs and installs from them.
    pub marketplace: Marketplace,
    pub dispatcher: Dispatcher,
    /// The AI gateway (`/v1/chat/completions`, and later packs' `llm` capability).
    pub gateway: Arc<Gateway>,
    pub tokens: TokenKeys,
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
        {
            let paths = paths.clone();
            tokio::task::spawn_blocking(move || paths.tighten())
                .await
                .map_err(|e| Error::internal(format!("data directory task failed: {e}")))??;
        }
        let tokens = TokenKeys::load_or_create(config.jwt_secret.as_deref(), &paths.jwt_secret)?;
        let db = paths.database.clone();
        let store: Arc<dyn Store> = Arc::new(
            tokio::task::spawn_blocking(move || SqliteStore::open(&db))
                .await
                .map_err(|e| Error::internal(format!("database task failed: {e}")))??,
        );
        // The vault opens first: a wrong key stops start-up before anything is written.
        let redactor = Redactor::default();
        let vault = Arc::new(
            Vault::open(store.clone(), config.vault_key.as_deref(), &paths.vault_key, redactor.clone()).await?,
        );
        let audit = AuditLog::with_sampling(store.clone(), redactor.clone(), config.unauthenticated_audit);
        let guard = Arc::new(EgressGuard::new(config.egress.clone(), resolver));
        let http = GuardedHttpClient::new(guard.clone(), config.http.clone())?;
        let gateway = Arc::new(Gateway::new(
            config.gateway.clone(),
            http.clone(),
            vault.clone(),
            store.clone(),
            audit.clone(),
            redactor,
        )?);
        let artifacts =
            ArtifactStore::new(Arc::new(FsBlobStore::new(&paths.artifacts)), store.clone(), config.max_artifact_bytes);
        let sessions = Sessions::new(store.clone(), &paths.sessions);
        let reaped = sessions.reap_previous().await?;
        if reaped > 0 {
            tracing::info!(reaped, "closed sessions left open by a previous process");
        }
        let browser = BrowserService::new(browser_pool(&config), guard, audit.clone());
        let orphans = browser.pool().reap_orphans().await?;
        if orphans > 0 {
            tracing::info!(orphans, "stopped session browsers left running by a previous process");
        }
        let base = config.public_url.clone().unwrap_or_else(|| format!("http://{}", config.listen));
        let links = LinkSigner::load_or_create(&paths.url_key, &base)?;
        let services = Arc::new(HostServices {
            audit: audit.clone(),
            http,
            artifacts,
            sessions,
            browser,
            links,
            vault,
            session_users: Arc::default(),
        });
        let engine = Arc::new(PackEngine::new(config.engine.clone(), &paths.component_cache)?);
        let registry = Arc::new(
            PackRegistry::new(engine.clone(), services.clone(), store.clone(), PackFiles::new(&paths.packs))
                .requiring_signatures(config.require_signed),
        );
        registry.load_installed().await?;
        let marketplace = Marketplace::new(&paths.marketplace, services.http.guard().clone(), registry.clone());
        let dispatcher = Dispatcher::new(registry.clone(), engine.clone(), services.clone());
        let shutdown = CancellationToken::new();
        Ok(Arc::new(Helmdeck {
            config,
            store,
            audit,
            engine,
            services,
            registry,
            marketplace,
            dispatcher,
            gateway,
            tokens,
            shutdown,
        }))
    }
}

/// The warm pool over the local runtime, with profiles under the data
/// directory. Nothing is launched until `serve` warms it or a session needs
/// a browser.
fn browser_pool(config: &Config) -> BrowserPool {
    let local = LocalConfig::for_data_dir(config.browser.chromium.clone(), config.paths().browsers);
    BrowserPool::new(Arc::new(LocalRuntime::new(local)), config.browser.pool)
}
