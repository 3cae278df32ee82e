//! `helmdeck:host/fs`: files in the call's session workspace. The WIT
//! adapter lives here; confinement (cap-std) in [`workspace`]. A manifest
//! scope of `access: read` refuses every change; each call is audited
//! with its path.

#[cfg(test)]
mod tests;
pub mod workspace;

use super::{CapabilityAudit, CapsContext};
use crate::engine::wit::host::fs::{Entry, EntryKind, FileContent, Host, Listing, Written};
use crate::engine::wit::host::types::Error as WitError;
use crate::{Error, Result};
use helmdeck_marketplace::{Capability, FsAccess};
use std::time::Instant;
use workspace::Workspace;

impl Host for CapsContext {
    async fn read(&mut self, path: String, max_bytes: u64) -> Result<FileContent, WitError> {
        let result = self.in_workspace("fs.read", false, path.clone(), move |ws| ws.read(&path, max_bytes)).await;
        let (content, sha256) = self.finish(result, |(c, _)| (c.len() as u64, 0)).await?;
        Ok(FileContent { size: content.len() as u64, content, sha256 })
    }

    async fn write(&mut self, path: String, content: Vec<u8>, create_dirs: bool) -> Result<Written, WitError> {
        let result =
            self.in_workspace("fs.write", true, path.clone(), move |ws| ws.write(&path, &content, create_dirs)).await;
        let w = self.finish(result, |w| (0, w.size)).await?;
        Ok(Written { size: w.size, sha256: w.sha256, replacements: 0 })
    }

    async fn patch(
        &mut self,
        path: String,
        search: String,
        replace: String,
        max_occurrences: u32,
    ) -> Result<Written, WitError> {
        let result = self
            .in_workspace("fs.patch", true, path.clone(), move |ws| ws.patch(&path, &search, &replace, max_occurrences))
            .await;
        let w = self.finish(result, |w| (0, w.size)).await?;
        Ok(Written { size: w.size, sha256: w.sha256, replacements: w.replacements })
    }

    async fn list_entries(
        &mut self,
        path: String,
        glob: Option<String>,
        recursive: bool,
        max_entries: u32,
    ) -> Result<Listing, WitError> {
        let result = self
            .in_workspace("fs.list", false, path.clone(), move |ws| {
                ws.list(&path, glob.as_deref(), recursive, max_entries)
            })
            .await;
        let (entries, truncated) = self.finish(result, |(e, _)| (e.len() as u64, 0)).await?;
        let entries = entries
            .into_iter()
            .map(|e| Entry {
                path: e.path,
                kind: match e.kind {
                    workspace::EntryKind::File => EntryKind::File,
                    workspace::EntryKind::Directory => EntryKind::Directory,
                    workspace::EntryKind::Symlink => EntryKind::Symlink,
                },
                size: e.size,
                modified_ms: e.modified_ms,
            })
            .collect();
        Ok(Listing { entries, truncated })
    }

    async fn remove(&mut self, path: String, recursive: bool) -> Result<(), WitError> {
        let result = self.in_workspace("fs.remove", true, path.clone(), move |ws| ws.remove(&path, recursive)).await;
        self.finish(result, |()| (0, 0)).await
    }
}

impl CapsContext {
    /// Run `op` on the session workspace on the blocking pool; `write`
    /// operations need `read-write` access in the manifest scope.
    /// Returns the result with the call's audit record, started before the
    /// work, for [`CapsContext::finish`].
    async fn in_workspace<T: Send + 'static>(
        &self,
        capability: &str,
        write: bool,
        target: String,
        op: impl FnOnce(&Workspace) -> Result<T> + Send + 'static,
    ) -> (Result<T>, CapabilityAudit) {
        let pending = CapabilityAudit::start(self, capability, Some(target), Instant::now());
        if write && self.scope(Capability::Fs).access == Some(FsAccess::Read) {
            let refused = Error::unauthorized(format!(
                "pack `{}` has read-only file access; request `access: read-write` under `capabilities.fs`",
                self.call.pack
            ));
            return (Err(refused), pending);
        }
        let session = match self.session.get().await {
            Ok(s) => s,
            Err(e) => return (Err(e), pending),
        };
        let root = session.workspace();
        let result = self
            .call
            .cleanup
            .spawn_blocking(move || Workspace::open(&root).and_then(|ws| op(&ws)))
            .await
            .unwrap_or_else(|e| Err(Error::internal(format!("file task failed: {e}"))));
        (result, pending)
    }

    /// Audit the call (`sizes` gives bytes in and out of a success) and
    /// convert its result for the guest.
    async fn finish<T>(
        &self,
        (result, mut audit): (Result<T>, CapabilityAudit),
        sizes: impl FnOnce(&T) -> (u64, u64),
    ) -> Result<T, WitError> {
        match &result {
            Ok(value) => (audit.bytes_in, audit.bytes_out) = sizes(value),
            Err(e) => audit = audit.failed(e),
        }
        self.audit(audit).await?;
        result.map_err(Into::into)
    }
}
