//! Runtime configuration: flags and `HELMDECK_*` environment variables
//! (parsed by the CLI), an optional TOML file, and defaults, in that order
//! of precedence. Also the layout of the data directory.

use crate::caps::http::client::HttpLimits;
use crate::engine::EngineConfig;
use crate::guard::EgressPolicy;
use crate::sessions::PoolConfig;
use crate::{Error, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The address `helmdeck serve` listens on by default: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8931";

/// Everything a Helmdeck process needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where state lives (database, packs, artifacts, keys).
    pub data_dir: PathBuf,
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// Hosts and networks opened past the egress guard.
    pub egress: EgressPolicy,
    /// Engine sizing and per-call defaults.
    pub engine: EngineConfig,
    /// Outbound HTTP caps.
    pub http: HttpLimits,
    /// Largest artifact a pack may store, in bytes.
    pub max_artifact_bytes: u64,
    /// The JWT signing secret from `HELMDECK_JWT_SECRET`; when absent one is
    /// generated on first start into the data directory.
    pub jwt_secret: Option<String>,
    /// Refuse installs without a verified signature (`HELMDECK_REQUIRE_SIGNED=1`).
    pub require_signed: bool,
    /// The catalog of built-in packs `serve` registers as `builtin` and
    /// installs from on a fresh data directory, with its trusted key.
    pub bundled_catalog: Option<BundledCatalog>,
    /// Session browsers: the Chromium executable and the warm pool's size.
    pub browser: BrowserSettings,
    /// The base URL clients reach this server at (`HELMDECK_PUBLIC_URL`), used
    /// in signed download links; when unset, `serve` uses the address it bound.
    pub public_url: Option<String>,
    /// The vault key from `HELMDECK_VAULT_KEY` (64 hex digits or base64 of
    /// 32 bytes); when absent, `vault.key` in the data directory is used,
    /// created on first start.
    pub vault_key: Option<String>,
    /// The MCP endpoints.
    pub mcp: McpConfig,
    /// How refusals of unauthenticated requests are sampled into the audit log.
    pub unauthenticated_audit: crate::audit::SamplingConfig,
    /// The AI gateway: providers, aliases, fallback chains.
    pub gateway: crate::gateway::GatewayConfig,
}

/// Where the built-in packs are published and who signs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledCatalog {
    /// A catalog directory, `index.yaml` path or HTTP(S) URL.
    pub location: String,
    /// The publisher's public key (PEM file, `cosign.pub`).
    pub key: PathBuf,
}

/// How session browsers are started and pooled.
#[derive(Debug, Clone, Default)]
pub struct BrowserSettings {
    /// The Chromium executable (`HELMDECK_CHROMIUM`); found on the system when unset.
    pub chromium: Option<PathBuf>,
    /// Warm browsers, limits and admission.
    pub pool: PoolConfig,
}

/// How the MCP endpoints (`/mcp`, `/api/v1/mcp/sse`) accept requests and
/// shape results.
#[derive(Debug, Clone, PartialEq)]
pub struct McpConfig {
    /// `Host` header values accepted (DNS-rebinding protection): a name or
    /// address matches any port, `name:port` only that port. The loopback
    /// names by default, plus the host of `public_url`.
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted (`https://app.example:443`, `http://localhost:*`);
    /// a request carrying any other `Origin` is refused, one without `Origin`
    /// (every non-browser client) passes. None by default.
    pub allowed_origins: Vec<String>,
    /// Largest image artifact returned inline as an MCP `image` block; larger
    /// ones come back as resource links with a signed URL.
    pub inline_image_bytes: u64,
}

/// Default [`McpConfig::inline_image_bytes`]: 1 MiB.
pub const DEFAULT_INLINE_IMAGE_BYTES: u64 = 1 << 20;

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            allowed_hosts: ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec(),
            allowed_origins: Vec::new(),
            inline_image_bytes: DEFAULT_INLINE_IMAGE_BYTES,
        }
    }
}

/// The optional TOML file (`--config FILE`, `HELMDECK_CONFIG`). Every key is
/// optional; flags and environment variables win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// Same syntax as `HELMDECK_EGRESS_ALLOWLIST`: names, `*.suffix`, IPs, CIDRs.
    pub egress_allowlist: Option<String>,
    /// Concurrent pack instances (pooling allocator size).
    pub max_instances: Option<u32>,
    /// Memory per call when a manifest says nothing, in MiB.
    pub default_memory_mb: Option<u32>,
    /// Time per call when a manifest says nothing, in milliseconds.
    pub default_timeout_ms: Option<u64>,
    pub max_artifact_bytes: Option<u64>,
    /// Same as `HELMDECK_REQUIRE_SIGNED`.
    pub require_signed: Option<bool>,
    /// Same as `HELMDECK_BUNDLED_CATALOG`.
    pub bundled_catalog: Option<String>,
    /// Same as `HELMDECK_BUNDLED_CATALOG_KEY`.
    pub bundled_catalog_key: Option<PathBuf>,
    /// Path of the Chromium executable for session browsers.
    pub chromium: Option<PathBuf>,
    /// Browsers kept warm (default 1).
    pub browser_warm: Option<usize>,
    /// Most browsers running at once (default 4).
    pub browser_max: Option<usize>,
    /// Most sessions holding a browser context at once (default 64).
    pub browser_max_sessions: Option<usize>,
    /// Most pages (tabs and the windows they open) one session may have open
    /// at once (default 20); more are closed as they appear.
    pub browser_max_pages: Option<usize>,
    /// Base URL for signed download links.
    pub public_url: Option<String>,
    /// Same syntax as `HELMDECK_MCP_ALLOWED_HOSTS`: comma-separated; added to the loopback names.
    pub mcp_allowed_hosts: Option<String>,
    /// Same syntax as `HELMDECK_MCP_ALLOWED_ORIGINS`: comma-separated origins.
    pub mcp_allowed_origins: Option<String>,
    /// Largest image returned inline over MCP, in bytes (default 1048576).
    pub mcp_inline_image_bytes: Option<u64>,
    /// Window of the unauthenticated-refusal sampling, in seconds (default 60).
    pub audit_unauthenticated_window_secs: Option<u64>,
    /// Unauthenticated refusals recorded in full per source and window (default 20).
    pub audit_unauthenticated_burst: Option<u32>,
    /// The AI gateway's providers, aliases and fallbacks (`[gateway]`, see docs/gateway.md).
    pub gateway: Option<crate::gateway::config::GatewayFile>,
}

impl FileConfig {
    /// Read and parse `path`; errors name the file and the bad key.
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid_input(format!("cannot read config file `{}`: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| Error::invalid_input(format!("config file `{}`: {e}", path.display())))
    }
}

/// What the command line (flags or environment) said; `None` when unset.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub egress_allowlist: Option<String>,
    pub jwt_secret: Option<String>,
    pub require_signed: Option<bool>,
    pub bundled_catalog: Option<String>,
    pub bundled_catalog_key: Option<PathBuf>,
    pub chromium: Option<PathBuf>,
    pub public_url: Option<String>,
    pub vault_key: Option<String>,
    pub mcp_allowed_hosts: Option<String>,
    pub mcp_allowed_origins: Option<String>,
    /// The `HELMDECK_<PROVIDER>_API_KEY`, `_API_KEY_FILE`, `_BASE_URL` and
    /// `_MODELS` variables (name, value); other names are ignored.
    pub gateway_env: Vec<(String, String)>,
}

impl Config {
    /// Combine overrides, the file and defaults.
    pub fn resolve(overrides: Overrides, file: FileConfig) -> Result<Config> {
        let data_dir = overrides.data_dir.or(file.data_dir).unwrap_or_else(default_data_dir);
        let listen = match overrides.listen.or(file.listen) {
            Some(addr) => addr,
            None => DEFAULT_LISTEN.parse().map_err(|e| Error::internal(format!("default listen address: {e}")))?,
        };
        let allowlist = overrides.egress_allowlist.or(file.egress_allowlist).unwrap_or_default();
        let egress = EgressPolicy::parse(&allowlist)
            .map_err(|e| Error::invalid_input(format!("HELMDECK_EGRESS_ALLOWLIST: {e}")))?;
        let mut engine = EngineConfig::default();
        if let Some(n) = file.max_instances {
            engine.max_instances = n.max(1);
        }
        if let Some(mb) = file.default_memory_mb {
            engine.default_memory_mb = mb.clamp(1, engine.max_memory_mb);
        }
        if let Some(ms) = file.default_timeout_ms {
            engine.default_timeout = Duration::from_millis(ms.max(1)).min(engine.max_timeout);
        }
        let bundled_catalog = match (
            overrides.bundled_catalog.or(file.bundled_catalog),
            overrides.bundled_catalog_key.or(file.bundled_catalog_key),
        ) {
            (Some(location), Some(key)) => Some(BundledCatalog { location, key }),
            (None, None) => None,
            _ => {
                return Err(Error::invalid_input(
                    "HELMDECK_BUNDLED_CATALOG and HELMDECK_BUNDLED_CATALOG_KEY must be set together: a catalog is \
                     only installed from with the key that signs it",
                ));
            }
        };
        let mut pool = PoolConfig::default();
        pool.warm = file.browser_warm.unwrap_or(pool.warm);
        pool.max_browsers = file.browser_max.unwrap_or(pool.max_browsers).max(1);
        pool.max_contexts = file.browser_max_sessions.unwrap_or(pool.max_contexts).max(1);
        pool.max_pages = file.browser_max_pages.unwrap_or(pool.max_pages).max(2);
        let public_url = overrides.public_url.or(file.public_url).map(|u| u.trim_end_matches('/').to_owned());
        let public_host = match &public_url {
            Some(u) => Some(
                url::Url::parse(u)
                    .map_err(|e| Error::invalid_input(format!("HELMDECK_PUBLIC_URL `{u}`: {e}")))?
                    .host_str()
                    .map(str::to_owned),
            ),
            None => None,
        };
        let mut mcp = McpConfig::default();
        mcp.allowed_hosts.extend(public_host.flatten());
        mcp.allowed_hosts.extend(list(overrides.mcp_allowed_hosts.or(file.mcp_allowed_hosts)));
        mcp.allowed_origins = list(overrides.mcp_allowed_origins.or(file.mcp_allowed_origins));
        if let Some(bytes) = file.mcp_inline_image_bytes {
            mcp.inline_image_bytes = bytes;
        }
        let mut unauthenticated_audit = crate::audit::SamplingConfig::default();
        if let Some(secs) = file.audit_unauthenticated_window_secs {
            unauthenticated_audit.window = Duration::from_secs(secs.max(1));
        }
        unauthenticated_audit.burst = file.audit_unauthenticated_burst.unwrap_or(unauthenticated_audit.burst);
        let gateway = crate::gateway::GatewayConfig::resolve(file.gateway.unwrap_or_default(), &overrides.gateway_env)?;
        Ok(Config {
            data_dir,
            listen,
            egress,
            engine,
            http: HttpLimits::default(),
            max_artifact_bytes: file.max_artifact_bytes.unwrap_or(crate::artifacts::DEFAULT_MAX_ARTIFACT_BYTES),
            jwt_secret: overrides.jwt_secret,
            require_signed: overrides.require_signed.or(file.require_signed).unwrap_or(false),
            bundled_catalog,
            browser: BrowserSettings { chromium: overrides.chromium.or(file.chromium), pool },
            public_url,
            vault_key: overrides.vault_key,
            mcp,
            unauthenticated_audit,
            gateway,
        })
    }

    /// A configuration with defaults for everything but the data directory
    /// (tests and benchmarks).
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let overrides = Overrides { data_dir: Some(data_dir.into()), ..Overrides::default() };
        // Defaults alone always resolve.
        Config::resolve(overrides, FileConfig::default()).unwrap_or_else(|e| unreachable!("defaults resolve: {e}"))
    }

    /// The layout of the data directory.
    pub fn paths(&self) -> DataPaths {
        DataPaths::new(&self.data_dir)
    }
}

/// The non-empty, trimmed items of a comma-separated list.
fn list(text: Option<String>) -> Vec<String> {
    text.iter().flat_map(|t| t.split(',')).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// `$XDG_DATA_HOME/helmdeck` (usually `~/.local/share/helmdeck`), or
/// `./.helmdeck` when no home directory is known.
pub fn default_data_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "helmdeck")
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".helmdeck"))
}

/// Where each kind of state lives under the data directory.
#[derive(Debug, Clone)]
pub struct DataPaths {
    pub root: PathBuf,
    /// The SQLite database.
    pub database: PathBuf,
    /// Installed packs: `packs/<name>/<version>/`.
    pub packs: PathBuf,
    /// Precompiled components.
    pub component_cache: PathBuf,
    /// Artifact blobs.
    pub artifacts: PathBuf,
    /// Session directories (`sessions/<id>/workspace`, `.../private`).
    pub sessions: PathBuf,
    /// Profiles of running session browsers (one directory each).
    pub browsers: PathBuf,
    /// The key that signs public download links (mode 0600).
    pub url_key: PathBuf,
    /// The generated JWT secret (mode 0600).
    pub jwt_secret: PathBuf,
    /// The vault key file (mode 0600) when `HELMDECK_VAULT_KEY` is not set.
    pub vault_key: PathBuf,
    /// Written by a running `serve`: where it listens (the CLI talks to it).
    pub server_info: PathBuf,
    /// Registered catalogs, their trusted keys and cached indexes.
    pub marketplace: PathBuf,
}

impl DataPaths {
    /// The layout under `root`.
    pub fn new(root: &Path) -> DataPaths {
        DataPaths {
            root: root.to_path_buf(),
            database: root.join("helmdeck.db"),
            packs: root.join("packs"),
            component_cache: root.join("cache").join("components"),
            artifacts: root.join("artifacts"),
            sessions: root.join("sessions"),
            browsers: root.join("browsers"),
            url_key: root.join("url.key"),
            jwt_secret: root.join("jwt.secret"),
            vault_key: root.join("vault.key"),
            server_info: root.join("server.json"),
            marketplace: root.join("marketplace"),
        }
    }

    /// Create the data directory (mode 0700: it holds keys and trusted
    /// compiled code). Files in it are made 0600 and directories 0700 by
    /// the process umask (`cli::run` sets 0o077) and by [`DataPaths::tighten`].
    pub fn create(&self) -> Result<()> {
        let io = |e: std::io::Error| {
            Error::internal(format!("cannot create the data directory `{}`: {e}", self.root.display()))
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(())
    }

    /// Close what is already in the data directory to other users: every
    /// directory and file this process's user owns loses its group and
    /// other bits (0755 becomes 0700, 0644 becomes 0600), so a directory
    /// made under a looser umask, by hand or by an older version, holds no
    /// readable secret, database or artifact. Skips symbolic links, entries
    /// another user owns (they are someone else's to shape) and `sessions/`
    /// (removed at start, its workspaces belong to session users).
    /// Blocking.
    #[cfg(unix)]
    pub fn tighten(&self) -> Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let owner = rustix::process::geteuid().as_raw();
        let walk = walkdir::WalkDir::new(&self.root).follow_links(false);
        for entry in walk.into_iter().filter_entry(|e| e.path() != self.sessions) {
            let entry = entry.map_err(|e| Error::internal(format!("cannot check the data directory: {e}")))?;
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.file_type().is_symlink() || meta.uid() != owner || meta.mode() & 0o077 == 0 {
                continue;
            }
            let closed = std::fs::Permissions::from_mode(meta.mode() & 0o7700);
            std::fs::set_permissions(entry.path(), closed).map_err(|e| {
                Error::internal(format!("cannot close `{}` to other users: {e}", entry.path().display()))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = '127.0.0.1:9000'\ndata_dir = '/from/file'\negress_allowlist = 'a.test'\ndefault_timeout_ms = 5000",
        )
        .unwrap();
        let overrides = Overrides { data_dir: Some("/from/flag".into()), ..Overrides::default() };
        let config = Config::resolve(overrides, file).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(config.listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(config.engine.default_timeout, Duration::from_secs(5));
        assert!(config.egress.entry_for_name("a.test").is_some());
    }

    #[test]
    fn mcp_hosts_extend_the_loopback_names_and_the_public_url_host() {
        let file: FileConfig =
            toml::from_str("mcp_inline_image_bytes = 2048\nmcp_allowed_origins = 'http://localhost:*'").unwrap();
        let overrides = Overrides {
            public_url: Some("https://deck.example.com".into()),
            mcp_allowed_hosts: Some("a.test, b.test:9000,".into()),
            ..Overrides::default()
        };
        let config = Config::resolve(overrides, file).unwrap();
        assert_eq!(
            config.mcp.allowed_hosts,
            ["localhost", "127.0.0.1", "::1", "deck.example.com", "a.test", "b.test:9000"]
        );
        assert_eq!(config.mcp.allowed_origins, ["http://localhost:*"]);
        assert_eq!(config.mcp.inline_image_bytes, 2048);
        let bad = Overrides { public_url: Some("not a url".into()), ..Overrides::default() };
        assert!(Config::resolve(bad, FileConfig::default()).unwrap_err().message.contains("HELMDECK_PUBLIC_URL"));
    }

    #[cfg(unix)]
    #[test]
    fn tightening_closes_what_other_users_could_open_and_leaves_sessions_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let paths = DataPaths::new(dir.path());
        paths.create().unwrap();
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777;
        let set = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        std::fs::create_dir_all(paths.packs.join("x")).unwrap();
        std::fs::write(&paths.database, "db").unwrap();
        std::fs::create_dir_all(paths.sessions.join("s")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        for (p, m) in [(&paths.packs, 0o755), (&paths.packs.join("x"), 0o775), (&paths.database, 0o644)] {
            set(p, m);
        }
        set(&paths.sessions.join("s"), 0o755);
        paths.tighten().unwrap();
        assert_eq!([mode(&paths.packs), mode(&paths.packs.join("x")), mode(&paths.database)], [0o700, 0o700, 0o600]);
        assert_eq!(mode(&paths.sessions.join("s")), 0o755, "sessions are not walked");
        assert_eq!(mode(Path::new("/etc")) & 0o055, 0o055, "links are not followed");
    }

    #[test]
    fn unknown_keys_and_bad_allowlists_are_named() {
        let err = toml::from_str::<FileConfig>("lisen = 'x'").unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        let overrides = Overrides { egress_allowlist: Some("not a host!".into()), ..Overrides::default() };
        let err = Config::resolve(overrides, FileConfig::default()).unwrap_err();
        assert!(err.message.contains("HELMDECK_EGRESS_ALLOWLIST"), "{}", err.message);
    }
}
