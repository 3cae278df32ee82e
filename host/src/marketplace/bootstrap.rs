//! The built-in packs on start: when the server is configured with a
//! bundled catalog (`HELMDECK_BUNDLED_CATALOG` + `_KEY`), it is registered
//! as `builtin`; on a fresh data directory every pack in it is installed,
//! and later starts upgrade the built-in packs still installed from it. All
//! through [`Marketplace::install`] and [`Marketplace::upgrade`]: the
//! built-in packs are verified like any other. A failure is logged and the
//! server starts anyway.

use super::{CatalogConfig, Grants, MarketInstall, Marketplace, PackSpec, Quiet, catalog_of};
use crate::config::BundledCatalog;
use crate::{Error, Result};
use helmdeck_marketplace::{PublicKey, TrustRoot};
use std::collections::BTreeSet;

/// The local name of the bundled catalog.
pub const BUILTIN_CATALOG: &str = "builtin";

/// What the start-up sync did, pack by pack.
#[derive(Debug, Default)]
pub struct BootstrapReport {
    pub installed: Vec<String>,
    pub upgraded: Vec<String>,
    pub failed: Vec<(String, Error)>,
}

impl Marketplace {
    /// Register the bundled catalog and bring the built-in packs in (see the module doc).
    pub async fn bootstrap(&self, bundled: &BundledCatalog) -> Result<BootstrapReport> {
        let fresh = !self.catalogs.store.initialised();
        let pem = tokio::fs::read_to_string(&bundled.key).await.map_err(|e| {
            Error::invalid_input(format!("HELMDECK_BUNDLED_CATALOG_KEY `{}`: {e}", bundled.key.display()))
        })?;
        let key = PublicKey::from_pem(&pem).map_err(super::MarketError::from)?;
        let location = super::Location::parse(&bundled.location)?;
        let wanted = CatalogConfig {
            name: BUILTIN_CATALOG.into(),
            location: location.as_string(),
            trust: vec![TrustRoot::public_key(&key)],
        };
        let registered = self.catalogs.list().await?.into_iter().find(|c| c.name == BUILTIN_CATALOG);
        if registered.as_ref() != Some(&wanted) {
            self.catalogs.add_catalog(BUILTIN_CATALOG, &wanted.location, wanted.trust.clone(), true).await?;
        }
        let (_, index) = self.catalogs.fetch_index(&wanted).await?;
        let mut report = BootstrapReport::default();
        for name in index.packs.keys() {
            let installed = self.registry.snapshot().versions(name).and_then(|v| v.values().next_back().cloned());
            match installed {
                None if fresh => {
                    let req = MarketInstall {
                        spec: PackSpec { pack: name.clone(), version: None, catalog: Some(BUILTIN_CATALOG.into()) },
                        grants: Grants::AllRequested,
                        allow_downgrade: false,
                        actor: "system".into(),
                    };
                    match self.install(req, &Quiet).await {
                        Ok(done) => report.installed.push(format!("{name} {}", done.install.version)),
                        Err(e) => report.failed.push((name.clone(), e)),
                    }
                }
                Some(pack) if catalog_of(&pack.record.source) == Some(BUILTIN_CATALOG) => {
                    let grants: BTreeSet<_> = pack.grants.keys().copied().collect();
                    match self.upgrade(Some(name), &grants, "system", &Quiet).await {
                        Ok(outcomes) => report.upgraded.extend(
                            outcomes
                                .into_iter()
                                .filter(|o| o.status == "upgraded")
                                .map(|o| format!("{name} from {}", o.from)),
                        ),
                        Err(e) => report.failed.push((name.clone(), e)),
                    }
                }
                _ => {}
            }
        }
        for (name, error) in &report.failed {
            tracing::error!(pack = %name, %error, "built-in pack could not be installed from the bundled catalog");
        }
        tracing::info!(installed = ?report.installed, upgraded = ?report.upgraded, "built-in packs synced from the bundled catalog");
        Ok(report)
    }
}
