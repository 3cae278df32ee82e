//! `helmdeck serve`: hold the data directory, load the packs, warm the
//! session browser pool, serve HTTP until SIGINT or SIGTERM, then finish
//! requests in flight, stop the browsers and exit.

use super::target::{ServerInfo, try_lock};
use crate::app::Helmdeck;
use crate::config::Config;
use crate::{Error, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// How often expired sessions are closed.
const SESSION_WATCHDOG_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:8931` by default; use port 0 for any free port).
    #[arg(long, env = "HELMDECK_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// The catalog of built-in packs (directory, index.yaml or HTTP(S) URL): registered
    /// as `builtin`, installed from on a fresh data directory, synced on later starts.
    #[arg(long, env = "HELMDECK_BUNDLED_CATALOG", value_name = "LOCATION", requires = "bundled_catalog_key")]
    pub bundled_catalog: Option<String>,
    /// The public key (PEM, cosign.pub) that signs the bundled catalog.
    #[arg(long, env = "HELMDECK_BUNDLED_CATALOG_KEY", value_name = "FILE", requires = "bundled_catalog")]
    pub bundled_catalog_key: Option<PathBuf>,
    /// Extra `Host` values the MCP endpoints accept besides the loopback names
    /// (DNS-rebinding protection): `deck.lan`, `10.0.0.5:8931`, comma-separated.
    #[arg(long, env = "HELMDECK_MCP_ALLOWED_HOSTS", value_name = "LIST")]
    pub mcp_allowed_hosts: Option<String>,
    /// Browser origins the MCP endpoints accept (`http://localhost:*`,
    /// `https://app.example:443`), comma-separated. Default: none.
    #[arg(long, env = "HELMDECK_MCP_ALLOWED_ORIGINS", value_name = "LIST")]
    pub mcp_allowed_origins: Option<String>,
}

pub async fn run(config: Config, _args: ServeArgs) -> Result<ExitCode> {
    let paths = config.paths();
    paths.create()?;
    let Some(_lock) = try_lock(&paths)? else {
        return Err(Error::invalid_input(format!(
            "another `helmdeck serve` already uses the data directory `{}`; stop it or pass another --data-dir",
            paths.root.display()
        )));
    };
    let listen = config.listen;
    let bundled = config.bundled_catalog.clone();
    let app = Helmdeck::open(config).await?;
    app.services.sessions.spawn_watchdog(SESSION_WATCHDOG_PERIOD);
    if let Some(bundled) = &bundled
        && let Err(error) = app.marketplace.bootstrap(bundled).await
    {
        tracing::error!(%error, "the bundled catalog could not be used; built-in packs were not installed");
    }
    let browsers = app.services.browser.pool().clone();
    let warming = app.services.browser.clone();
    tokio::spawn(async move {
        if let Err(e) = warming.warm_up().await {
            tracing::warn!(error = %e, "no warm session browser; browser tools will fail until Chromium can start");
        }
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::invalid_input(format!("cannot listen on {listen}: {e}")))?;
    let local = listener.local_addr().map_err(|e| Error::internal(format!("listener address: {e}")))?;
    let info = ServerInfo { url: format!("http://{local}"), pid: std::process::id() };
    if app.config.public_url.is_none() {
        app.services.links.set_base(&info.url);
    }
    write_server_info(&paths.server_info, &info)?;
    let snapshot = app.registry.snapshot();
    tracing::info!(
        url = %info.url,
        packs = snapshot.latest().count(),
        failed = snapshot.failures().len(),
        allocator = ?app.engine.allocator(),
        "helmdeck listening"
    );
    eprintln!("helmdeck {} listening on {}", env!("CARGO_PKG_VERSION"), info.url);
    let shutdown = app.shutdown.clone();
    let audit = app.audit.clone();
    tokio::spawn(audit.clone().sweep(shutdown.clone()));
    let stop = async move {
        shutdown_signal().await;
        shutdown.cancel();
    };
    let gateway = app.gateway.clone();
    // Each connection's peer address: unauthenticated refusals are sampled per source.
    let service = crate::api::router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, service).with_graceful_shutdown(stop).await;
    if let Err(error) = gateway.usage().flush().await {
        tracing::warn!(%error, "the gateway's last usage counts could not be stored");
    }
    let _ = std::fs::remove_file(&paths.server_info);
    if let Err(e) = audit.flush_unauthenticated().await {
        tracing::error!(error = %e, "the last counts of unauthenticated requests could not be recorded");
    }
    browsers.shutdown().await;
    served.map_err(|e| Error::internal(format!("server failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

fn write_server_info(path: &std::path::Path, info: &ServerInfo) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(info).map_err(|e| Error::internal(e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| Error::internal(format!("cannot write `{}`: {e}", path.display())))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = interrupt => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}
