//! The registered catalogs: `<data-dir>/marketplace/catalogs.json` (name,
//! location, trust roots) and the last fetched index of each
//! (`index/<name>.yaml`, for listings and search).
//!
//! The file is read on every operation, so `helmdeck marketplace add` by the
//! CLI takes effect in a running server at once; writes go through a
//! temporary file and a rename. Blocking: async callers use
//! `spawn_blocking`.

use super::MarketError;
use helmdeck_marketplace::{Catalog, TrustRoot};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One registered catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogConfig {
    /// The local name (`builtin`, `acme`).
    pub name: String,
    /// Where its `index.yaml` is (see [`super::Location`]).
    pub location: String,
    /// Who must have signed its packs; any one root suffices.
    pub trust: Vec<TrustRoot>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogsFile {
    catalogs: Vec<CatalogConfig>,
}

/// The marketplace directory of a data directory.
#[derive(Debug, Clone)]
pub struct CatalogStore {
    dir: PathBuf,
}

impl CatalogStore {
    /// Catalogs kept under `dir` (`<data-dir>/marketplace`).
    pub fn new(dir: impl Into<PathBuf>) -> CatalogStore {
        CatalogStore { dir: dir.into() }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("catalogs.json")
    }

    /// Whether any catalog was ever registered here (the first start of a
    /// data directory installs the built-in packs; later starts do not).
    pub fn initialised(&self) -> bool {
        self.file().exists()
    }

    /// Every registered catalog, in registration order.
    pub fn list(&self) -> Result<Vec<CatalogConfig>, MarketError> {
        match std::fs::read(self.file()) {
            Ok(bytes) => serde_json::from_slice::<CatalogsFile>(&bytes)
                .map(|f| f.catalogs)
                .map_err(|e| MarketError::Storage(format!("`{}` is not valid: {e}", self.file().display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(MarketError::Storage(format!("cannot read `{}`: {e}", self.file().display()))),
        }
    }

    /// The catalog called `name`.
    pub fn get(&self, name: &str) -> Result<CatalogConfig, MarketError> {
        let all = self.list()?;
        let known = names(&all);
        all.into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| MarketError::UnknownCatalog { name: name.to_owned(), known })
    }

    /// Register `config`; an existing name is refused unless `replace`.
    pub fn add(&self, config: CatalogConfig, replace: bool) -> Result<(), MarketError> {
        // Catalog names follow the pack-name rules.
        if !helmdeck_marketplace::is_pack_name(&config.name) {
            return Err(MarketError::Location(format!(
                "catalog name `{}` must be 1-32 lower-case letters, digits, `-` or `_`, starting with a letter",
                config.name
            )));
        }
        let mut all = self.list()?;
        match all.iter_mut().find(|c| c.name == config.name) {
            Some(_) if !replace => {
                return Err(MarketError::Location(format!(
                    "a catalog `{}` is already registered; pass --replace to change it, or remove it first",
                    config.name
                )));
            }
            Some(existing) => *existing = config,
            None => all.push(config),
        }
        self.save(all)
    }

    /// Forget catalog `name` and its cached index. Installed packs stay.
    pub fn remove(&self, name: &str) -> Result<CatalogConfig, MarketError> {
        let removed = self.get(name)?;
        let rest = self.list()?.into_iter().filter(|c| c.name != name).collect();
        self.save(rest)?;
        let _ = std::fs::remove_file(self.index_path(name));
        Ok(removed)
    }

    /// The last fetched index of catalog `name`, if any.
    pub fn cached_index(&self, name: &str) -> Option<Catalog> {
        let text = std::fs::read_to_string(self.index_path(name)).ok()?;
        Catalog::from_yaml(&text).ok()
    }

    /// Remember `index` as catalog `name`'s latest.
    pub fn store_index(&self, name: &str, index: &Catalog) -> Result<(), MarketError> {
        write_atomically(&self.index_path(name), index.to_yaml().as_bytes())
    }

    fn index_path(&self, name: &str) -> PathBuf {
        self.dir.join("index").join(format!("{name}.yaml"))
    }

    fn save(&self, catalogs: Vec<CatalogConfig>) -> Result<(), MarketError> {
        let bytes = serde_json::to_vec_pretty(&CatalogsFile { catalogs })
            .map_err(|e| MarketError::Storage(format!("cannot encode the catalog list: {e}")))?;
        write_atomically(&self.file(), &bytes)
    }
}

/// The registered names, comma-separated (`none` when there are none).
pub fn names(all: &[CatalogConfig]) -> String {
    if all.is_empty() { "none".to_owned() } else { all.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ") }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), MarketError> {
    let failed = |e: std::io::Error| MarketError::Storage(format!("cannot write `{}`: {e}", path.display()));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    let tmp = path.with_extension(format!("tmp{}", uuid::Uuid::now_v7().simple()));
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, location: &str) -> CatalogConfig {
        CatalogConfig {
            name: name.into(),
            location: location.into(),
            trust: vec![TrustRoot::PublicKey { pem: "PEM".into() }],
        }
    }

    #[test]
    fn catalogs_are_added_replaced_only_on_request_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = CatalogStore::new(dir.path());
        assert!(!store.initialised());
        assert!(store.list().unwrap().is_empty());
        store.add(config("acme", "file:///a/index.yaml"), false).unwrap();
        assert!(store.initialised());
        let err = store.add(config("acme", "file:///b/index.yaml"), false).unwrap_err();
        assert!(err.to_string().contains("--replace"), "{err}");
        store.add(config("acme", "file:///b/index.yaml"), true).unwrap();
        assert_eq!(store.get("acme").unwrap().location, "file:///b/index.yaml");
        store.store_index("acme", &Catalog::new("acme", "", "")).unwrap();
        assert!(store.cached_index("acme").is_some());
        store.remove("acme").unwrap();
        assert!(store.cached_index("acme").is_none());
        let err = store.get("acme").unwrap_err();
        assert!(matches!(err, MarketError::UnknownCatalog { .. }), "{err}");
        assert!(store.add(config("Bad Name", "x"), false).is_err());
    }
}
