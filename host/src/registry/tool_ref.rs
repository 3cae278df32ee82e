//! Naming a tool: `pack.tool`, `pack.tool@1.2.0`, or `pack.tool` with a major
//! version from a `/v{n}` route. MCP spells the same tool `pack_tool`.

use crate::{Error, Result};
use std::fmt;

/// Which version of a pack a call wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    /// The newest installed version.
    Latest,
    /// The newest installed version with this major number (`/v1`).
    Major(u64),
    /// Exactly this version (`@1.2.0`).
    Exact(semver::Version),
}

/// A parsed tool reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRef {
    pub pack: String,
    pub tool: String,
    pub version: VersionSelector,
}

impl ToolRef {
    /// Parse `pack.tool` or `pack.tool@VERSION`.
    pub fn parse(text: &str) -> Result<ToolRef> {
        let (name, version) = match text.split_once('@') {
            Some((name, v)) => {
                let version = semver::Version::parse(v).map_err(|e| {
                    Error::invalid_input(format!(
                        "`{text}`: `{v}` is not a semantic version ({e}); write e.g. `{name}@1.2.0`"
                    ))
                })?;
                (name, VersionSelector::Exact(version))
            }
            None => (text, VersionSelector::Latest),
        };
        let Some((pack, tool)) = name.split_once('.') else {
            return Err(Error::invalid_input(format!(
                "`{text}` is not a tool name; tools are named `pack.tool`, e.g. `http.fetch`"
            )));
        };
        if pack.is_empty() || tool.is_empty() || tool.contains('.') {
            return Err(Error::invalid_input(format!(
                "`{text}` is not a tool name; tools are named `pack.tool`, e.g. `http.fetch`"
            )));
        }
        Ok(ToolRef { pack: pack.to_owned(), tool: tool.to_owned(), version })
    }

    /// Narrow to major version `major` (from a `/v{n}` route). Conflicts with
    /// an exact version of another major are `invalid_input`.
    pub fn with_major(mut self, major: u64) -> Result<ToolRef> {
        match &self.version {
            VersionSelector::Exact(v) if v.major != major => Err(Error::invalid_input(format!(
                "`{self}` asks for version {v} but the route asks for major version {major}"
            ))),
            VersionSelector::Exact(_) => Ok(self),
            _ => {
                self.version = VersionSelector::Major(major);
                Ok(self)
            }
        }
    }
}

impl fmt::Display for ToolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.pack, self.tool)?;
        match &self.version {
            VersionSelector::Latest => Ok(()),
            VersionSelector::Major(m) => write!(f, " (v{m})"),
            VersionSelector::Exact(v) => write!(f, "@{v}"),
        }
    }
}

/// The MCP spelling of a tool name: `pack_tool`.
pub fn mcp_name(pack: &str, tool: &str) -> String {
    format!("{pack}_{tool}")
}

/// `^[a-z][a-z0-9_]{0,63}$`: what a pack may call a tool.
pub fn is_tool_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 64
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_exact_and_major_references_parse() {
        let r = ToolRef::parse("fs.read").unwrap();
        assert_eq!((r.pack.as_str(), r.tool.as_str(), &r.version), ("fs", "read", &VersionSelector::Latest));
        let r = ToolRef::parse("fs.read@1.2.0").unwrap();
        assert_eq!(r.version, VersionSelector::Exact(semver::Version::new(1, 2, 0)));
        let r = ToolRef::parse("fs.read").unwrap().with_major(1).unwrap();
        assert_eq!(r.version, VersionSelector::Major(1));
        assert!(ToolRef::parse("fs.read@2.0.0").unwrap().with_major(1).is_err());
    }

    #[test]
    fn malformed_references_say_how_to_write_one() {
        for bad in ["fs", ".read", "fs.", "a.b.c", "fs.read@one"] {
            let err = ToolRef::parse(bad).unwrap_err();
            assert_eq!(err.code, crate::ErrorCode::InvalidInput, "{bad}");
            assert!(err.message.contains(bad), "{}", err.message);
        }
    }

    #[test]
    fn tool_names_are_lower_snake_case() {
        assert!(is_tool_name("screenshot_url"));
        assert!(!is_tool_name("Screenshot"));
        assert!(!is_tool_name("a-b"));
        assert!(!is_tool_name(&"a".repeat(65)));
    }
}
