//! Files in the session workspace (`helmdeck:host/fs`). Requires the `fs`
//! capability (`access: read` for read-only packs). Paths are relative to
//! the workspace root; the host refuses anything leading outside it.

use crate::ToolResult;
use crate::bindings::helmdeck::host::fs as wit;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a directory entry is (symlinks are reported, never followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Entry {
    /// Path relative to the workspace root, `/`-separated.
    pub path: String,
    pub kind: EntryKind,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Modification time, milliseconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_ms: Option<u64>,
}

/// A file's bytes and digest.
#[derive(Debug, Clone)]
pub struct FileContent {
    pub content: Vec<u8>,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// What a write or patch left on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Written {
    /// Bytes now in the file.
    pub size: u64,
    /// Hex SHA-256 of the file after the change.
    pub sha256: String,
    /// Replacements made (patch only).
    pub replacements: u32,
}

/// Read `path`, refusing files over `max_bytes` (`resource_exhausted`).
pub fn read(path: &str, max_bytes: u64) -> ToolResult<FileContent> {
    let f = wit::read(path, max_bytes)?;
    Ok(FileContent { content: f.content, size: f.size, sha256: f.sha256 })
}

/// Create or replace `path`; `create_dirs` makes missing parents.
pub fn write(path: &str, content: &[u8], create_dirs: bool) -> ToolResult<Written> {
    wit::write(path, content, create_dirs).map(written).map_err(Into::into)
}

/// Replace literal `search` with `replace` (1 to `max_occurrences` times, or fail changing nothing).
pub fn patch(path: &str, search: &str, replace: &str, max_occurrences: u32) -> ToolResult<Written> {
    wit::patch(path, search, replace, max_occurrences).map(written).map_err(Into::into)
}

/// Entries under `path` matching `glob` (against the workspace-relative
/// path), sorted; the flag says the listing was cut at `max_entries`.
pub fn list(path: &str, glob: Option<&str>, recursive: bool, max_entries: u32) -> ToolResult<(Vec<Entry>, bool)> {
    let listing = wit::list_entries(path, glob, recursive, max_entries)?;
    let entries = listing
        .entries
        .into_iter()
        .map(|e| Entry {
            path: e.path,
            kind: match e.kind {
                wit::EntryKind::File => EntryKind::File,
                wit::EntryKind::Directory => EntryKind::Directory,
                wit::EntryKind::Symlink => EntryKind::Symlink,
            },
            size: e.size,
            modified_ms: e.modified_ms,
        })
        .collect();
    Ok((entries, listing.truncated))
}

/// Remove a file or symlink, or a directory tree when `recursive`.
pub fn remove(path: &str, recursive: bool) -> ToolResult<()> {
    wit::remove(path, recursive).map_err(Into::into)
}

fn written(w: wit::Written) -> Written {
    Written { size: w.size, sha256: w.sha256, replacements: w.replacements }
}
