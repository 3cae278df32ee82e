//! One page (tab) of a session's browser context and what can be done with
//! it, in host terms (`crate::Result`). The WIT adapter in the parent module
//! converts records and audits; every CDP exchange here runs under a
//! deadline and maps its failure onto the closed error set.

use super::scripts;
use super::session::SessionBrowser;
use crate::caps::cleanup::CallCleanup;
use crate::{Error, ErrorCode, Result};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::{
    SetDeviceMetricsOverrideParams, SetLocaleOverrideParams, SetUserAgentOverrideParams,
};
use chromiumoxide::cdp::browser_protocol::input::{DispatchKeyEventParams, DispatchKeyEventType, InsertTextParams};
use chromiumoxide::cdp::browser_protocol::page::{EventLifecycleEvent, NavigateParams};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::layout::Point;
use futures::StreamExt;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Deadline of one page operation that is not a wait.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default and longest navigation and wait deadlines.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// The viewport of a session that asks for none.
pub const DEFAULT_VIEWPORT: (u32, u32) = (1280, 720);
/// How often waits re-check their condition.
const POLL: Duration = Duration::from_millis(50);

/// A page of a session, as the capability drives it. It may be a tab an
/// earlier call of the session left showing its document: such a page is
/// `stale`, and is taken back to `about:blank` before anything but a
/// navigation touches it, so every call still starts from a blank page.
pub struct SessionPage {
    page: Option<Page>,
    pub(super) session: Arc<SessionBrowser>,
    /// The last URL the page was known to show, for audit records.
    url: Mutex<String>,
    stale: AtomicBool,
    /// The pack changed the viewport: the tab is not kept for the next call.
    resized: AtomicBool,
    /// Operations started on the page and not finished (opening it counts
    /// as one). A page dropped with one still running was cut off with its
    /// call: it is closed, not kept, so nothing the call started on it runs
    /// on in the next call or after the call's record.
    in_flight: AtomicUsize,
    /// The call that opened the page, whose end waits for a cut-off page to close.
    cleanup: CallCleanup,
    /// The credential typed into the page, until a fresh document ([`super::seal`]).
    pub(super) sealed: Mutex<Option<String>>,
    /// The pack ran its own script in the current document.
    pub(super) scripted: AtomicBool,
}

/// Where a navigation ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Landed {
    pub url: String,
    pub status: Option<u16>,
    pub title: String,
}

impl SessionPage {
    /// Open a page in `session`'s context for the call whose loose ends
    /// `cleanup` settles, emulating its viewport, user agent and locale.
    pub async fn open(session: Arc<SessionBrowser>, cleanup: CallCleanup) -> Result<SessionPage> {
        let (page, stale, ready) = match session.take_idle_page() {
            Some(idle) => (idle.page, idle.stale, true),
            None => (session.new_page().await?, false, false),
        };
        let handle = SessionPage {
            page: Some(page),
            session,
            url: Mutex::new("about:blank".to_owned()),
            stale: AtomicBool::new(stale),
            resized: AtomicBool::new(false),
            in_flight: AtomicUsize::new(1),
            cleanup,
            sealed: Mutex::new(None),
            scripted: AtomicBool::new(false),
        };
        let spec = handle.session.spec().clone();
        if !ready {
            let viewport = spec.viewport.map_or(DEFAULT_VIEWPORT, |v| (v.width, v.height));
            handle.apply_viewport(viewport.0, viewport.1).await?;
        }
        if spec.user_agent.is_some() || spec.locale.is_some() {
            let ua = match &spec.user_agent {
                Some(ua) => ua.clone(),
                None => handle.evaluate_value("navigator.userAgent").await?.as_str().unwrap_or_default().to_owned(),
            };
            let mut params = SetUserAgentOverrideParams::new(ua);
            params.accept_language = spec.locale.clone();
            handle.cdp("set the user agent", handle.page()?.execute(params)).await?;
        }
        if let Some(locale) = &spec.locale {
            let params = SetLocaleOverrideParams { locale: Some(locale.clone()) };
            handle.cdp("set the locale", handle.page()?.execute(params)).await?;
        }
        handle.ended();
        Ok(handle)
    }

    /// An operation on the page starts; [`SessionPage::ended`] when it is done.
    pub(super) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
    }

    /// An operation on the page ran to its end (whatever its result).
    pub(super) fn ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// The URL last seen, for audit records.
    pub fn known_url(&self) -> String {
        self.url.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn remember(&self, url: &str) {
        *self.url.lock().unwrap_or_else(PoisonError::into_inner) = url.to_owned();
    }

    fn page(&self) -> Result<&Page> {
        self.page.as_ref().ok_or_else(|| Error::internal("the page was already closed"))
    }

    /// Take a stale page back to `about:blank` (a no-op on any other).
    pub async fn settle(&self) -> Result<()> {
        if self.stale.load(Ordering::Acquire) {
            self.cdp("clear the page", self.page()?.execute(NavigateParams::new("about:blank"))).await?;
            self.stale.store(false, Ordering::Release);
            self.remember("about:blank");
        }
        Ok(())
    }

    /// Run one CDP exchange under [`OP_TIMEOUT`], mapping its failure.
    async fn cdp<T>(&self, what: &str, fut: impl Future<Output = chromiumoxide::Result<T>>) -> Result<T> {
        match tokio::time::timeout(OP_TIMEOUT, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.session.context().failure(what, e)),
            Err(_) => Err(self.session.context().check_alive().err().unwrap_or_else(|| {
                Error::new(ErrorCode::Timeout, format!("the browser did not {what} within {} s", OP_TIMEOUT.as_secs()))
            })),
        }
    }

    /// Evaluate `expression` and return its JSON value (promises awaited).
    pub async fn evaluate_value(&self, expression: &str) -> Result<Value> {
        let params = EvaluateParams::builder()
            .expression(expression)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .map_err(|e| Error::internal(format!("evaluate parameters: {e}")))?;
        let reply = self.cdp("evaluate JavaScript", self.page()?.execute(params)).await?.result;
        if let Some(exception) = reply.exception_details {
            let text = exception.exception.as_ref().and_then(|e| e.description.clone()).unwrap_or(exception.text);
            return Err(Error::invalid_input(format!("the script threw: {}", first_line(&text))));
        }
        Ok(reply.result.value.unwrap_or(Value::Null))
    }

    /// Run one of [`scripts`] and unwrap its `{ok}` / `{err}` answer.
    async fn run(&self, script: &str) -> Result<Value> {
        let mut answer = self.evaluate_value(script).await?;
        if let Some(ok) = answer.get_mut("ok") {
            return Ok(ok.take());
        }
        let message = answer["message"].as_str().unwrap_or("the page script failed").to_owned();
        Err(match answer["err"].as_str() {
            Some("syntax") | Some("invalid") => Error::invalid_input(message),
            Some("not_found") => Error::not_found(message),
            _ => Error::internal(message),
        })
    }

    /// Navigate to `url` (already checked to be http(s) and past the guard)
    /// and wait for `load`, then network idle and `selector` when asked.
    pub async fn navigate(
        &self,
        url: &url::Url,
        network_idle: bool,
        selector: Option<&str>,
        timeout: Duration,
    ) -> Result<Landed> {
        let deadline = Instant::now() + timeout;
        let page = self.page()?;
        self.remember(url.as_str());
        let mut lifecycle = match network_idle {
            true => Some(self.cdp("watch page events", page.event_listener::<EventLifecycleEvent>()).await?),
            false => None,
        };
        // chromiumoxide answers once the page has loaded, which a page
        // opening windows in a loop delays past any deadline.
        let went = tokio::select! {
            went = tokio::time::timeout_at(deadline.into(), page.execute(NavigateParams::new(url.as_str()))) => went,
            overflow = self.session.context().overflowed() => return Err(overflow),
        };
        let reply = match went {
            Ok(Ok(reply)) => reply.result,
            Ok(Err(e)) => return Err(self.session.context().failure("navigate", e)),
            Err(_) => return Err(self.timed_out(&format!("loading {url}"), timeout)),
        };
        if let Some(net_error) = reply.error_text.filter(|t| !t.is_empty()) {
            return Err(self.session.navigation_error(url, &net_error));
        }
        if let Some(events) = lifecycle.as_mut() {
            let idle = async {
                let mut started = false;
                while let Some(event) = events.next().await {
                    started |= event.name == "init" || event.name == "load";
                    if started && event.name == "networkIdle" {
                        break;
                    }
                }
            };
            if tokio::time::timeout_at(deadline.into(), idle).await.is_err() {
                return Err(self.timed_out("the network to go idle", timeout));
            }
        }
        self.fresh_document(reply.loader_id.as_ref()).await?;
        if let Some(selector) = selector {
            self.wait(&scripts::exists(selector), deadline, timeout, &format!("`{selector}` to appear")).await?;
        }
        let landed = self.location().await?;
        self.stale.store(false, Ordering::Release);
        // A document the proxy refused (a redirect to a private address, say)
        // is the proxy's 403 page at the refused URL.
        match self.session.refusal_at(&landed.url) {
            Some(refused) => Err(refused),
            None => Ok(landed),
        }
    }

    /// The current URL and title.
    pub async fn location(&self) -> Result<Landed> {
        let v = self.run(scripts::LOCATION).await?;
        let url = v["url"].as_str().unwrap_or_default().to_owned();
        self.remember(&url);
        let status = v["status"].as_u64().and_then(|s| u16::try_from(s).ok()).filter(|s| *s > 0);
        Ok(Landed { url, status, title: v["title"].as_str().unwrap_or_default().to_owned() })
    }

    /// Poll `script` until it answers `true` or `deadline` passes, or the
    /// page opens more windows than the session may (`resource_exhausted`). Errors
    /// while the page navigates (its context is replaced) count as "not yet";
    /// selector syntax errors end the wait at once.
    pub async fn wait(&self, script: &str, deadline: Instant, timeout: Duration, what: &str) -> Result<()> {
        loop {
            if let Some(overflow) = self.session.context().page_overflow() {
                return Err(overflow);
            }
            match self.run(script).await {
                Ok(Value::Bool(true)) => return Ok(()),
                Err(e) if e.code == ErrorCode::InvalidInput && e.message.contains("CSS selector") => return Err(e),
                Err(e) if e.code == ErrorCode::SessionUnavailable => return Err(e),
                _ => {}
            }
            if Instant::now() + POLL >= deadline {
                return Err(self.timed_out(what, timeout));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn timed_out(&self, what: &str, timeout: Duration) -> Error {
        self.session.context().check_alive().err().unwrap_or_else(|| {
            Error::new(
                ErrorCode::Timeout,
                format!("waited {} ms for {what}; raise `timeout_ms` or check the page", timeout.as_millis()),
            )
        })
    }

    /// The page's HTML.
    pub async fn content(&self) -> Result<String> {
        Ok(self.run(scripts::CONTENT).await?.as_str().unwrap_or_default().to_owned())
    }

    /// The page's visible text.
    pub async fn text(&self) -> Result<String> {
        Ok(self.run(scripts::TEXT).await?.as_str().unwrap_or_default().to_owned())
    }

    /// Texts or attribute values of every match.
    pub async fn query(&self, selector: &str, attribute: Option<&str>) -> Result<Vec<String>> {
        let v = self.run(&scripts::query(selector, attribute)).await?;
        Ok(v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default())
    }

    /// A trusted mouse click at the centre of the first match.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let at = self.run(&scripts::click_point(selector)).await?;
        let point = Point { x: at["x"].as_f64().unwrap_or_default(), y: at["y"].as_f64().unwrap_or_default() };
        self.cdp("click", self.page()?.click(point)).await?;
        Ok(())
    }

    /// Focus the first match and insert `text` at its caret.
    pub async fn type_text(&self, selector: &str, text: &str) -> Result<()> {
        self.run(&scripts::focus(selector)).await?;
        self.cdp("type", self.page()?.execute(InsertTextParams::new(text))).await?;
        Ok(())
    }

    /// Press and release `key` on the focused element.
    pub async fn press(&self, key: &str) -> Result<()> {
        let def = chromiumoxide::keys::get_key_definition(key).ok_or_else(|| {
            Error::invalid_input(format!("`{key}` is not a key name; use names like `Enter`, `Tab`, `ArrowDown`, `a`"))
        })?;
        let text = def.text.or((def.key.chars().count() == 1).then_some(def.key));
        let down = if text.is_some() { DispatchKeyEventType::KeyDown } else { DispatchKeyEventType::RawKeyDown };
        for kind in [down, DispatchKeyEventType::KeyUp] {
            let mut event = DispatchKeyEventParams::builder()
                .r#type(kind.clone())
                .key(def.key)
                .code(def.code)
                .windows_virtual_key_code(def.key_code)
                .native_virtual_key_code(def.key_code);
            if let (Some(t), false) = (text, kind == DispatchKeyEventType::KeyUp) {
                event = event.text(t);
            }
            let event = event.build().map_err(|e| Error::internal(format!("key event: {e}")))?;
            self.cdp("press a key", self.page()?.execute(event)).await?;
        }
        Ok(())
    }

    /// Choose an option of a `<select>` (a sealed page's error does not
    /// list the options).
    pub async fn select(&self, selector: &str, value: &str) -> Result<()> {
        self.run(&scripts::select(selector, value, self.sealed_by().is_none())).await.map(drop)
    }

    /// Scroll an element into view or the page by a delta.
    pub async fn scroll(&self, selector: Option<&str>, dx: i32, dy: i32) -> Result<()> {
        self.run(&scripts::scroll(selector, dx, dy)).await.map(drop)
    }

    /// Set the viewport (CSS pixels, device scale factor 1) at the pack's
    /// request: the tab then no longer has the session's viewport.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.resized.store(true, Ordering::Release);
        self.apply_viewport(width, height).await
    }

    async fn apply_viewport(&self, width: u32, height: u32) -> Result<()> {
        if !(100..=7680).contains(&width) || !(100..=4320).contains(&height) {
            return Err(Error::invalid_input(format!(
                "`viewport` must be 100-7680 wide and 100-4320 high, got {width}x{height}"
            )));
        }
        let params = SetDeviceMetricsOverrideParams::new(i64::from(width), i64::from(height), 1.0, false);
        self.cdp("set the viewport", self.page()?.execute(params)).await.map(drop)
    }

    /// The chromiumoxide page, for the screenshot and PDF module.
    pub(super) fn cdp_page(&self) -> Result<&Page> {
        self.page()
    }

    /// Run a CDP exchange for a sibling module with this page's mapping.
    pub(super) async fn exchange<T>(
        &self,
        what: &str,
        fut: impl Future<Output = chromiumoxide::Result<T>>,
    ) -> Result<T> {
        self.cdp(what, fut).await
    }

    /// Run a script for a sibling module.
    pub(super) async fn run_script(&self, script: &str) -> Result<Value> {
        self.run(script).await
    }
}

impl Drop for SessionPage {
    /// The guest dropped the page, or the call ended without dropping it:
    /// the session keeps the tab for its next call, unless the pack resized
    /// it or it holds a credential. A page cut off mid-operation (the call
    /// was cancelled or ran out of time) is closed before the call's record
    /// instead.
    fn drop(&mut self) {
        let reusable = !self.resized.load(Ordering::Acquire) && !self.is_sealed();
        if let Some(page) = self.page.take() {
            if self.in_flight.load(Ordering::Acquire) > 0 {
                self.session.discard(page, &self.cleanup);
            } else {
                self.session.put_away(page, reusable);
            }
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
