//! Reading what a component imports, before anything is linked: the basis
//! of least privilege. A pack gets a `helmdeck:host` interface only when its
//! manifest requests it and an operator granted it; anything else it imports
//! is refused at install with the interface named.

use helmdeck_marketplace::Capability;
use std::collections::BTreeSet;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The `helmdeck:host` package version this host implements.
pub const HOST_WIT_VERSION: &str = "0.1.0";

/// WASI packages a pack may import. They are linked with no ambient
/// authority: no preopened directories, no environment, no arguments.
/// `wasi:sockets` and `wasi:http` are not among them: packs reach the network
/// only through `helmdeck:host/http` and its egress guard.
const WASI_PACKAGES: [&str; 5] = ["wasi:cli/", "wasi:io/", "wasi:clocks/", "wasi:random/", "wasi:filesystem/"];

/// What a component asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSet {
    /// The `helmdeck:host` capabilities it imports.
    pub capabilities: BTreeSet<Capability>,
}

/// Why a component's imports cannot be satisfied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// An import outside what any pack may have.
    #[error(
        "the component imports `{0}`, which Helmdeck does not offer to packs; packs reach the network and the \
         file system only through helmdeck:host interfaces (http, fs, ...)"
    )]
    Forbidden(String),
    /// Built against another version of the contract.
    #[error(
        "the component imports `{0}`, but this Helmdeck implements helmdeck:host@{HOST_WIT_VERSION}; rebuild the \
         pack against a matching helmdeck-sdk"
    )]
    WrongVersion(String),
    /// A `helmdeck:host` interface that does not exist.
    #[error("the component imports `{0}`, which is not a helmdeck:host interface")]
    UnknownInterface(String),
}

/// Classify every import of `component`.
pub fn inspect(engine: &Engine, component: &Component) -> Result<ImportSet, ImportError> {
    let mut capabilities = BTreeSet::new();
    for (name, _) in component.component_type().imports(engine) {
        if let Some(cap) = classify(name)? {
            capabilities.insert(cap);
        }
    }
    Ok(ImportSet { capabilities })
}

/// `helmdeck:host` interfaces every pack gets without a grant: they have no
/// side effects outside the call.
const ALWAYS_LINKED: [&str; 2] = ["types", "progress"];

/// `Ok(Some(cap))` for a capability interface, `Ok(None)` for something
/// always linked (`types`, `progress`, allowed WASI), `Err` for anything else.
fn classify(name: &str) -> Result<Option<Capability>, ImportError> {
    if let Some(rest) = name.strip_prefix("helmdeck:host/") {
        let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
        if version != HOST_WIT_VERSION {
            return Err(ImportError::WrongVersion(name.to_owned()));
        }
        if ALWAYS_LINKED.contains(&interface) {
            return Ok(None);
        }
        return interface.parse().map(Some).map_err(|_| ImportError::UnknownInterface(name.to_owned()));
    }
    if WASI_PACKAGES.iter().any(|p| name.starts_with(p)) {
        return Ok(None);
    }
    Err(ImportError::Forbidden(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_interfaces_are_recognised_by_name_and_version() {
        assert_eq!(classify("helmdeck:host/http@0.1.0"), Ok(Some(Capability::Http)));
        assert_eq!(classify("helmdeck:host/types@0.1.0"), Ok(None));
        assert_eq!(classify("helmdeck:host/progress@0.1.0"), Ok(None));
        assert_eq!(classify("wasi:cli/stdout@0.2.6"), Ok(None));
        assert!(matches!(classify("helmdeck:host/http@0.2.0"), Err(ImportError::WrongVersion(_))));
        assert!(matches!(classify("helmdeck:host/sockets@0.1.0"), Err(ImportError::UnknownInterface(_))));
    }

    #[test]
    fn raw_sockets_and_unknown_packages_are_forbidden() {
        for name in ["wasi:sockets/tcp@0.2.6", "wasi:http/outgoing-handler@0.2.6", "acme:evil/x"] {
            let err = classify(name).unwrap_err();
            assert_eq!(err, ImportError::Forbidden(name.to_owned()));
            assert!(err.to_string().contains(name));
        }
    }
}
