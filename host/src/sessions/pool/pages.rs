//! How many pages a session's browser context may have open at once. A page
//! that opens windows in a loop (`window.open` a thousand times) would
//! otherwise fill the browser process shared with other sessions with tabs
//! and renderers. One watcher per browser follows the browser's own target
//! events: a page target beyond its context's cap is closed as soon as it
//! appears, the script of the page that opened it is stopped, and the
//! context remembers the overflow so the call running in it is told
//! (`resource_exhausted`).

use super::PooledBrowser;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::target::{
    CloseTargetParams, EventTargetCreated, EventTargetDestroyed, TargetId,
};
use chromiumoxide::cdp::js_protocol::runtime::TerminateExecutionParams;
use futures::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Deadline for closing a target or stopping a page's script.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One context's pages.
#[derive(Debug)]
pub struct PageLimit {
    cap: usize,
    open: Mutex<HashSet<TargetId>>,
    /// Pages closed for going over the cap, and how many were reported.
    closed: AtomicUsize,
    reported: AtomicUsize,
    /// Woken at each page closed over the cap.
    overflow: tokio::sync::Notify,
}

impl PageLimit {
    /// The cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// How many of the context's pages are open.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// How many pages were closed for going over the cap since the last
    /// call of this (none: `None`).
    pub fn take_overflow(&self) -> Option<usize> {
        let closed = self.closed.load(Ordering::Acquire);
        let before = self.reported.swap(closed, Ordering::AcqRel);
        (closed > before).then(|| closed - before)
    }

    /// Resolve once a page was closed over the cap that no
    /// [`PageLimit::take_overflow`] has reported yet.
    pub async fn overflowed(&self) {
        loop {
            let woken = self.overflow.notified();
            if self.closed.load(Ordering::Acquire) > self.reported.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }
}

/// The caps of every context on one browser.
#[derive(Debug, Default)]
pub struct PageLimits {
    contexts: Mutex<HashMap<BrowserContextId, Arc<PageLimit>>>,
    /// Which context each open page is in.
    owners: Mutex<HashMap<TargetId, BrowserContextId>>,
}

impl PageLimits {
    /// Start counting the pages of context `id`, at most `cap` open at once.
    pub fn register(&self, id: BrowserContextId, cap: usize) -> Arc<PageLimit> {
        let limit = Arc::new(PageLimit {
            cap: cap.max(1),
            open: Mutex::default(),
            closed: AtomicUsize::new(0),
            reported: AtomicUsize::new(0),
            overflow: tokio::sync::Notify::new(),
        });
        self.contexts.lock().unwrap_or_else(PoisonError::into_inner).insert(id, limit.clone());
        limit
    }

    /// Stop counting context `id` (it was disposed).
    pub fn forget(&self, id: &BrowserContextId) {
        self.contexts.lock().unwrap_or_else(PoisonError::into_inner).remove(id);
        self.owners.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, owner| owner != id);
    }

    /// Count a page target; `false` when it is over its context's cap.
    fn admit(&self, target: &TargetId, context: &BrowserContextId) -> bool {
        let Some(limit) = self.contexts.lock().unwrap_or_else(PoisonError::into_inner).get(context).cloned() else {
            return true;
        };
        let mut open = limit.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.len() >= limit.cap {
            limit.closed.fetch_add(1, Ordering::AcqRel);
            limit.overflow.notify_waiters();
            return false;
        }
        open.insert(target.clone());
        self.owners.lock().unwrap_or_else(PoisonError::into_inner).insert(target.clone(), context.clone());
        true
    }

    fn gone(&self, target: &TargetId) {
        let Some(context) = self.owners.lock().unwrap_or_else(PoisonError::into_inner).remove(target) else { return };
        if let Some(limit) = self.contexts.lock().unwrap_or_else(PoisonError::into_inner).get(&context) {
            limit.open.lock().unwrap_or_else(PoisonError::into_inner).remove(target);
        }
    }
}

/// Follow `browser`'s target events until its connection ends, holding
/// every context registered in its [`PageLimits`] to its cap.
pub(super) async fn watch(browser: Arc<PooledBrowser>) {
    let (cdp, limits) = (browser.cdp(), &browser.pages);
    let (Ok(mut created), Ok(mut destroyed)) =
        (cdp.event_listener::<EventTargetCreated>().await, cdp.event_listener::<EventTargetDestroyed>().await)
    else {
        tracing::warn!("cannot follow the browser's pages: the session page cap is not enforced");
        return;
    };
    let mut stopped: HashSet<TargetId> = HashSet::new();
    loop {
        tokio::select! {
            event = created.next() => {
                let Some(event) = event else { return };
                let info = &event.target_info;
                let Some(context) = info.browser_context_id.as_ref().filter(|_| info.r#type == "page") else {
                    continue;
                };
                if limits.admit(&info.target_id, context) {
                    continue;
                }
                let close = cdp.execute(CloseTargetParams::new(info.target_id.clone()));
                if !matches!(tokio::time::timeout(CLOSE_TIMEOUT, close).await, Ok(Ok(_))) {
                    tracing::debug!(target = ?info.target_id, "could not close a page over its session's cap");
                }
                // A script opening windows in a loop would run on: stop it, once per opener.
                if let Some(opener) = info.opener_id.clone().filter(|o| stopped.insert(o.clone())) {
                    let browser = browser.clone();
                    tokio::spawn(async move {
                        if let Ok(Ok(page)) = tokio::time::timeout(CLOSE_TIMEOUT, browser.cdp().get_page(opener)).await {
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, page.execute(TerminateExecutionParams::default())).await;
                        }
                    });
                }
            }
            event = destroyed.next() => {
                let Some(event) = event else { return };
                stopped.remove(&event.target_id);
                limits.gone(&event.target_id);
            }
        }
    }
}
