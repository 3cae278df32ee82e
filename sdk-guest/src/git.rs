//! Git in the session workspace (`helmdeck:host/git`). Requires the `git`
//! capability (`push: true` to push). Credentials are vault names; the host
//! hands the key or token to git, the pack never sees it.

use crate::ToolResult;
use crate::bindings::helmdeck::host::git as wit;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a clone produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cloned {
    /// Workspace-relative directory of the checkout; pass it to the other tools.
    pub path: String,
    /// The checked-out branch.
    pub branch: String,
    /// The commit id at HEAD.
    pub head: String,
    /// The remote, normalised (never with credentials).
    pub remote: String,
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileStatus {
    pub path: String,
    /// `added`, `modified`, `deleted`, `renamed`, `typechange` or `untracked`.
    pub status: String,
}

/// One commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Commit {
    pub id: String,
    /// `Name <email>`.
    pub author: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// First line of the message.
    pub summary: String,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Pushed {
    pub branch: String,
    /// The commit the remote branch now points to.
    pub head: String,
    pub remote: String,
}

/// Clone `url` (`owner/repo`, https, `ssh://…` or `user@host:path`) into the
/// workspace, authenticating with vault credential `credential`.
pub fn clone(url: &str, credential: Option<&str>, branch: Option<&str>, dir: Option<&str>) -> ToolResult<Cloned> {
    let options = wit::CloneOptions {
        url: url.to_owned(),
        credential: credential.map(str::to_owned),
        branch: branch.map(str::to_owned),
        dir: dir.map(str::to_owned),
    };
    let c = wit::clone(&options)?;
    Ok(Cloned { path: c.path, branch: c.branch, head: c.head, remote: c.remote })
}

/// Start an empty repository at workspace-relative `path` (created when
/// missing); returns its branch. Commit files into it with [`commit_all`].
pub fn init(path: &str) -> ToolResult<String> {
    wit::init(path).map_err(Into::into)
}

/// Changed files of the checkout at `path`.
pub fn status(path: &str) -> ToolResult<Vec<FileStatus>> {
    Ok(wit::status(path)?.into_iter().map(|s| FileStatus { path: s.path, status: s.status }).collect())
}

/// Unified diff of the working tree against HEAD, cut at `max_bytes`.
pub fn diff(path: &str, max_bytes: u32) -> ToolResult<String> {
    wit::diff(path, max_bytes).map_err(Into::into)
}

/// The newest `max` commits.
pub fn log(path: &str, max: u32) -> ToolResult<Vec<Commit>> {
    Ok(wit::log(path, max)?.into_iter().map(commit).collect())
}

/// Commit every change; `invalid_input` when there is nothing to commit.
pub fn commit_all(path: &str, message: &str) -> ToolResult<Commit> {
    wit::commit(path, message).map(commit).map_err(Into::into)
}

/// Push the current branch to the remote it was cloned from.
pub fn push(path: &str, credential: Option<&str>) -> ToolResult<Pushed> {
    let p = wit::push(path, credential)?;
    Ok(Pushed { branch: p.branch, head: p.head, remote: p.remote })
}

fn commit(c: wit::CommitInfo) -> Commit {
    Commit { id: c.id, author: c.author, time_ms: c.time_ms, summary: c.summary }
}
