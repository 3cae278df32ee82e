//! The capabilities a pack can request: one per `helmdeck:host` interface
//! that has side effects, with an optional scope narrowing it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A host capability (a `helmdeck:host` WIT interface other than `types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Http,
    Artifacts,
    Browser,
    Fs,
    Git,
    Desktop,
    Exec,
    Vault,
    Llm,
}

impl Capability {
    /// Every capability, in a stable order.
    pub const ALL: [Capability; 9] = [
        Capability::Http,
        Capability::Artifacts,
        Capability::Browser,
        Capability::Fs,
        Capability::Git,
        Capability::Desktop,
        Capability::Exec,
        Capability::Vault,
        Capability::Llm,
    ];

    /// The WIT interface name inside `helmdeck:host` (`http`).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Artifacts => "artifacts",
            Capability::Browser => "browser",
            Capability::Fs => "fs",
            Capability::Git => "git",
            Capability::Desktop => "desktop",
            Capability::Exec => "exec",
            Capability::Vault => "vault",
            Capability::Llm => "llm",
        }
    }

    /// Whether it reaches beyond the host (network or a browser): MCP's `openWorldHint`.
    pub fn is_open_world(self) -> bool {
        matches!(self, Capability::Http | Capability::Browser | Capability::Git | Capability::Llm)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Capability, String> {
        Capability::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown capability `{s}`; known: {}", names.join(", "))
        })
    }
}

/// Read-only or read-write file access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsAccess {
    Read,
    ReadWrite,
}

/// How a requested capability is narrowed. Every field is optional; which
/// fields apply depends on the capability (checked by [`CapabilityScope::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapabilityScope {
    /// `http`, `git`: host patterns (`api.example.com`, `*.example.com`) the
    /// pack may reach; empty means any host the egress guard allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// `fs`: `read` or `read-write` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<FsAccess>,
    /// `vault`, `http`, `git`, `browser`: credential names the pack may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
    /// `git`: whether the pack may push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<bool>,
}

impl CapabilityScope {
    /// Check that only fields meaningful for `cap` are set; the error names
    /// the field.
    pub fn check(&self, cap: Capability) -> Result<(), String> {
        let allowed: &[&str] = match cap {
            Capability::Http => &["hosts", "credentials"],
            Capability::Git => &["hosts", "credentials", "push"],
            Capability::Fs => &["access"],
            Capability::Vault | Capability::Browser => &["credentials"],
            _ => &[],
        };
        let set = [
            ("hosts", !self.hosts.is_empty()),
            ("access", self.access.is_some()),
            ("credentials", !self.credentials.is_empty()),
            ("push", self.push.is_some()),
        ];
        match set.iter().find(|(name, present)| *present && !allowed.contains(name)) {
            Some((name, _)) => Err(format!("`capabilities.{cap}.{name}` does not apply to `{cap}`")),
            None => Ok(()),
        }
    }

    /// Whether `host` matches the scope's host patterns (an empty list matches every host).
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.is_empty()
            || self.hosts.iter().any(|pattern| {
                let pattern = pattern.to_ascii_lowercase();
                match pattern.strip_prefix("*.") {
                    Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
                    None => pattern == "*" || pattern == host,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_names_list_the_known_ones() {
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>().unwrap(), c);
        }
        let err = "sockets".parse::<Capability>().unwrap_err();
        assert!(err.contains("http") && err.contains("llm"), "{err}");
    }

    #[test]
    fn scope_fields_that_do_not_apply_are_named() {
        let scope = CapabilityScope { access: Some(FsAccess::Read), ..Default::default() };
        assert!(scope.check(Capability::Fs).is_ok());
        assert_eq!(scope.check(Capability::Http).unwrap_err(), "`capabilities.http.access` does not apply to `http`");
    }

    #[test]
    fn host_patterns_match_exact_names_and_subdomains_only() {
        let scope =
            CapabilityScope { hosts: vec!["api.example.com".into(), "*.corp.test".into()], ..Default::default() };
        assert!(scope.allows_host("API.example.com."));
        assert!(scope.allows_host("a.b.corp.test"));
        assert!(!scope.allows_host("corp.test"));
        assert!(!scope.allows_host("evilcorp.test"));
        assert!(!scope.allows_host("example.com"));
        assert!(CapabilityScope::default().allows_host("anything.test"));
    }
}
