//! Capabilities: the host side of each `helmdeck:host` interface, and the
//! only place side effects happen. One module per interface; adding a
//! capability means one module and one line in [`add_to_linker`].
//!
//! Every capability call is audited with the call's actor, pack and target,
//! and network capabilities go through the egress guard.

pub mod artifacts;
pub mod browser;
pub mod cleanup;
pub mod exec;
pub mod fs;
pub mod git;
pub mod http;
pub mod progress;
pub mod vault;

use crate::Error;
use crate::artifacts::ArtifactStore;
use crate::audit::{AuditEvent, AuditKind, AuditLog, Decision, Outcome};
use crate::engine::{CallState, LinkError, wit};
use crate::sessions::{SessionSlot, Sessions};
use helmdeck_marketplace::{Capability, CapabilityScope};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{HasSelf, Linker};

/// Who is calling which pack, carried into every capability call.
#[derive(Debug, Clone)]
pub struct CallInfo {
    /// Identifier shared by the API record and every capability record of this call.
    pub call_id: String,
    /// The token subject on whose behalf the pack runs.
    pub actor: String,
    /// The session the call runs in, if any.
    pub session: Option<String>,
    pub pack: String,
    pub version: String,
    /// Hex SHA-256 of the pack's component.
    pub digest: String,
    /// The tool being called (`None` while describing at load).
    pub tool: Option<String>,
    /// The granted capabilities with the scopes the manifest asked for.
    pub grants: BTreeMap<Capability, CapabilityScope>,
    /// What the call still owes when it ends (cleanup work, records of
    /// capability calls it cut off); the dispatcher settles it before the
    /// call's API record.
    pub cleanup: cleanup::CallCleanup,
}

/// Host services every capability implementation may use; one per process.
pub struct HostServices {
    pub audit: AuditLog,
    pub http: http::client::GuardedHttpClient,
    pub artifacts: ArtifactStore,
    pub sessions: Sessions,
    /// Session browsers: the warm pool, contexts and egress proxies.
    pub browser: browser::BrowserService,
    /// Signs the shareable download links of artifacts.
    pub links: crate::signed_url::LinkSigner,
    /// Sealed credentials; capabilities substitute them at the boundary.
    pub vault: Arc<crate::vault::Vault>,
    /// The unprivileged uid of each session that runs commands.
    pub session_users: Arc<exec::SessionUsers>,
}

/// What a capability implementation sees during one call.
pub struct CapsContext {
    pub call: Arc<CallInfo>,
    pub services: Arc<HostServices>,
    /// The call's session: the one it named, or an ephemeral one made on
    /// first use (`session.get().await`) and closed when the call ends.
    pub session: Arc<SessionSlot>,
    /// Where the pack's progress reports go (nowhere unless the caller follows the call).
    pub progress: progress::ProgressSink,
}

impl CapsContext {
    /// The scope granted for `cap`. Only called from a linked capability, so
    /// the grant exists; an empty scope is the safe answer otherwise.
    pub fn scope(&self, cap: Capability) -> CapabilityScope {
        self.call.grants.get(&cap).cloned().unwrap_or_default()
    }

    /// Append one capability record for this call. An audit failure fails the
    /// capability call: an action that cannot be recorded does not happen
    /// unrecorded.
    pub async fn audit(&self, mut entry: CapabilityAudit) -> Result<(), Error> {
        entry.call = None;
        self.services.audit.record(entry.event(&self.call)).await.map(|_| ())
    }
}

/// One capability call, as the audit log should see it. Start it when the
/// capability call starts and hand it to [`CapsContext::audit`] when it
/// ends; if the call is dropped in between (the pack call was cancelled or
/// ran out of time), the record is not lost: it goes to the call's
/// [`cleanup::CallCleanup`], which writes it with the outcome that stopped
/// the call.
#[derive(Debug)]
pub struct CapabilityAudit {
    /// `http.fetch`, `artifacts.put`, ...
    pub capability: String,
    pub target: Option<String>,
    pub decision: Decision,
    pub outcome: Outcome,
    pub started: Instant,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub details: Option<serde_json::Value>,
    /// The call this record belongs to, until the record is written.
    call: Option<Arc<CallInfo>>,
}

impl CapabilityAudit {
    /// A record of `ctx`'s call for `capability` on `target` that started at
    /// `started`; outcome and sizes are filled in as the capability call ends.
    pub fn start(ctx: &CapsContext, capability: &str, target: Option<String>, started: Instant) -> Self {
        CapabilityAudit {
            capability: capability.to_owned(),
            target,
            decision: Decision::Allow,
            outcome: Outcome::Ok,
            started,
            bytes_in: 0,
            bytes_out: 0,
            details: None,
            call: Some(ctx.call.clone()),
        }
    }

    /// Mark the record with the error's code (and `deny` for policy refusals).
    pub fn failed(mut self, error: &Error) -> Self {
        use crate::ErrorCode::{EgressDenied, Unauthorized};
        self.outcome = Outcome::Error(error.code);
        if matches!(error.code, EgressDenied | Unauthorized) {
            self.decision = Decision::Deny;
        }
        self.details = Some(serde_json::json!({ "message": error.message }));
        self
    }

    /// The event to append for `call`, taking this record's fields.
    fn event(&mut self, call: &CallInfo) -> AuditEvent {
        let mut event = AuditEvent::new(AuditKind::Capability, call.actor.clone());
        event.call_id = Some(call.call_id.clone());
        event.session = call.session.clone();
        event.pack = Some(call.pack.clone());
        event.tool = call.tool.clone();
        event.version = Some(call.version.clone());
        event.digest = Some(call.digest.clone());
        event.capability = Some(std::mem::take(&mut self.capability));
        event.target = self.target.take();
        event.decision = self.decision;
        event.outcome = self.outcome;
        event.duration_us = self.started.elapsed().as_micros() as u64;
        event.bytes_in = self.bytes_in;
        event.bytes_out = self.bytes_out;
        event.details = self.details.take();
        event
    }
}

impl Drop for CapabilityAudit {
    /// Dropped before it was written: the capability call was cut off with
    /// its pack call, so the call's cleanup writes the record.
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            let event = self.event(&call);
            call.cleanup.unfinished(event);
        }
    }
}

impl wit::host::types::Host for CapsContext {}

/// Link the interfaces every pack gets without a grant: `types` and `progress`.
pub(crate) fn add_always_linked(linker: &mut Linker<CallState>) -> Result<(), LinkError> {
    wit::host::types::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps)
        .and_then(|()| wit::host::progress::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps))
        .map_err(|e| LinkError::Wasmtime(e.to_string()))
}

/// Link the implementation of `cap` into `linker`.
pub(crate) fn add_to_linker(cap: Capability, linker: &mut Linker<CallState>) -> Result<(), LinkError> {
    let linked = match cap {
        Capability::Http => wit::host::http::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps),
        Capability::Artifacts => {
            wit::host::artifacts::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps)
        }
        Capability::Browser => {
            wit::host::browser::add_to_linker::<CallState, browser::BrowserData>(linker, browser::view)
        }
        Capability::Fs => wit::host::fs::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps),
        Capability::Exec => wit::host::exec::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps),
        Capability::Git => wit::host::git::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps),
        Capability::Vault => {
            wit::host::vault::add_to_linker::<CallState, HasSelf<CapsContext>>(linker, |s| &mut s.caps)
        }
        other => return Err(LinkError::Unavailable(other)),
    };
    linked.map_err(|e| LinkError::Wasmtime(e.to_string()))
}
