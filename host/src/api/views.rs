//! JSON views of packs and tools, shared by REST listings and the OpenAPI
//! document (and, later, MCP's tool list).

use crate::registry::{LoadedPack, Tool, mcp_name};
use helmdeck_marketplace::{Capability, CapabilityScope, Example};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One pack version as the API shows it.
#[derive(Debug, Serialize)]
pub struct PackView {
    pub name: String,
    pub version: String,
    /// Every installed version, ascending.
    pub versions: Vec<String>,
    pub description: String,
    pub digest: String,
    /// Granted capabilities with their scopes.
    pub grants: BTreeMap<Capability, CapabilityScope>,
    /// Capabilities the manifest requests (granted or not).
    pub requested: Vec<Capability>,
    pub source: String,
    pub signer: Option<String>,
    pub installed_at: String,
    pub limits: LimitsView,
    pub tools: Vec<ToolView>,
    /// The manifest's example calls per tool (`helmdeck pack test` runs them).
    pub examples: BTreeMap<String, Vec<Example>>,
}

/// Effective per-call limits.
#[derive(Debug, Serialize)]
pub struct LimitsView {
    pub memory_mb: u64,
    pub timeout_ms: u64,
}

/// One tool.
#[derive(Debug, Serialize)]
pub struct ToolView {
    pub name: String,
    /// `pack.tool`: the REST name.
    pub qualified: String,
    /// `pack_tool`: the MCP name.
    pub mcp_name: String,
    pub pack: String,
    pub version: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
}

impl PackView {
    /// The view of `pack`, listing `versions`.
    pub fn new(pack: &LoadedPack, versions: Vec<String>) -> PackView {
        PackView {
            name: pack.manifest.name.clone(),
            version: pack.manifest.version.to_string(),
            versions,
            description: pack.manifest.description.clone(),
            digest: pack.digest.to_hex(),
            grants: pack.grants.clone(),
            requested: pack.manifest.requested().collect(),
            source: pack.record.source.clone(),
            signer: pack.record.signer.clone(),
            installed_at: pack.record.installed_at.to_string(),
            limits: LimitsView {
                memory_mb: (pack.limits.memory_bytes >> 20) as u64,
                timeout_ms: pack.limits.timeout.as_millis() as u64,
            },
            tools: pack.tools.iter().map(|t| ToolView::new(pack, t)).collect(),
            examples: pack.manifest.examples.clone(),
        }
    }
}

impl ToolView {
    /// The view of `tool` of `pack`.
    pub fn new(pack: &LoadedPack, tool: &Tool) -> ToolView {
        let name = &pack.manifest.name;
        ToolView {
            name: tool.name.clone(),
            qualified: format!("{name}.{}", tool.name),
            mcp_name: mcp_name(name, &tool.name),
            pack: name.clone(),
            version: pack.manifest.version.to_string(),
            description: tool.description.clone(),
            input_schema: tool.input_schema.clone(),
            output_schema: tool.output_schema.clone(),
        }
    }
}
