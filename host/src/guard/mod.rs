//! The egress guard: the one policy every capability that reaches the
//! network consults before it connects (the `http` capability now, the
//! browser's proxy and git later), so there is exactly one answer to "may
//! Helmdeck talk to this host?".
//!
//! It refuses loopback, private, link-local, CGNAT, cloud metadata,
//! multicast and other special-purpose addresses (see [`Refusal`]) for
//! IPv4 and IPv6, after resolving names, unless `HELMDECK_EGRESS_ALLOWLIST`
//! ([`EgressPolicy`]) opens them. It hands back the addresses it checked
//! ([`VettedTarget`]); callers connect to those and nothing else, so a name
//! that re-resolves to a private address between check and connect (DNS
//! rebinding) gets nowhere. [`GuardedDns`] does that pinning for reqwest.
//!
//! What must not live here: protocol clients, auditing, retries. The guard
//! decides; capabilities connect and record.

mod dns;
mod error;
mod policy;
mod ranges;
mod resolver;
#[cfg(test)]
mod tests;

pub use dns::{DnsPin, GuardedDns};
pub use error::GuardError;
pub use policy::{ALLOWLIST_ENV, AllowEntry, EgressPolicy, PolicyError};
pub use ranges::{Refusal, refusal};
pub use resolver::{Lookup, Resolver, StaticResolver, SystemResolver};

use policy::canonical_name;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// Why an address passed the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// It is an ordinary public address.
    Public,
    /// It is in a refused range, but this allowlist entry opens it (by the
    /// host name or by the address).
    Allowlisted(AllowEntry),
    /// It is in a refused range, but the host and port are the one origin
    /// this guard was opened for ([`EgressGuard::opening`]): the operator
    /// configured it for the caller (a registered catalog's own server).
    Configured(String),
}

/// A destination the guard has checked: the host, the port and the only
/// addresses a caller may connect to. Fields are private so that a target
/// can only come from [`EgressGuard`]; holding one means "vetted".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedTarget {
    host: String,
    port: u16,
    passed: Vec<(IpAddr, Admission)>,
    dropped: Vec<(IpAddr, Refusal)>,
}

impl VettedTarget {
    /// The host as a URL spells it (lower-case name, or IP literal with
    /// IPv6 in brackets); use it for TLS server names and `Host`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses that passed, in resolver order; never empty.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.passed.iter().map(|(ip, _)| *ip)
    }

    /// [`Self::addrs`] with the port: exactly what a caller may connect to.
    pub fn socket_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.addrs().map(|ip| SocketAddr::new(ip, self.port))
    }

    /// Each address that passed and why.
    pub fn passed(&self) -> &[(IpAddr, Admission)] {
        &self.passed
    }

    /// Addresses the name also resolved to that were refused and dropped.
    pub fn dropped(&self) -> &[(IpAddr, Refusal)] {
        &self.dropped
    }
}

/// One line for audit records: where the connection may go and why, and
/// what was dropped (`10.0.0.7 (allowlisted by `*.corp.example`); dropped ...`).
impl fmt::Display for VettedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (ip, admission)) in self.passed.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            match admission {
                Admission::Public => write!(f, "{sep}{ip} (public)")?,
                Admission::Allowlisted(entry) => write!(f, "{sep}{ip} (allowlisted by `{entry}`)")?,
                Admission::Configured(origin) => write!(f, "{sep}{ip} (configured origin `{origin}`)")?,
            }
        }
        for (i, (ip, why)) in self.dropped.iter().enumerate() {
            let sep = if i == 0 { "; dropped " } else { ", " };
            write!(f, "{sep}{ip} ({why})")?;
        }
        Ok(())
    }
}

/// The egress policy in force plus the resolver it checks names with.
/// Cheap to share behind an `Arc`; every method takes `&self`.
pub struct EgressGuard {
    policy: EgressPolicy,
    resolver: Arc<dyn Resolver>,
    /// The one `host:port` opened on top of the policy, if any (see [`EgressGuard::opening`]).
    origin: Option<(String, u16)>,
}

impl fmt::Debug for EgressGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressGuard").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl EgressGuard {
    /// A guard enforcing `policy`, resolving names with `resolver`
    /// ([`SystemResolver`] in production, [`StaticResolver`] in tests).
    pub fn new(policy: EgressPolicy, resolver: Arc<dyn Resolver>) -> Self {
        EgressGuard { policy, resolver, origin: None }
    }

    /// This guard with one more destination open: `url`'s exact host and
    /// port (no other port of that host, no other name of its addresses).
    /// For destinations the operator configured for one caller, such as a
    /// registered catalog's server, which the caller may reach without the
    /// allowlist opening that host to every pack.
    pub fn opening(&self, url: &Url) -> EgressGuard {
        let origin = url.host().zip(url.port_or_known_default()).map(|(host, port)| (host.to_string(), port));
        EgressGuard { policy: self.policy.clone(), resolver: Arc::clone(&self.resolver), origin }
    }

    /// Check a URL before connecting to it. Only `http` and `https` pass;
    /// IP literals (in any spelling the URL parser accepts: `2130706433`,
    /// `0x7f.1`, `[::ffff:127.0.0.1]`, ...) are judged as written, names are
    /// resolved and each address judged. Waits for DNS; does not connect.
    pub async fn vet(&self, url: &Url) -> Result<VettedTarget, GuardError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(GuardError::UnsupportedScheme { scheme: url.scheme().to_owned() });
        }
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(GuardError::InvalidHost { host: url.host_str().unwrap_or_default().to_owned() });
        };
        self.vet_host(host, port).await
    }

    /// Check a host and port that do not come as a URL (a proxy's `CONNECT
    /// host:port`, a git remote). `host` is spelled as in a URL authority:
    /// a name, an IPv4 address, or an IPv6 address in brackets.
    pub async fn vet_host(&self, host: &str, port: u16) -> Result<VettedTarget, GuardError> {
        let parsed = Host::parse(host).map_err(|_| GuardError::InvalidHost { host: host.to_owned() })?;
        let (addrs, name_entry) = match &parsed {
            Host::Ipv4(ip) => (vec![IpAddr::V4(*ip)], None),
            Host::Ipv6(ip) => (vec![IpAddr::V6(*ip)], None),
            Host::Domain(name) => (self.resolve(name).await?, self.policy.entry_for_name(name)),
        };
        let host = parsed.to_string();
        let configured = self.origin.as_ref().filter(|(h, p)| *h == host && *p == port);
        let (mut passed, mut dropped) = (Vec::new(), Vec::new());
        for ip in addrs {
            let verdict = match configured {
                Some((h, p)) if ranges::refusal(ip).is_some() => Ok(Admission::Configured(format!("{h}:{p}"))),
                _ => self.judge(ip, name_entry),
            };
            match verdict {
                Ok(admission) => passed.push((ip, admission)),
                Err(why) => dropped.push((ip, why)),
            }
        }
        if passed.is_empty() {
            return Err(GuardError::Denied { host, refused: dropped });
        }
        Ok(VettedTarget { host, port, passed, dropped })
    }

    /// Public addresses pass; a refused one passes only if the allowlist
    /// opens its host name or the address itself.
    fn judge(&self, ip: IpAddr, name_entry: Option<&AllowEntry>) -> Result<Admission, Refusal> {
        let Some(why) = ranges::refusal(ip) else {
            return Ok(Admission::Public);
        };
        name_entry
            .or_else(|| self.policy.entry_for_addr(ip))
            .map(|entry| Admission::Allowlisted(entry.clone()))
            .ok_or(why)
    }

    /// Every distinct address of `name`. `localhost` and `*.localhost` are
    /// loopback by definition (RFC 6761) and never asked of DNS, so their
    /// treatment does not depend on `/etc/hosts` or a resolver's whims.
    async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, GuardError> {
        let canonical = canonical_name(name);
        if canonical == "localhost" || canonical.ends_with(".localhost") {
            return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        }
        let failed = |reason: String| GuardError::Resolve { host: name.to_owned(), reason };
        let found = self.resolver.lookup(name).await.map_err(|e| failed(e.to_string()))?;
        let mut addrs: Vec<IpAddr> = Vec::with_capacity(found.len());
        for ip in found {
            if !addrs.contains(&ip) {
                addrs.push(ip);
            }
        }
        if addrs.is_empty() {
            return Err(failed("the name has no addresses".to_owned()));
        }
        Ok(addrs)
    }
}
