//! Pack `fs`: files in the session workspace. Every path is relative to the
//! workspace root; the host refuses `..`, absolute paths and symlinks that
//! lead outside with `unauthorized`. Pass `_session_id` to work on the same
//! workspace across calls (a clone made by `repo.fetch`, for example).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use helmdeck_sdk::fs::{Entry, Written};
use helmdeck_sdk::prelude::*;

const DEFAULT_READ_BYTES: u64 = 1 << 20;

/// Input of `read`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadInput {
    /// File path relative to the workspace root, such as `src/main.rs`.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Refuse files larger than this many bytes (default 1048576, at most 16777216).
    #[schemars(range(min = 1, max = 16777216))]
    pub max_bytes: Option<u64>,
}

/// A file's content.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReadOutput {
    pub path: String,
    /// The content as text, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The content as standard base64, when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_base64: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
}

/// Input of `write`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// File path relative to the workspace root.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// The new content as text. Give `content` or `content_base64`, not both.
    pub content: Option<String>,
    /// The new content as standard base64 (binary files).
    pub content_base64: Option<String>,
    /// Create missing parent directories (default true).
    #[serde(default = "yes")]
    pub create_dirs: bool,
}

/// Input of `patch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInput {
    /// File path relative to the workspace root.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Exact text to find, whitespace and line breaks included (not a regex).
    /// Copy it from `fs.read`; include enough context to be unique.
    #[schemars(length(min = 1))]
    pub search: String,
    /// Text to put in its place (may be empty to delete).
    pub replace: String,
    /// Refuse, changing nothing, when `search` occurs more often than this (default 1).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_occurrences: u32,
}

/// What a write or patch left.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WriteOutput {
    pub path: String,
    /// Bytes now in the file.
    pub size: u64,
    /// Hex SHA-256 of the file now.
    pub sha256: String,
    /// Replacements made (`patch` only).
    pub replacements: u32,
}

/// Input of `list`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {
    /// Directory relative to the workspace root (default: the root).
    #[serde(default)]
    #[schemars(length(max = 4096))]
    pub path: String,
    /// Glob matched against workspace-relative paths: `**/*.rs`, `src/*.py`.
    pub glob: Option<String>,
    /// Descend into subdirectories (default false).
    #[serde(default)]
    pub recursive: bool,
    /// Return at most this many entries (default 1000, at most 5000).
    #[schemars(range(min = 1, max = 5000))]
    pub max_entries: Option<u32>,
}

/// A listing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    /// Entries sorted by path.
    pub entries: Vec<Entry>,
    /// More entries matched than `max_entries`.
    pub truncated: bool,
}

/// Input of `delete`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteInput {
    /// File, symlink or directory relative to the workspace root.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Required to delete a directory and everything in it (default false).
    #[serde(default)]
    pub recursive: bool,
}

/// What was deleted.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DeleteOutput {
    pub path: String,
    pub deleted: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

helmdeck_sdk::pack! {
    name: "fs";

    /// Read a file of the session workspace. Text comes back as `content`,
    /// binary files as `content_base64`, with the size and SHA-256.
    fn read(input: ReadInput) -> ToolResult<ReadOutput> {
        let file = fs::read(&input.path, input.max_bytes.unwrap_or(DEFAULT_READ_BYTES))?;
        let (content, content_base64) = match String::from_utf8(file.content) {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(BASE64.encode(e.into_bytes()))),
        };
        Ok(ReadOutput { path: input.path, content, content_base64, size: file.size, sha256: file.sha256 })
    }

    /// Create or replace a file (parent directories are made by default).
    fn write(input: WriteInput) -> ToolResult<WriteOutput> {
        let bytes = match (&input.content, &input.content_base64) {
            (Some(_), Some(_)) => return Err(ToolError::invalid_input("give `content` or `content_base64`, not both")),
            (Some(text), None) => text.as_bytes().to_vec(),
            (None, Some(b64)) => BASE64
                .decode(b64.trim())
                .map_err(|e| ToolError::invalid_input(format!("`content_base64` is not valid base64: {e}")))?,
            (None, None) => return Err(ToolError::invalid_input("give the new content in `content` or `content_base64`")),
        };
        let written = fs::write(&input.path, &bytes, input.create_dirs)?;
        Ok(output(input.path, written))
    }

    /// Replace exact text in a file (literal, not a regex). Fails without
    /// changing anything when the text is missing or occurs more often than
    /// `max_occurrences`; returns the new SHA-256.
    fn patch(input: PatchInput) -> ToolResult<WriteOutput> {
        let written = fs::patch(&input.path, &input.search, &input.replace, input.max_occurrences)?;
        Ok(output(input.path, written))
    }

    /// List a directory of the workspace, optionally recursively and
    /// filtered by a glob; at most 5000 entries.
    fn list(input: ListInput) -> ToolResult<ListOutput> {
        let (entries, truncated) =
            fs::list(&input.path, input.glob.as_deref(), input.recursive, input.max_entries.unwrap_or(1000))?;
        Ok(ListOutput { entries, truncated })
    }

    /// Delete a file or symlink, or a directory with `recursive: true`.
    fn delete(input: DeleteInput) -> ToolResult<DeleteOutput> {
        fs::remove(&input.path, input.recursive)?;
        Ok(DeleteOutput { path: input.path, deleted: true })
    }
}

fn output(path: String, w: Written) -> WriteOutput {
    WriteOutput { path, size: w.size, sha256: w.sha256, replacements: w.replacements }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_require_paths_and_state_the_limits() {
        let d = Pack::describe();
        let tool = |name: &str| d.tools.iter().find(|t| t.name == name).unwrap().input_schema.clone();
        assert_eq!(tool("read")["required"], serde_json::json!(["path"]));
        assert_eq!(tool("list")["properties"]["max_entries"]["maximum"], 5000);
        assert_eq!(tool("patch")["required"], serde_json::json!(["path", "search", "replace"]));
        assert!(tool("patch")["properties"]["search"]["description"].as_str().unwrap().contains("not a regex"));
    }
}
