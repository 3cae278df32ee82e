//! `helmdeck:host/artifacts`: a pack hands over bytes, the host stores them
//! and returns a reference the caller downloads over REST, with a signed,
//! expiring link for sharing.

use super::{CapabilityAudit, CapsContext};
use crate::engine::wit::host::artifacts::{Artifact, Host};
use crate::engine::wit::host::types::Error as WitError;
use crate::signed_url::DEFAULT_LINK_TTL;
use std::time::Instant;

impl Host for CapsContext {
    async fn put(&mut self, name: String, content_type: String, content: Vec<u8>) -> Result<Artifact, WitError> {
        let mut audit = CapabilityAudit::start(self, "artifacts.put", Some(name.clone()), Instant::now());
        let size = content.len() as u64;
        let call = &self.call;
        let stored = self
            .services
            .artifacts
            .put(&name, &content_type, content, &call.actor, Some(call.call_id.clone()), Some(call.pack.clone()))
            .await;
        audit.bytes_out = size;
        match stored {
            Ok(meta) => {
                audit.target = Some(meta.id.clone());
                self.audit(audit).await?;
                let link = self.services.links.artifact(&meta.id, DEFAULT_LINK_TTL);
                Ok(Artifact {
                    download_url: link.url,
                    download_expires: link.expires,
                    id: meta.id,
                    name: meta.name,
                    content_type: meta.content_type,
                    size: meta.size,
                    sha256: meta.sha256,
                })
            }
            Err(e) => {
                self.audit(audit.failed(&e)).await?;
                Err(e.into())
            }
        }
    }
}
