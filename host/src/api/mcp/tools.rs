//! The MCP view of the registry: one MCP tool per pack tool (newest version
//! of each pack), named `pack_tool`, with the tool's schemas and hints
//! derived from what its pack is granted.

use crate::registry::{LoadedPack, Snapshot, mcp_name};
use helmdeck_marketplace::{Capability, CapabilityScope, FsAccess};
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every tool of the newest version of every pack, as MCP lists them.
pub fn list(snapshot: &Snapshot) -> Vec<Tool> {
    snapshot.latest().flat_map(|pack| (0..pack.tools.len()).map(move |i| describe(pack, i))).collect()
}

/// The pack and tool index an MCP name (`http_fetch`) stands for. Names are
/// unique: the registry refuses an install whose MCP names collide.
pub fn find(snapshot: &Snapshot, name: &str) -> Option<(Arc<LoadedPack>, usize)> {
    snapshot.latest().find_map(|pack| {
        let index = pack.tools.iter().position(|t| mcp_name(&pack.manifest.name, &t.name) == name)?;
        Some((pack.clone(), index))
    })
}

/// Tool `index` of `pack` as an MCP tool.
pub fn describe(pack: &LoadedPack, index: usize) -> Tool {
    let tool = pack.tool(index);
    let mut described =
        Tool::new(mcp_name(&pack.manifest.name, &tool.name), tool.description.clone(), object(&tool.input_schema))
            .with_annotations(annotations(&pack.grants));
    // MCP's outputSchema must describe an object; other outputs go out as text only.
    if tool.output_schema.get("type") == Some(&Value::String("object".into())) {
        described = described.with_raw_output_schema(object(&tool.output_schema));
    }
    described
}

fn object(schema: &Value) -> Arc<JsonObject> {
    Arc::new(schema.as_object().cloned().unwrap_or_default())
}

/// Hints from grants: read-only without write or network capabilities,
/// open-world with network or a browser, destructive with file writes, git
/// push or command execution. Idempotence is not known, so it is not claimed.
pub fn annotations(grants: &BTreeMap<Capability, CapabilityScope>) -> ToolAnnotations {
    let writes_files = grants.get(&Capability::Fs).is_some_and(|s| s.access != Some(FsAccess::Read));
    let pushes = grants.get(&Capability::Git).is_some_and(|s| s.push == Some(true));
    let destructive = writes_files || pushes || grants.contains_key(&Capability::Exec);
    let open_world = grants.keys().any(|c| c.is_open_world());
    let acts = grants.keys().any(|c| matches!(c, Capability::Git | Capability::Desktop | Capability::Exec));
    ToolAnnotations::new()
        .read_only(!destructive && !open_world && !acts)
        .destructive(destructive)
        .open_world(open_world)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(list: &[(Capability, CapabilityScope)]) -> BTreeMap<Capability, CapabilityScope> {
        list.iter().cloned().collect()
    }

    fn hints(a: &ToolAnnotations) -> (Option<bool>, Option<bool>, Option<bool>) {
        (a.read_only_hint, a.destructive_hint, a.open_world_hint)
    }

    #[test]
    fn pure_computation_and_artifacts_are_read_only_and_closed() {
        assert_eq!(hints(&annotations(&grants(&[]))), (Some(true), Some(false), Some(false)));
        let artifacts = grants(&[(Capability::Artifacts, CapabilityScope::default())]);
        assert_eq!(hints(&annotations(&artifacts)), (Some(true), Some(false), Some(false)));
    }

    #[test]
    fn network_and_browser_packs_are_open_world_and_not_read_only() {
        for cap in [Capability::Http, Capability::Browser, Capability::Llm] {
            let a = annotations(&grants(&[(cap, CapabilityScope::default())]));
            assert_eq!(hints(&a), (Some(false), Some(false), Some(true)), "{cap}");
        }
    }

    #[test]
    fn file_writes_git_push_and_exec_are_destructive_but_reading_files_is_not() {
        let read = CapabilityScope { access: Some(FsAccess::Read), ..Default::default() };
        assert_eq!(hints(&annotations(&grants(&[(Capability::Fs, read)]))), (Some(true), Some(false), Some(false)));
        let write = CapabilityScope { access: Some(FsAccess::ReadWrite), ..Default::default() };
        assert_eq!(hints(&annotations(&grants(&[(Capability::Fs, write)]))).1, Some(true));
        assert_eq!(
            hints(&annotations(&grants(&[(Capability::Fs, CapabilityScope::default())]))).1,
            Some(true),
            "fs defaults to read-write"
        );
        let push = CapabilityScope { push: Some(true), ..Default::default() };
        assert_eq!(hints(&annotations(&grants(&[(Capability::Git, push)]))), (Some(false), Some(true), Some(true)));
        assert_eq!(
            hints(&annotations(&grants(&[(Capability::Git, CapabilityScope::default())]))),
            (Some(false), Some(false), Some(true))
        );
        assert_eq!(hints(&annotations(&grants(&[(Capability::Exec, CapabilityScope::default())]))).1, Some(true));
    }
}
