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
        // The request's record from the start: a fetch cut off with its call still leaves one.
        let request = CapabilityAudit::start(self, "http.fetch", Some(req.url.clone()), started);
        let credentials = match self.substitute(&mut outbound).await {
            Ok(used) => used,
            Err(e) => {
                self.audit(request.failed(&e)).await?;
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
        self.audit_hops(request, hops, &result, bytes_out).await?;
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
    /// one (`request`, the record started with the fetch) carries the
    /// request's outcome. A request refused before any hop (bad URL, bad
    /// method) still gets one record.
    async fn audit_hops(
        &self,
        mut request: CapabilityAudit,
        hops: Vec<HopRecord>,
        result: &Result<client::OutboundResponse, Error>,
        bytes_out: u64,
    ) -> Result<(), Error> {
        let mut hops: Vec<(String, Decision, String)> =
            hops.into_iter().map(|h| (h.url.to_string(), h.decision, h.reason)).collect();
        let (target, decision, reason) =
            hops.pop().unwrap_or_else(|| (request.target.clone().unwrap_or_default(), Decision::Allow, String::new()));
        for (target, decision, reason) in hops {
            let mut entry = CapabilityAudit::start(self, "http.fetch", Some(target), request.started);
            entry.decision = decision;
            entry.details = (!reason.is_empty()).then(|| serde_json::json!({ "reason": reason }));
            self.audit(entry).await?;
        }
        request.target = Some(target);
        request.decision = decision;
        match result {
            Ok(response) => {
                request.bytes_out = bytes_out;
                request.bytes_in = response.body.len() as u64;
                request.details = Some(serde_json::json!({ "status": response.status, "reason": reason }));
            }
            Err(e) => request = request.failed(e),
        }
        self.audit(request).await
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
