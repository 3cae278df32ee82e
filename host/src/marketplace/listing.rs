//! What the marketplace offers, with install state: `GET
//! /api/v1/marketplace`, `helmdeck marketplace list` and `helmdeck pack search`.

use super::{CatalogConfig, Marketplace, catalog_of};
use crate::Result;
use crate::registry::Snapshot;
use helmdeck_marketplace::{Capability, Catalog, TrustRoot};
use serde::Serialize;

/// Every registered catalog and its packs.
#[derive(Debug, Clone, Serialize)]
pub struct MarketListing {
    /// Every registered catalog, in registration order.
    pub catalogs: Vec<CatalogView>,
}

/// One catalog.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogView {
    /// The local name it is registered under.
    pub name: String,
    /// The `index.yaml` URL.
    pub location: String,
    /// Its trust roots (`key sha256:…`).
    pub trust: Vec<String>,
    /// The catalog's own name, description and maintainer (from its index).
    pub title: Option<String>,
    /// What the catalog says it offers.
    pub description: Option<String>,
    /// Who maintains it.
    pub maintainer: Option<String>,
    /// Why the index could not be read, when it could not.
    pub error: Option<String>,
    /// Its packs, by name.
    pub packs: Vec<OfferView>,
}

/// One pack a catalog offers, and whether it is installed.
#[derive(Debug, Clone, Serialize)]
pub struct OfferView {
    /// The pack's name.
    pub name: String,
    /// The newest version's description.
    pub description: String,
    /// Its category, for search.
    pub category: Option<String>,
    /// Its tags, for search.
    pub tags: Vec<String>,
    /// Published versions, ascending.
    pub versions: Vec<String>,
    /// The newest published version.
    pub latest: String,
    /// What the newest version requests (from the index; install shows the signed manifest's).
    pub capabilities: Vec<Capability>,
    /// Whether the newest version has a signature in the catalog.
    pub signed: bool,
    /// Installed versions of this pack (from any source).
    pub installed: Vec<String>,
    /// The verified signer of the newest installed version, when signed.
    pub installed_signer: Option<String>,
    /// Whether the installed pack came from this catalog.
    pub installed_from_here: bool,
    /// The newer version this catalog offers, when the installed one is older.
    pub upgrade: Option<String>,
}

impl Marketplace {
    /// Every catalog with its packs and their install state. With
    /// `refresh`, indexes are fetched now; otherwise the cached ones are
    /// used (and fetched when there is none yet). A catalog that cannot be
    /// read is listed with its `error`.
    pub async fn listing(&self, refresh: bool) -> Result<MarketListing> {
        let snapshot = self.registry.snapshot();
        let mut catalogs = Vec::new();
        for config in self.catalogs.list().await? {
            let name = config.name.clone();
            let cached = if refresh { None } else { self.catalogs.stored(move |s| Ok(s.cached_index(&name))).await? };
            let index = match cached {
                Some(index) => Ok(index),
                None => self.catalogs.fetch_index(&config).await.map(|(_, index)| index),
            };
            catalogs.push(match index {
                Ok(index) => view(&config, Some(&index), None, &snapshot),
                Err(e) => view(&config, None, Some(e.message), &snapshot),
            });
        }
        Ok(MarketListing { catalogs })
    }
}

fn view(config: &CatalogConfig, index: Option<&Catalog>, error: Option<String>, snapshot: &Snapshot) -> CatalogView {
    let packs = index
        .map(|index| index.packs.iter().filter_map(|(name, pack)| offer(config, name, pack, snapshot)).collect())
        .unwrap_or_default();
    CatalogView {
        name: config.name.clone(),
        location: config.location.clone(),
        trust: config.trust.iter().map(TrustRoot::describe).collect(),
        title: index.map(|i| i.name.clone()),
        description: index.map(|i| i.description.clone()),
        maintainer: index.map(|i| i.maintainer.clone()),
        error,
        packs,
    }
}

fn offer(
    config: &CatalogConfig,
    name: &str,
    pack: &helmdeck_marketplace::CatalogPack,
    snapshot: &Snapshot,
) -> Option<OfferView> {
    let newest = pack.versions.last()?;
    let installed = snapshot.versions(name);
    let latest_installed = installed.and_then(|v| v.values().next_back());
    let from_here = latest_installed.is_some_and(|p| catalog_of(&p.record.source) == Some(config.name.as_str()));
    Some(OfferView {
        name: name.to_owned(),
        description: pack.description.clone(),
        category: pack.category.clone(),
        tags: pack.tags.clone(),
        versions: pack.versions.iter().map(|v| v.version.to_string()).collect(),
        latest: newest.version.to_string(),
        capabilities: newest.capabilities.clone(),
        signed: newest.signature.is_some(),
        installed: installed.map(|v| v.keys().map(ToString::to_string).collect()).unwrap_or_default(),
        installed_signer: latest_installed.and_then(|p| p.record.signer.clone()),
        installed_from_here: from_here,
        upgrade: latest_installed.filter(|p| p.manifest.version < newest.version).map(|_| newest.version.to_string()),
    })
}

impl MarketListing {
    /// Keep only packs whose name, description, category or tags contain
    /// `query` (case-insensitive); catalogs without matches stay, empty.
    pub fn search(mut self, query: &str) -> MarketListing {
        let q = query.to_lowercase();
        for catalog in &mut self.catalogs {
            catalog.packs.retain(|p| {
                p.name.to_lowercase().contains(&q)
                    || p.description.to_lowercase().contains(&q)
                    || p.category.as_deref().is_some_and(|c| c.to_lowercase().contains(&q))
                    || p.tags.iter().any(|t| t.to_lowercase().contains(&q))
            });
        }
        self
    }
}
