//! A session's browser: its context in the warm pool and its guarded
//! egress proxy, made on the session's first browser call and released by
//! the session's close hook. A context whose browser crashed is reported
//! once as `session_unavailable` and then replaced on the next call.

use super::proxy::{EgressProxy, ProxyEvent, ProxyObserver};
use crate::audit::{AuditEvent, AuditKind, AuditLog, Decision, Outcome};
use crate::caps::CallInfo;
use crate::guard::EgressGuard;
use crate::sessions::{BrowserContext, BrowserPool, LiveSession, SessionSpec};
use crate::{Error, ErrorCode, Result};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

/// How many recent proxy failures a session remembers (to explain a
/// navigation that failed because the proxy refused it).
const REMEMBERED_FAILURES: usize = 32;

/// The browser side of every session in this process. Cheap to clone.
#[derive(Clone)]
pub struct BrowserService {
    inner: Arc<Inner>,
}

struct Inner {
    pool: BrowserPool,
    guard: Arc<EgressGuard>,
    audit: AuditLog,
    sessions: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Default)]
struct Slot {
    browser: Option<Arc<SessionBrowser>>,
    /// The session's close hook is registered (once per session).
    hooked: bool,
}

/// One session's context and proxy.
pub struct SessionBrowser {
    context: BrowserContext,
    _proxy: EgressProxy,
    ledger: Arc<Ledger>,
    spec: SessionSpec,
}

/// A request the proxy refused or could not complete.
struct Failure {
    /// The URL, or `host:port` of a tunnel.
    target: String,
    host: String,
    error: Error,
}

/// What the proxy tells the capability: the call in progress (for audit
/// records) and recent failures by host.
#[derive(Default)]
struct Ledger {
    call: Mutex<Option<Arc<CallInfo>>>,
    failures: Mutex<VecDeque<Failure>>,
}

impl BrowserService {
    /// Browsers from `pool`, egress through `guard`, records to `audit`.
    pub fn new(pool: BrowserPool, guard: Arc<EgressGuard>, audit: AuditLog) -> BrowserService {
        BrowserService { inner: Arc::new(Inner { pool, guard, audit, sessions: Mutex::new(HashMap::new()) }) }
    }

    /// The warm pool.
    pub fn pool(&self) -> &BrowserPool {
        &self.inner.pool
    }

    /// The guard every page request passes.
    pub fn guard(&self) -> &Arc<EgressGuard> {
        &self.inner.guard
    }

    /// How many sessions hold a browser context.
    pub fn open_contexts(&self) -> usize {
        self.lock().len()
    }

    /// The browser of `session` for `call`: its existing context, or a new
    /// one (with a fresh proxy) on first use. If the browser under the
    /// existing context died, this call gets `session_unavailable` and the
    /// next one a fresh context.
    pub async fn attach(&self, session: &Arc<LiveSession>, call: &Arc<CallInfo>) -> Result<Arc<SessionBrowser>> {
        let slot = self.lock().entry(session.id.clone()).or_default().clone();
        let mut slot = slot.lock().await;
        if !slot.hooked {
            slot.hooked = true;
            let (service, id) = (self.clone(), session.id.clone());
            session.on_close(Box::new(move || Box::pin(async move { service.release(&id).await }))).await;
        }
        if let Some(existing) = slot.browser.take() {
            if let Err(lost) = existing.context.check_alive() {
                return Err(lost);
            }
            slot.browser = Some(existing);
        }
        let browser = match &slot.browser {
            Some(b) => b.clone(),
            None => {
                let made = Arc::new(self.open(session).await?);
                slot.browser = Some(made.clone());
                made
            }
        };
        *browser.ledger.call.lock().unwrap_or_else(PoisonError::into_inner) = Some(call.clone());
        Ok(browser)
    }

    async fn open(&self, session: &LiveSession) -> Result<SessionBrowser> {
        let ledger = Arc::new(Ledger::default());
        let observer = self.observer(&session.id, &session.owner, ledger.clone());
        let proxy = EgressProxy::start(self.inner.guard.clone(), observer).await?;
        let context = self.inner.pool.context(&proxy.url()).await?;
        Ok(SessionBrowser { context, _proxy: proxy, ledger, spec: session.spec.clone() })
    }

    /// Close session `id`'s context and proxy (its close hook), in the
    /// background, so a call does not wait for the browser to tear its tabs
    /// down.
    async fn release(&self, id: &str) {
        let slot = self.lock().remove(id);
        if let Some(slot) = slot {
            if let Some(browser) = slot.lock().await.browser.take() {
                tokio::spawn(async move { browser.context.dispose().await });
            }
        }
    }

    /// Audit each proxied request with the session and the call in
    /// progress, and remember failures by host.
    fn observer(&self, session: &str, owner: &str, ledger: Arc<Ledger>) -> ProxyObserver {
        let (audit, session, owner) = (self.inner.audit.clone(), session.to_owned(), owner.to_owned());
        Arc::new(move |ev: ProxyEvent| {
            let mut event = AuditEvent::new(AuditKind::Capability, owner.clone());
            event.session = Some(session.clone());
            if let Some(call) = ledger.call.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
                event.call_id = Some(call.call_id.clone());
                event.pack = Some(call.pack.clone());
                event.tool = call.tool.clone();
                event.version = Some(call.version.clone());
                event.digest = Some(call.digest.clone());
            }
            event.capability = Some("browser.request".to_owned());
            event.target = Some(ev.target.clone());
            event.duration_us = ev.started.elapsed().as_micros() as u64;
            let mut details = serde_json::json!({ "method": ev.method, "vetted": ev.vetted });
            match ev.outcome {
                Ok(status) => details["status"] = status.into(),
                Err(e) => {
                    event.outcome = Outcome::Error(e.code);
                    if e.code == ErrorCode::EgressDenied {
                        event.decision = Decision::Deny;
                    }
                    details["message"] = e.message.clone().into();
                    let mut failures = ledger.failures.lock().unwrap_or_else(PoisonError::into_inner);
                    if failures.len() == REMEMBERED_FAILURES {
                        failures.pop_front();
                    }
                    failures.push_back(Failure { target: ev.target.clone(), host: ev.host, error: e });
                }
            }
            event.details = Some(details);
            let audit = audit.clone();
            tokio::spawn(async move {
                if let Err(e) = audit.record(event).await {
                    tracing::error!(error = %e, "could not audit a browser request");
                }
            });
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Slot>>>> {
        self.inner.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionBrowser {
    /// The session's browser context.
    pub fn context(&self) -> &BrowserContext {
        &self.context
    }

    /// The session's options (viewport, user agent, locale).
    pub fn spec(&self) -> &SessionSpec {
        &self.spec
    }

    /// Why the proxy failed exactly `url` (refused it, or could not reach
    /// it), if it did: the page then shows the proxy's own error page.
    pub fn refusal_at(&self, url: &str) -> Option<Error> {
        let failures = self.ledger.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.iter().rev().find(|f| f.target == url).map(|f| f.error.clone())
    }

    /// Why navigating to `url` failed with Chromium's `net_error`: the
    /// proxy's own reason when it refused or could not connect, otherwise
    /// a network error naming the URL's host.
    pub fn navigation_error(&self, url: &url::Url, net_error: &str) -> Error {
        if let Err(lost) = self.context.check_alive() {
            return lost;
        }
        self.recent_failure(url).unwrap_or_else(|| {
            Error::new(
                ErrorCode::NetworkError,
                format!("could not load `{}` ({net_error}); check that the site is up", url.host_str().unwrap_or_default()),
            )
        })
    }

    fn recent_failure(&self, url: &url::Url) -> Option<Error> {
        let host = url.host_str().unwrap_or_default();
        let failures = self.ledger.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.iter().rev().find(|f| f.host.eq_ignore_ascii_case(host)).map(|f| f.error.clone())
    }
}
