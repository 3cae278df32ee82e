//! One browser host started by the runtime and connected over CDP, with the
//! task that keeps chromiumoxide's handler polled and notices when the
//! browser dies (its connection ends or the runtime reports it exited).

use crate::sessions::runtime::{Health, InstanceId, SessionRuntime};
use crate::{Error, ErrorCode, Result};
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Handler};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How often the supervisor asks the runtime whether the browser still runs
/// (a dead connection is noticed at once; this catches a hung one).
const HEALTH_PERIOD: Duration = Duration::from_secs(2);
/// chromiumoxide evicts CDP commands older than this; every call of ours
/// has its own, shorter deadline.
const CDP_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// A connected browser host in the pool.
pub struct PooledBrowser {
    /// The runtime's id for it.
    pub id: InstanceId,
    cdp: Browser,
    alive: AtomicBool,
    died: watch::Receiver<Option<String>>,
    /// Tells the supervisor to let go of the connection.
    release: Notify,
    /// Browser contexts (sessions) currently on it.
    pub(super) contexts: AtomicUsize,
    /// Each context's open pages, held to its cap.
    pub(super) pages: super::pages::PageLimits,
}

impl PooledBrowser {
    /// Connect to instance `id` of `runtime` and start supervising it.
    /// `on_death` runs once, when the browser is found dead.
    pub(super) async fn connect(
        runtime: Arc<dyn SessionRuntime>,
        id: InstanceId,
        on_death: impl FnOnce(Arc<PooledBrowser>, String) + Send + 'static,
    ) -> Result<Arc<PooledBrowser>> {
        let endpoint = runtime.connect(&id).await?;
        let config = HandlerConfig {
            // chromiumoxide would tell every page to ignore certificate errors.
            ignore_https_errors: false,
            viewport: None,
            request_timeout: CDP_REQUEST_TIMEOUT,
            ..HandlerConfig::default()
        };
        let (cdp, handler) = Browser::connect_with_config(endpoint.cdp_url, config).await.map_err(|e| {
            Error::new(ErrorCode::SessionUnavailable, format!("cannot connect to the browser's DevTools endpoint: {e}"))
        })?;
        let (died_tx, died) = watch::channel(None);
        let browser = Arc::new(PooledBrowser {
            id,
            cdp,
            alive: AtomicBool::new(true),
            died,
            release: Notify::new(),
            contexts: AtomicUsize::new(0),
            pages: super::pages::PageLimits::default(),
        });
        tokio::spawn(super::pages::watch(browser.clone()));
        let watched = browser.clone();
        tokio::spawn(async move {
            let mut handler = handler;
            let reason = supervise(&mut handler, runtime, &watched).await;
            watched.alive.store(false, Ordering::Release);
            // Dropping the handler fails the commands still in flight; by
            // now they see the browser gone and take that for the cause.
            drop(handler);
            let _ = died_tx.send(Some(reason.clone()));
            on_death(watched, reason);
        });
        Ok(browser)
    }

    /// The CDP client.
    pub fn cdp(&self) -> &Browser {
        &self.cdp
    }

    /// Whether the browser still answers.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Stop watching the browser and drop the DevTools connection, before
    /// the browser is stopped on purpose (at shutdown): chromiumoxide logs
    /// an error for a connection the browser drops under it, and a stop is
    /// no error.
    pub(super) async fn disconnect(&self) {
        self.release.notify_one();
        let mut died = self.died.clone();
        let _ = tokio::time::timeout(Duration::from_secs(2), died.wait_for(Option::is_some)).await;
    }

    /// Why it died, once it has.
    pub fn death(&self) -> Option<String> {
        self.died.borrow().clone()
    }

    /// The error calls get once the browser is gone.
    pub fn unavailable(&self) -> Error {
        let why = self.death().unwrap_or_else(|| "it stopped answering".to_owned());
        Error::new(
            ErrorCode::SessionUnavailable,
            format!(
                "the session's browser crashed ({why}); its pages and cookies are gone; \
                 retry the call to continue in a fresh browser context"
            ),
        )
    }
}

/// Poll the handler until the connection is lost, the runtime says the
/// browser exited or the pool lets it go; returns why it ended.
async fn supervise(handler: &mut Handler, runtime: Arc<dyn SessionRuntime>, browser: &PooledBrowser) -> String {
    let id = &browser.id;
    let mut health = tokio::time::interval(HEALTH_PERIOD);
    loop {
        tokio::select! {
            _ = browser.release.notified() => return "Helmdeck stopped it".to_owned(),
            event = handler.next() => match event {
                None => return "its DevTools connection closed".to_owned(),
                Some(Err(chromiumoxide::error::CdpError::Ws(e))) => return format!("its DevTools connection broke: {e}"),
                Some(Err(e)) => tracing::debug!(browser = %id, error = %e, "CDP handler error"),
                Some(Ok(())) => {}
            },
            _ = health.tick() => {
                if let Health::Exited { reason } = runtime.health(id).await {
                    return reason;
                }
            }
        }
    }
}
