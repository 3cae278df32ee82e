//! Credential names and metadata (`helmdeck:host/vault`). A pack never
//! sees a value: it writes `${vault:NAME}` in an HTTP request, or names a
//! credential in a git call, and the host does the rest.

use crate::ToolResult;
use crate::bindings::helmdeck::host::vault as wit;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a pack may know about a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CredentialInfo {
    pub name: String,
    /// `login`, `cookies`, `api_key`, `oauth`, `ssh_key` or `basic`.
    pub kind: String,
    /// Host patterns where it may be used.
    pub hosts: Vec<String>,
    pub description: String,
    /// A masked hint, never the value.
    pub hint: String,
}

/// The credentials this pack may use for the caller.
pub fn credentials() -> ToolResult<Vec<CredentialInfo>> {
    Ok(wit::credentials()?.into_iter().map(from_wit).collect())
}

/// One credential's metadata; `not_found` when absent or not usable here.
pub fn info(name: &str) -> ToolResult<CredentialInfo> {
    wit::info(name).map(from_wit).map_err(Into::into)
}

fn from_wit(c: wit::CredentialInfo) -> CredentialInfo {
    CredentialInfo { name: c.name, kind: c.kind, hosts: c.hosts, description: c.description, hint: c.hint }
}
