//! An immutable view of every loaded pack. Readers take the current snapshot
//! without locking; installs build a new one and swap it in, so calls in
//! flight keep the pack version they started with.

use super::LoadedPack;
use super::tool_ref::{ToolRef, VersionSelector, mcp_name};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A pack recorded as installed that could not be loaded (for example its
/// component was modified on disk).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadFailure {
    pub name: String,
    pub version: String,
    pub error: crate::Error,
}

/// Every loaded pack version, by name then version.
#[derive(Default)]
pub struct Snapshot {
    pub(super) packs: BTreeMap<String, BTreeMap<semver::Version, Arc<LoadedPack>>>,
    pub(super) failures: Vec<LoadFailure>,
}

impl Snapshot {
    /// Every loaded pack version, by name then ascending version.
    pub fn packs(&self) -> impl Iterator<Item = &Arc<LoadedPack>> {
        self.packs.values().flat_map(|versions| versions.values())
    }

    /// The newest version of every pack: what MCP and unversioned REST calls see.
    pub fn latest(&self) -> impl Iterator<Item = &Arc<LoadedPack>> {
        self.packs.values().filter_map(|versions| versions.values().next_back())
    }

    /// Packs that are installed but failed to load.
    pub fn failures(&self) -> &[LoadFailure] {
        &self.failures
    }

    /// The versions of pack `name`, if any is loaded.
    pub fn versions(&self, name: &str) -> Option<&BTreeMap<semver::Version, Arc<LoadedPack>>> {
        self.packs.get(name)
    }

    /// Find the pack version and tool index `tool` names; `not_found` saying
    /// what exists instead.
    pub fn resolve(&self, tool: &ToolRef) -> Result<(Arc<LoadedPack>, usize)> {
        let Some(versions) = self.packs.get(&tool.pack) else {
            let names: Vec<&str> = self.packs.keys().map(String::as_str).collect();
            return Err(Error::not_found(format!(
                "no pack `{}` is installed (installed: {}); `GET /api/v1/packs` lists every tool",
                tool.pack,
                if names.is_empty() { "none".to_owned() } else { names.join(", ") }
            )));
        };
        let pack = match &tool.version {
            VersionSelector::Latest => versions.values().next_back(),
            VersionSelector::Exact(v) => versions.get(v),
            VersionSelector::Major(m) => versions.range(..).rev().find(|(v, _)| v.major == *m).map(|(_, p)| p),
        };
        let Some(pack) = pack else {
            let available: Vec<String> = versions.keys().map(ToString::to_string).collect();
            return Err(Error::not_found(format!(
                "`{tool}` is not installed; `{}` has versions {}",
                tool.pack,
                available.join(", ")
            )));
        };
        match pack.tools.iter().position(|t| t.name == tool.tool) {
            Some(index) => Ok((pack.clone(), index)),
            None => Err(Error::not_found(format!(
                "pack `{}` {} has no tool `{}`; it has: {}",
                tool.pack,
                pack.manifest.version,
                tool.tool,
                pack.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The MCP name of a tool of another pack that `candidate` would collide
    /// with (`web_scrape.spa` and `web.scrape_spa` are both `web_scrape_spa`).
    pub fn collision(&self, candidate: &LoadedPack) -> Option<(String, String)> {
        let name = &candidate.manifest.name;
        for other in self.packs().filter(|p| &p.manifest.name != name) {
            for tool in &other.tools {
                let taken = mcp_name(&other.manifest.name, &tool.name);
                if let Some(mine) = candidate.tools.iter().find(|t| mcp_name(name, &t.name) == taken) {
                    return Some((taken, format!("{}.{} and {}.{}", name, mine.name, other.manifest.name, tool.name)));
                }
            }
        }
        None
    }
}
