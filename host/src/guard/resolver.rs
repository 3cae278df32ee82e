//! Host name resolution as the guard sees it: a small trait so tests (here
//! and in other crates) can map names to fixture addresses without touching
//! the system resolver, and the production implementation over tokio.

use super::policy::canonical_name;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;

/// The future a [`Resolver`] returns: every address `name` has, or the
/// reason it has none.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Turns a host name into IP addresses. The guard judges every address a
/// resolver returns, so a resolver needs no policy of its own; it must only
/// not connect anywhere on the caller's behalf.
pub trait Resolver: Send + Sync {
    /// Every address `name` resolves to (a name, never an IP literal).
    /// An unknown name is an error, not an empty list.
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread, via
/// tokio), honouring `/etc/hosts` and the system's DNS configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name, 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// A fixed name → addresses table, for tests: map a made-up name to a
/// fixture server on 127.0.0.1, or a "public" name to a private address, and
/// the guard behaves exactly as it would with real DNS. Public so the
/// end-to-end tests of other crates can use it too.
///
/// ```
/// use helmdeck::guard::{Resolver, StaticResolver};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let dns = StaticResolver::new().with("fixture.test", ["127.0.0.1".parse().unwrap()]);
/// assert_eq!(dns.lookup("Fixture.Test.").await.unwrap(), ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
/// assert!(dns.lookup("other.test").await.is_err());
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticResolver {
    names: HashMap<String, Vec<IpAddr>>,
}

impl StaticResolver {
    /// A resolver that knows no names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Map `name` (case-insensitive, trailing dot ignored) to `addrs`,
    /// replacing any earlier mapping of the same name.
    pub fn with(mut self, name: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.names.insert(canonical_name(name), addrs.into_iter().collect());
        self
    }
}

impl Resolver for StaticResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        let found = self
            .names
            .get(&canonical_name(name))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "name not known to the static resolver"));
        Box::pin(std::future::ready(found))
    }
}
