//! A session's browser: its context in the warm pool and its guarded
//! egress proxy, made on the session's first browser call (or taken from a
//! spare made ahead, for sessions with default options) and released by
//! the session's close hook. A context whose browser crashed is reported
//! once as `session_unavailable` and then replaced on the next call.
//!
//! Opening a tab costs Chromium tens of milliseconds, more than navigating
//! a simple page, so tabs are made ahead and kept: a spare comes with a blank page,
//! and a page a call of a kept session drops waits, idle, for the session's
//! next `page.open` (which gets it back as a blank page: see
//! [`super::page::SessionPage`]). Spares are refilled shortly after a call
//! is done with its page, not while it navigates or delivers its answer,
//! so the two do not compete for the machine.

use super::dialogs::answer_dialogs;
use super::page::DEFAULT_VIEWPORT;
use super::proxy::{EgressProxy, ProxyEvent, ProxyObserver};
use crate::audit::{AuditEvent, AuditKind, AuditLog, Decision, Outcome};
use crate::caps::CallInfo;
use crate::caps::cleanup::CallCleanup;
use crate::guard::EgressGuard;
use crate::sessions::{BrowserContext, BrowserPool, LiveSession, SessionSpec};
use crate::{Error, ErrorCode, Result};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How many contexts are kept ready ahead of time.
const SPARES: usize = 2;
/// How long after a call is done with its page the next spare is started.
/// Making one starts a renderer process, which on a small machine competes
/// with delivering the call's answer (encoding it, a local client decoding
/// a screenshot); an agent's next call comes seconds later. Measured here:
/// a paced MCP screenshot call took 76.8 ms with the refill started at
/// once, 65.9 ms with it started 150 ms later.
const REFILL_DELAY: Duration = Duration::from_millis(150);
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
    /// Contexts, proxies and blank pages made ahead of time for the next
    /// sessions with default options (what every ephemeral session has):
    /// opening a page takes Chromium and chromiumoxide far longer than
    /// navigating a simple one.
    spares: Mutex<VecDeque<SessionBrowser>>,
    refilling: AtomicBool,
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
    /// The page the session's next `page.open` takes.
    idle_page: Mutex<Option<IdlePage>>,
    /// Bound to an ephemeral session: its context is disposed right after
    /// the call, and its pages with it.
    ephemeral: bool,
    /// A `cookies` credential set in the context: no page of the session can
    /// be read any more ([`super::seal`]).
    sealed: Mutex<Option<String>>,
}

/// A page waiting for the session's next `page.open`.
pub(super) struct IdlePage {
    pub page: Page,
    /// It still shows the document an earlier call left (a spare's page
    /// is blank).
    pub stale: bool,
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
    /// The session id and its owner (bound when a spare is claimed).
    owner: Mutex<Option<(String, String)>>,
    call: Mutex<Option<Arc<CallInfo>>>,
    failures: Mutex<VecDeque<Failure>>,
}

impl BrowserService {
    /// Browsers from `pool`, egress through `guard`, records to `audit`.
    pub fn new(pool: BrowserPool, guard: Arc<EgressGuard>, audit: AuditLog) -> BrowserService {
        let inner = Inner {
            pool,
            guard,
            audit,
            sessions: Mutex::new(HashMap::new()),
            spares: Mutex::new(VecDeque::new()),
            refilling: AtomicBool::new(false),
        };
        BrowserService { inner: Arc::new(inner) }
    }

    /// Start the pool's warm browsers and make a spare context.
    pub async fn warm_up(&self) -> Result<()> {
        self.inner.pool.warm_up().await?;
        self.refill().await;
        Ok(())
    }

    /// The warm pool.
    pub fn pool(&self) -> &BrowserPool {
        &self.inner.pool
    }

    /// How many spare contexts the service keeps ready when it can.
    pub fn spares_wanted(&self) -> usize {
        SPARES
    }

    /// How many spare contexts (counted in the pool's contexts) are ready.
    pub fn spares(&self) -> usize {
        self.lock_spares().iter().filter(|s| s.context.is_alive()).count()
    }

    fn lock_spares(&self) -> std::sync::MutexGuard<'_, VecDeque<SessionBrowser>> {
        self.inner.spares.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The guard every page request passes.
    pub fn guard(&self) -> &Arc<EgressGuard> {
        &self.inner.guard
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
            existing.context.check_alive()?;
            slot.browser = Some(existing);
        }
        let browser = match &slot.browser {
            Some(b) => b.clone(),
            None => {
                let mut made = match self.claim_spare(session) {
                    Some(spare) => spare,
                    None => self.open(session.spec.clone()).await?,
                };
                *made.ledger.owner.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((session.id.clone(), session.owner.clone()));
                made.ephemeral = session.ephemeral;
                let made = Arc::new(made);
                slot.browser = Some(made.clone());
                made
            }
        };
        *browser.ledger.call.lock().unwrap_or_else(PoisonError::into_inner) = Some(call.clone());
        Ok(browser)
    }

    async fn open(&self, spec: SessionSpec) -> Result<SessionBrowser> {
        let ledger = Arc::new(Ledger::default());
        let observer = self.observer(ledger.clone());
        let proxy = EgressProxy::start(self.inner.guard.clone(), observer).await?;
        let context = self.inner.pool.context(&proxy.url()).await?;
        let browser = SessionBrowser {
            context,
            _proxy: proxy,
            ledger,
            spec,
            idle_page: Mutex::new(None),
            ephemeral: false,
            sealed: Mutex::new(None),
        };
        Ok(browser)
    }

    /// The spare, for a session with default options, if it is still good.
    /// When none is left, the call goes the slow way and spares are made
    /// meanwhile; otherwise [`BrowserService::replenish`] makes the next
    /// one once the call is done with its page.
    fn claim_spare(&self, session: &LiveSession) -> Option<SessionBrowser> {
        if session.spec != SessionSpec::default() {
            return None;
        }
        let spare = {
            let mut spares = self.lock_spares();
            spares.retain(|s| s.context.is_alive());
            spares.pop_front()
        };
        if spare.is_none() {
            self.replenish();
        }
        spare
    }

    /// Make spare contexts in the background, after [`REFILL_DELAY`],
    /// until [`SPARES`] are ready.
    pub fn replenish(&self) {
        if self.spares() < SPARES {
            let service = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REFILL_DELAY).await;
                service.refill().await
            });
        }
    }

    /// Make spare contexts with blank pages until [`SPARES`] are ready.
    async fn refill(&self) {
        if self.inner.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        while self.spares() < SPARES {
            match self.make_spare().await {
                Ok(spare) => self.lock_spares().push_back(spare),
                Err(e) => {
                    tracing::debug!(error = %e, "no spare browser context");
                    break;
                }
            }
        }
        self.inner.refilling.store(false, Ordering::Release);
    }

    async fn make_spare(&self) -> Result<SessionBrowser> {
        let spare = self.open(SessionSpec::default()).await?;
        let page = spare.new_page().await?;
        let (width, height) = DEFAULT_VIEWPORT;
        let viewport = SetDeviceMetricsOverrideParams::new(i64::from(width), i64::from(height), 1.0, false);
        page.execute(viewport).await.map_err(|e| spare.context.failure("set the viewport", e))?;
        *spare.idle_page.lock().unwrap_or_else(PoisonError::into_inner) = Some(IdlePage { page, stale: false });
        Ok(spare)
    }

    /// Close session `id`'s context and proxy (its close hook), in the
    /// background, so a call does not wait for the browser to tear its tabs
    /// down.
    async fn release(&self, id: &str) {
        let slot = self.lock().remove(id);
        if let Some(slot) = slot
            && let Some(browser) = slot.lock().await.browser.take()
        {
            tokio::spawn(async move { browser.context.dispose().await });
        }
        self.replenish();
    }

    /// Audit each proxied request with the session and the call in
    /// progress, and remember failures by host.
    fn observer(&self, ledger: Arc<Ledger>) -> ProxyObserver {
        let audit = self.inner.audit.clone();
        Arc::new(move |ev: ProxyEvent| {
            let (session, owner) = ledger.owner.lock().unwrap_or_else(PoisonError::into_inner).clone().unzip();
            let mut event = AuditEvent::new(AuditKind::Capability, owner.unwrap_or_else(|| "helmdeck".to_owned()));
            event.session = session;
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

    /// A new blank page in the session's context that answers its own
    /// JavaScript dialogs ([`super::dialogs`]).
    pub async fn new_page(&self) -> Result<Page> {
        let page = self.context.new_page().await?;
        answer_dialogs(&page).await.map_err(|e| self.context.failure("watch the page's dialogs", e))?;
        Ok(page)
    }

    /// The credential whose cookies the context holds, if any.
    pub fn sealed_by(&self) -> Option<String> {
        self.sealed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The context now holds credential `name`'s cookies, for good.
    pub(super) fn seal(&self, name: &str) {
        *self.sealed.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_owned());
    }

    /// The session's options (viewport, user agent, locale).
    pub fn spec(&self) -> &SessionSpec {
        &self.spec
    }

    /// The page waiting for the next `page.open`, if there is one.
    pub(super) fn take_idle_page(&self) -> Option<IdlePage> {
        self.idle_page.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    /// Take back `page`, which a call is done with: keep it for the
    /// session's next `page.open` when it is `reusable` (it still has the
    /// session's viewport) and none is kept yet, otherwise close it in the
    /// background. An ephemeral session's page is left to its context's
    /// disposal, right after the call, and its popups with it.
    ///
    /// A kept session's popups are closed in the background too: no call
    /// can reach them (a call works on the page it opens), and they would
    /// otherwise run on, outside any call's deadline, until the session
    /// closed.
    pub(super) fn put_away(self: &Arc<Self>, page: Page, reusable: bool) {
        if self.ephemeral || !self.context.is_alive() {
            return;
        }
        let discarded = {
            let mut idle = self.idle_page.lock().unwrap_or_else(PoisonError::into_inner);
            if reusable && idle.is_none() {
                *idle = Some(IdlePage { page, stale: true });
                None
            } else {
                Some(page)
            }
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else { return };
        rt.spawn(self.tidy(discarded));
    }

    /// Close `page`, which a call was cut off on (cancelled, or out of
    /// time, mid-operation), and the session's popups, as part of that
    /// call's `cleanup`: the call's record is written once they are gone.
    /// An ephemeral session's page goes with its context, which the call
    /// closes before its record too.
    pub(super) fn discard(self: &Arc<Self>, page: Page, cleanup: &CallCleanup) {
        if !self.ephemeral && self.context.is_alive() {
            cleanup.defer(self.tidy(Some(page)));
        }
    }

    /// Close `discarded`, if any, then the windows the session's pages opened.
    fn tidy(self: &Arc<Self>, discarded: Option<Page>) -> impl Future<Output = ()> + Send + 'static {
        let session = Arc::clone(self);
        async move {
            if let Some(page) = discarded {
                let _ = tokio::time::timeout(Duration::from_secs(5), page.close()).await;
            }
            let popups = session.context.close_popups().await;
            if popups > 0 {
                tracing::debug!(popups, "closed the windows a session's pages opened");
            }
        }
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
                format!(
                    "could not load `{}` ({net_error}); check that the site is up",
                    url.host_str().unwrap_or_default()
                ),
            )
        })
    }

    fn recent_failure(&self, url: &url::Url) -> Option<Error> {
        let host = url.host_str().unwrap_or_default();
        let failures = self.ledger.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.iter().rev().find(|f| f.host.eq_ignore_ascii_case(host)).map(|f| f.error.clone())
    }
}
