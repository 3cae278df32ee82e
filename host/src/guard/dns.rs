//! DNS for reqwest that goes through the guard, so a reqwest client can only
//! ever connect to vetted addresses.
//!
//! reqwest resolves host names itself when it opens a connection. Given
//! [`GuardedDns`] as its resolver, it gets either the addresses a caller
//! just vetted and pinned for that host (one lookup per request, and the
//! audited addresses are the connected ones), or, for a connection nobody
//! pinned, a fresh [`EgressGuard::vet_host`] answer. Either way nothing
//! unvetted is returned. IP-literal URLs never reach a resolver, so callers
//! must still vet every URL before sending it.

use super::{EgressGuard, VettedTarget};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A [`reqwest::dns::Resolve`] that answers only with vetted addresses.
/// Give it to `ClientBuilder::dns_resolver` and keep an `Arc` to pin.
#[derive(Debug)]
pub struct GuardedDns {
    guard: Arc<EgressGuard>,
    pins: Mutex<HashMap<String, Pinned>>,
}

#[derive(Debug)]
struct Pinned {
    addrs: Vec<SocketAddr>,
    holders: usize,
}

/// Keeps a host pinned to its vetted addresses until dropped. Hold it for
/// as long as the request to that host may be opening connections.
#[derive(Debug)]
#[must_use = "the pin is released as soon as it is dropped"]
pub struct DnsPin<'a> {
    dns: &'a GuardedDns,
    host: String,
}

impl GuardedDns {
    /// DNS that vets every unpinned name with `guard`.
    pub fn new(guard: Arc<EgressGuard>) -> Self {
        GuardedDns { guard, pins: Mutex::new(HashMap::new()) }
    }

    /// Answer lookups of `target`'s host with its vetted addresses until the
    /// returned pin is dropped. Concurrent pins of one host share the entry,
    /// newest addresses winning; all of them passed the same guard.
    pub fn pin(&self, target: &VettedTarget) -> DnsPin<'_> {
        let host = target.host().to_owned();
        let addrs: Vec<SocketAddr> = target.socket_addrs().collect();
        let mut pins = self.lock();
        let pinned = pins.entry(host.clone()).or_insert(Pinned { addrs: Vec::new(), holders: 0 });
        pinned.addrs = addrs;
        pinned.holders += 1;
        DnsPin { dns: self, host }
    }

    fn pinned(&self, host: &str) -> Option<Vec<SocketAddr>> {
        self.lock().get(host).map(|pinned| pinned.addrs.clone())
    }

    /// The map stays consistent even if a holder panicked mid-update (each
    /// update is a single assignment), so poisoning is not a reason to fail.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pinned>> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DnsPin<'_> {
    fn drop(&mut self) {
        let mut pins = self.dns.lock();
        if let Some(pinned) = pins.get_mut(&self.host) {
            pinned.holders -= 1;
            if pinned.holders == 0 {
                pins.remove(&self.host);
            }
        }
    }
}

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        if let Some(addrs) = self.pinned(name.as_str()) {
            return Box::pin(std::future::ready(Ok(Box::new(addrs.into_iter()) as Addrs)));
        }
        let guard = Arc::clone(&self.guard);
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port on every address it gets back.
            let target = guard.vet_host(name.as_str(), 0).await?;
            Ok(Box::new(target.socket_addrs().collect::<Vec<_>>().into_iter()) as Addrs)
        })
    }
}
