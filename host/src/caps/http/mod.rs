//! `helmdeck:host/http`: outbound requests for packs. The WIT adapter lives
//! here; the guarded client (egress guard, manual redirects, caps) in
//! [`client`]. Each hop is checked against the pack's manifest scope
//! (`capabilities.http.hosts`) and the egress guard, and audited.
//! `${vault:NAME}` placeholders are substituted here, at the boundary
//! ([`substitute`]), and any registered secret a response echoes is masked
//! before the pack sees it: in the decoded body (the client decodes gzip,
//! br and deflate and refuses codings it cannot), in UTF-8 and UTF-16, over
//! the whole body read before it is cut to the pack's limit.

pub mod client;
mod redirect;
mod request;
mod substitute;
#[cfg(test)]
mod tests;

use super::{CapabilityAudit, CapsContext};
use crate::audit::Decision;
use crate::engine::wit::host::http::{Header, Host, Request, Response};
use crate::engine::wit::host::types::Error as WitError;
use crate::{Error, ErrorCode};
use client::{HopRecord, OutboundRequest};
use helmdeck_marketplace::{Capability, CapabilityScope};
use std::time::{Duration, Instant};

impl Host for CapsContext {
    async fn fetch(&mut self, req: Request) -> Result<Response, WitError> {
        let started = Instant::now();
        let scope = self.scope(Capability::Http);
        let bytes_out = req.body.as_ref().map_or(0, |b| b.len() as u64);
        let mut outbound = OutboundRequest {
            method: req.method,
            url: req.url.clone(),
            headers: req.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: req.body.map(Into::into),
            timeout: req.timeout_ms.map(|ms| Duration::from_millis(u64::from(ms))),
            max_body_bytes: req.max_body_bytes,
            follow_redirects: req.follow_redirects,
            // Read far enough past the limit that a secret straddling it is masked whole.
            lookahead: self.services.vault.mask_lookahead(),
        };
        let credentials = match self.substitute(&mut outbound).await {
            Ok(used) => used,
            Err(e) => {
                let mut audit = CapabilityAudit::start("http.fetch", Some(req.url.clone()), started);
                audit = audit.failed(&e);
                self.audit(audit).await?;
                return Err(e.into());
            }
        };
        // Judged by name, before the guard resolves it: a name outside the
        // scope is never asked of DNS.
        let mut in_scope = |url: &url::Url| -> Result<(), Error> {
            check_scope(&scope, url).and_then(|()| credentials.iter().try_for_each(|c| c.check_hop(url)))
        };
        let mut hops: Vec<HopRecord> = Vec::new();
        let mut on_hop = |hop: &HopRecord| -> Result<(), Error> {
            hops.push(hop.clone());
            Ok(())
        };
        let result = self.services.http.fetch(outbound, &mut in_scope, &mut on_hop).await;
        self.audit_hops(&req.url, hops, &result, started, bytes_out).await?;
        let response = result?;
        // A server that echoes a substituted secret (or any the vault holds)
        // does not hand it to the pack: the decoded body is masked whole,
        // then cut to the pack's limit.
        let vault = &self.services.vault;
        let body = vault.mask_cut(&response.body, response.body_limit, !response.truncated);
        let truncated = response.truncated || response.body.len() > response.body_limit;
        Ok(Response {
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.as_str().to_owned(),
                    value: vault.mask(&String::from_utf8_lossy(value.as_bytes())),
                })
                .collect(),
            body,
            truncated,
            final_url: vault.mask(response.final_url.as_str()),
            redirects: response.redirects,
        })
    }
}

impl CapsContext {
    /// One record per hop: earlier hops redirected (or were refused), the last
    /// one carries the request's outcome. A request refused before any hop
    /// (bad URL, bad method) still gets one record.
    async fn audit_hops(
        &self,
        requested_url: &str,
        hops: Vec<HopRecord>,
        result: &Result<client::OutboundResponse, Error>,
        started: Instant,
        bytes_out: u64,
    ) -> Result<(), Error> {
        let last = hops.len().saturating_sub(1);
        let targets: Vec<(String, Decision, String)> = if hops.is_empty() {
            vec![(requested_url.to_owned(), Decision::Allow, String::new())]
        } else {
            hops.into_iter().map(|h| (h.url.to_string(), h.decision, h.reason)).collect()
        };
        for (i, (target, decision, reason)) in targets.into_iter().enumerate() {
            let mut entry = CapabilityAudit::start("http.fetch", Some(target), started);
            entry.decision = decision;
            entry.details = (!reason.is_empty()).then(|| serde_json::json!({ "reason": reason }));
            if i == last {
                match result {
                    Ok(response) => {
                        entry.bytes_out = bytes_out;
                        entry.bytes_in = response.body.len() as u64;
                        entry.details = Some(serde_json::json!({ "status": response.status, "reason": reason }));
                    }
                    Err(e) => entry = entry.failed(e),
                }
            }
            self.audit(entry).await?;
        }
        Ok(())
    }
}

/// The manifest's `capabilities.http.hosts` narrows where a pack may go, on
/// top of the egress guard; checked for every hop, redirects included,
/// before the hop's name is resolved.
fn check_scope(scope: &CapabilityScope, url: &url::Url) -> Result<(), Error> {
    let host = url.host_str().unwrap_or_default();
    if scope.allows_host(host) {
        return Ok(());
    }
    Err(Error::new(
        ErrorCode::EgressDenied,
        format!(
            "`{host}` is outside this pack's http scope ({}); add it to `capabilities.http.hosts` in helmdeck-pack.yaml",
            scope.hosts.join(", ")
        ),
    ))
}
