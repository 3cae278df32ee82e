//! `helmdeck:host/vault`: names and metadata of the credentials a pack may
//! use. Values never cross into the guest.

use super::{CapabilityAudit, CapsContext};
use crate::engine::wit::host::types::Error as WitError;
use crate::engine::wit::host::vault::{CredentialInfo, Host};
use crate::vault::CredentialMeta;
use crate::{Error, Result};
use helmdeck_marketplace::Capability;
use std::time::Instant;

impl Host for CapsContext {
    async fn credentials(&mut self) -> Result<Vec<CredentialInfo>, WitError> {
        let mut audit = CapabilityAudit::start(self, "vault.credentials", None, Instant::now());
        let result = self.visible_credentials().await;
        if let Err(e) = &result {
            audit = audit.failed(e);
        }
        self.audit(audit).await?;
        Ok(result?.into_iter().map(info).collect())
    }

    async fn info(&mut self, name: String) -> Result<CredentialInfo, WitError> {
        let mut audit = CapabilityAudit::start(self, "vault.info", Some(name.clone()), Instant::now());
        let result = self.visible_credentials().await.and_then(|all| {
            all.into_iter().find(|c| c.name == name).ok_or_else(|| {
                Error::not_found(format!(
                    "no credential `{name}` is available to this pack; list them with vault.credentials"
                ))
            })
        });
        if let Err(e) = &result {
            audit = audit.failed(e);
        }
        self.audit(audit).await?;
        Ok(info(result?))
    }
}

impl CapsContext {
    async fn visible_credentials(&self) -> Result<Vec<CredentialMeta>> {
        let scope: Vec<String> = [Capability::Vault, Capability::Http, Capability::Git, Capability::Browser]
            .into_iter()
            .filter(|c| self.call.grants.contains_key(c))
            .flat_map(|c| self.scope(c).credentials)
            .collect();
        self.services.vault.visible_to(&self.call.pack, &self.call.actor, &scope).await
    }
}

fn info(meta: CredentialMeta) -> CredentialInfo {
    CredentialInfo {
        name: meta.name,
        kind: meta.kind.as_str().to_owned(),
        hosts: meta.hosts,
        description: meta.description,
        hint: meta.hint,
    }
}
