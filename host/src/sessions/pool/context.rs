//! One session's browser context: cookies, storage and cache of its own,
//! its traffic sent to the session's guarded proxy. Disposing it closes its
//! pages and frees its admission slot.

use super::PooledBrowser;
use super::pages::PageLimit;
use crate::{Error, ErrorCode, Result};
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::{
    BrowserContextId, SetDownloadBehaviorBehavior, SetDownloadBehaviorParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, CreateBrowserContextParams, CreateTargetParams, GetTargetsParams,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Deadline for creating or disposing a context or a page.
const CONTEXT_TIMEOUT: Duration = Duration::from_secs(15);

/// A browser context owned by one session.
pub struct BrowserContext {
    browser: Arc<PooledBrowser>,
    id: BrowserContextId,
    pages: Arc<PageLimit>,
    _permit: OwnedSemaphorePermit,
}

impl BrowserContext {
    /// Create a context on `browser` whose every request (loopback
    /// included: `<-loopback>` removes Chromium's implicit bypass) goes to
    /// the proxy at `proxy`, and which saves no downloads: a page must not
    /// make the browser write files on this machine. At most `max_pages`
    /// of its pages are open at once ([`super::pages`]).
    pub(super) async fn create(
        browser: Arc<PooledBrowser>,
        proxy: &str,
        permit: OwnedSemaphorePermit,
        max_pages: usize,
    ) -> Result<BrowserContext> {
        let params = CreateBrowserContextParams::builder()
            .dispose_on_detach(true)
            .proxy_server(proxy)
            .proxy_bypass_list("<-loopback>")
            .build();
        let created = tokio::time::timeout(CONTEXT_TIMEOUT, browser.cdp().create_browser_context(params)).await;
        let id = match created {
            Ok(Ok(id)) => id,
            Ok(Err(e)) if !browser.is_alive() => return Err(with_cause(browser.unavailable(), e)),
            Ok(Err(e)) => return Err(unavailable(format!("the browser refused a new context: {e}"))),
            Err(_) => return Err(unavailable("the browser did not create a context in time".to_owned())),
        };
        browser.contexts.fetch_add(1, Ordering::AcqRel);
        let pages = browser.pages.register(id.clone(), max_pages);
        let context = BrowserContext { browser, id, pages, _permit: permit };
        let no_downloads = SetDownloadBehaviorParams::builder()
            .behavior(SetDownloadBehaviorBehavior::Deny)
            .browser_context_id(context.id.clone())
            .build()
            .map_err(|e| Error::internal(format!("download parameters: {e}")))?;
        let refused = match tokio::time::timeout(CONTEXT_TIMEOUT, context.browser.cdp().execute(no_downloads)).await {
            Ok(Ok(_)) => return Ok(context),
            Ok(Err(e)) => context.failure("turn downloads off", e),
            Err(_) => unavailable("the browser did not turn downloads off in time".to_owned()),
        };
        context.dispose().await;
        Err(refused)
    }

    /// The `resource_exhausted` error for pages closed over the cap since
    /// this was last asked, if any were.
    pub fn page_overflow(&self) -> Option<Error> {
        let closed = self.pages.take_overflow()?;
        Some(Error::new(
            ErrorCode::ResourceExhausted,
            format!(
                "the page opened more windows than a session may have open (at most {} open pages); {closed} were closed as they appeared and the page's script was stopped",
                self.pages.cap()
            ),
        ))
    }

    /// Resolve with [`BrowserContext::page_overflow`]'s error once a page of
    /// this context was closed over its cap: a call racing this ends at
    /// once instead of waiting on a page busy opening windows.
    pub async fn overflowed(&self) -> Error {
        loop {
            self.pages.overflowed().await;
            if let Some(overflow) = self.page_overflow() {
                return overflow;
            }
        }
    }

    /// Open a blank page in this context (`resource_exhausted` when the
    /// session has as many open as it may).
    pub async fn new_page(&self) -> Result<Page> {
        self.check_alive()?;
        if self.pages.open() >= self.pages.cap() {
            return Err(Error::new(
                ErrorCode::ResourceExhausted,
                format!("the session has {} pages open, as many as it may; close some first", self.pages.cap()),
            ));
        }
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(self.id.clone())
            .build()
            .map_err(|e| Error::internal(format!("page parameters: {e}")))?;
        match tokio::time::timeout(CONTEXT_TIMEOUT, self.browser.cdp().new_page(params)).await {
            Ok(Ok(page)) => Ok(page),
            Ok(Err(e)) => Err(self.failure("open a page", e)),
            Err(_) => Err(Error::new(ErrorCode::Timeout, "the browser did not open a page in time; retry the call")),
        }
    }

    /// Close the windows this context's pages opened (`window.open`, links
    /// with `target=_blank`, `noopener` or not): the pages that have an
    /// opener. Helmdeck opens its own pages through CDP, which gives them
    /// none, so a page a call is opening meanwhile is never taken for one.
    /// Returns how many were closed.
    pub async fn close_popups(&self) -> usize {
        let cdp = self.browser.cdp();
        let Ok(Ok(targets)) = tokio::time::timeout(CONTEXT_TIMEOUT, cdp.execute(GetTargetsParams::default())).await
        else {
            return 0;
        };
        let mut closed = 0;
        for target in targets.result.target_infos {
            let ours = target.browser_context_id.as_ref() == Some(&self.id);
            if ours && target.r#type == "page" && target.opener_id.is_some() {
                let close = cdp.execute(CloseTargetParams::new(target.target_id));
                closed += usize::from(matches!(tokio::time::timeout(CONTEXT_TIMEOUT, close).await, Ok(Ok(_))));
            }
        }
        closed
    }

    /// Whether the browser under this context still runs.
    pub fn is_alive(&self) -> bool {
        self.browser.is_alive()
    }

    /// `session_unavailable` when the browser under this context died.
    pub fn check_alive(&self) -> Result<()> {
        if self.browser.is_alive() { Ok(()) } else { Err(self.browser.unavailable()) }
    }

    /// Map a CDP failure: a dead browser is `session_unavailable`, a command
    /// chromiumoxide gave up on is `timeout`, anything else is reported as
    /// failing to `what`.
    pub fn failure(&self, what: &str, e: chromiumoxide::error::CdpError) -> Error {
        match e {
            _ if !self.browser.is_alive() => with_cause(self.browser.unavailable(), e),
            // chromiumoxide gives up on a command after its own deadline.
            chromiumoxide::error::CdpError::Timeout => Error::new(
                ErrorCode::Timeout,
                format!("the browser did not {what} in time; the page may be busy (a long-running script)"),
            ),
            e => Error::internal(format!("the browser could not {what}: {e}")),
        }
    }

    /// Close the context and its pages. A dead browser has nothing to close.
    pub async fn dispose(&self) {
        if self.browser.is_alive() {
            let disposal = self.browser.cdp().dispose_browser_context(self.id.clone());
            match tokio::time::timeout(CONTEXT_TIMEOUT, disposal).await {
                Ok(Ok(())) => {}
                // The browser stopped meanwhile (a crash, or shutdown): the context went with it.
                Ok(Err(_)) if !self.browser.is_alive() => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "could not dispose a browser context"),
                Err(_) => tracing::warn!("disposing a browser context timed out"),
            }
        }
    }
}

impl Drop for BrowserContext {
    fn drop(&mut self) {
        self.browser.contexts.fetch_sub(1, Ordering::AcqRel);
        self.browser.pages.forget(&self.id);
    }
}

fn unavailable(message: String) -> Error {
    Error::new(ErrorCode::SessionUnavailable, message)
}

fn with_cause(error: Error, cause: impl std::fmt::Display) -> Error {
    let message = format!("{} (cause: {cause})", error.message);
    Error { message, ..error }
}
