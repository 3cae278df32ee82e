//! The warm pool of session browsers: a few browser hosts kept running by a
//! [`SessionRuntime`], and one isolated browser context (cookies, storage,
//! cache) per session on the least loaded of them. A browser that dies is
//! dropped from the pool and replaced; contexts on it report
//! `session_unavailable`. Admission is bounded: past `max_contexts` a
//! session waits briefly, then gets `rate_limited`.

mod browser;
mod context;
mod pages;

pub use browser::PooledBrowser;
pub use context::BrowserContext;
pub use pages::PageLimit;

use super::runtime::{InstanceId, RuntimeSpec, SessionRuntime};
use crate::{Error, ErrorCode, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the pool is sized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Browsers kept running even when no session uses them.
    pub warm: usize,
    /// Most browsers running at once.
    pub max_browsers: usize,
    /// Sessions per browser before another browser is started.
    pub contexts_per_browser: usize,
    /// Most sessions with a browser context at once.
    pub max_contexts: usize,
    /// How long a session waits for a free slot before `rate_limited`.
    pub admission_wait: Duration,
    /// Most pages (tabs and the windows they open) one session may have
    /// open at once; more are closed as they appear.
    pub max_pages: usize,
}

/// Default [`PoolConfig::max_pages`].
pub const DEFAULT_MAX_PAGES: usize = 20;

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            warm: 1,
            max_browsers: 4,
            contexts_per_browser: 16,
            max_contexts: 64,
            admission_wait: Duration::from_secs(5),
            max_pages: DEFAULT_MAX_PAGES,
        }
    }
}

/// What the pool holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Running browsers.
    pub browsers: usize,
    /// Browser contexts (sessions) open on them.
    pub contexts: usize,
    /// Browsers found dead since start.
    pub crashes: u64,
}

/// The warm pool. Cheap to clone.
#[derive(Clone)]
pub struct BrowserPool {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Arc<dyn SessionRuntime>,
    config: PoolConfig,
    browsers: Mutex<Vec<Arc<PooledBrowser>>>,
    launching: tokio::sync::Mutex<()>,
    admission: Arc<Semaphore>,
    crashes: AtomicU64,
    closing: AtomicBool,
}

impl BrowserPool {
    /// A pool over `runtime`; nothing starts until [`BrowserPool::warm_up`]
    /// or the first session needs a browser.
    pub fn new(runtime: Arc<dyn SessionRuntime>, config: PoolConfig) -> BrowserPool {
        let admission = Arc::new(Semaphore::new(config.max_contexts.max(1)));
        BrowserPool {
            inner: Arc::new(Inner {
                runtime,
                config,
                browsers: Mutex::new(Vec::new()),
                launching: tokio::sync::Mutex::new(()),
                admission,
                crashes: AtomicU64::new(0),
                closing: AtomicBool::new(false),
            }),
        }
    }

    /// The runtime browsers run on.
    pub fn runtime(&self) -> &Arc<dyn SessionRuntime> {
        &self.inner.runtime
    }

    /// Start browsers until `warm` are running.
    pub async fn warm_up(&self) -> Result<()> {
        while self.live().len() < self.inner.config.warm {
            let _launch = self.inner.launching.lock().await;
            if self.live().len() >= self.inner.config.warm {
                break;
            }
            self.launch().await?;
        }
        Ok(())
    }

    /// Stop browsers a previous process left behind; returns how many.
    pub async fn reap_orphans(&self) -> Result<usize> {
        self.inner.runtime.reap_orphans().await
    }

    /// A fresh browser context whose traffic goes through the HTTP proxy at
    /// `proxy` (`http://127.0.0.1:PORT`), loopback included.
    pub async fn context(&self, proxy: &str) -> Result<BrowserContext> {
        let wait = self.inner.config.admission_wait;
        let permit = match tokio::time::timeout(wait, self.inner.admission.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(Error::new(
                    ErrorCode::RateLimited,
                    format!("all {} browser sessions are in use; retry shortly", self.inner.config.max_contexts),
                )
                .with_retry_after_ms(1000));
            }
        };
        let browser = self.browser_for_new_context().await?;
        BrowserContext::create(browser, proxy, permit, self.inner.config.max_pages).await
    }

    /// Counts for operators and benchmarks.
    pub fn stats(&self) -> PoolStats {
        let live = self.live();
        PoolStats {
            browsers: live.len(),
            contexts: live.iter().map(|b| b.contexts.load(Ordering::Acquire)).sum(),
            crashes: self.inner.crashes.load(Ordering::Acquire),
        }
    }

    /// The runtime ids of the running browsers.
    pub fn instances(&self) -> Vec<InstanceId> {
        self.live().iter().map(|b| b.id.clone()).collect()
    }

    /// Stop every browser (at shutdown).
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        let browsers = std::mem::take(&mut *self.lock());
        for browser in browsers {
            browser.disconnect().await;
            let _ = self.inner.runtime.terminate(&browser.id).await;
        }
    }

    /// The least loaded live browser with room, starting one if none has
    /// room and the pool may grow.
    async fn browser_for_new_context(&self) -> Result<Arc<PooledBrowser>> {
        let per = self.inner.config.contexts_per_browser.max(1);
        if let Some(b) = self.least_loaded(per) {
            return Ok(b);
        }
        let _launch = self.inner.launching.lock().await;
        if let Some(b) = self.least_loaded(per) {
            return Ok(b);
        }
        if self.live().len() >= self.inner.config.max_browsers.max(1) {
            // Full: share the least loaded browser rather than refuse.
            return self.least_loaded(usize::MAX).ok_or_else(|| Error::internal("the browser pool is empty"));
        }
        self.launch().await
    }

    fn least_loaded(&self, below: usize) -> Option<Arc<PooledBrowser>> {
        self.live()
            .into_iter()
            .filter(|b| b.contexts.load(Ordering::Acquire) < below)
            .min_by_key(|b| b.contexts.load(Ordering::Acquire))
    }

    /// Start one browser and add it to the pool. Callers hold `launching`.
    async fn launch(&self) -> Result<Arc<PooledBrowser>> {
        let runtime = self.inner.runtime.clone();
        let id = runtime.spawn(RuntimeSpec::default()).await?;
        let pool = Arc::downgrade(&self.inner);
        let connected = PooledBrowser::connect(runtime.clone(), id.clone(), move |dead, reason| {
            if let Some(inner) = pool.upgrade() {
                BrowserPool { inner }.bury(dead, &reason);
            }
        })
        .await;
        match connected {
            Ok(browser) => {
                self.lock().push(browser.clone());
                Ok(browser)
            }
            Err(e) => {
                let _ = runtime.terminate(&id).await;
                Err(e)
            }
        }
    }

    /// Drop a dead browser, free its resources, and start a replacement
    /// when the pool fell below its warm size. At shutdown the pool stops
    /// its browsers itself: nothing is reported then.
    fn bury(&self, dead: Arc<PooledBrowser>, reason: &str) {
        self.lock().retain(|b| !Arc::ptr_eq(b, &dead));
        if self.inner.closing.load(Ordering::Acquire) {
            return;
        }
        tracing::warn!(browser = %dead.id, %reason, "session browser died");
        self.inner.crashes.fetch_add(1, Ordering::AcqRel);
        let pool = self.clone();
        tokio::spawn(async move {
            if let Ok(log) = pool.inner.runtime.logs(&dead.id).await {
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                tracing::warn!(browser = %dead.id, last_output = ?tail, "the dead browser's last output");
            }
            let _ = pool.inner.runtime.terminate(&dead.id).await;
            if let Err(e) = pool.warm_up().await {
                tracing::warn!(error = %e, "could not replace a crashed session browser");
            }
        });
    }

    fn live(&self) -> Vec<Arc<PooledBrowser>> {
        self.lock().iter().filter(|b| b.is_alive()).cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<PooledBrowser>>> {
        self.inner.browsers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
