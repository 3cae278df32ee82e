//! What the git capability keeps in the host's memory, out of every
//! session's reach: where each checkout was cloned from, and the bounds on
//! the blocking threads git work may hold.
//!
//! The origin of a checkout decides where a credential goes, so it is not
//! kept in any file: a session that got write access to its private git
//! directory (or to anything else on disk) still cannot point a push
//! elsewhere. Sessions do not survive a restart, so memory is enough; a
//! session's entries go when it closes.

use super::repo::Destinations;
use crate::sessions::LiveSession;
use crate::{Error, ErrorCode, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Clones and pushes holding a blocking thread at once (each may wait on a
/// slow remote until its deadline).
const NETWORK_SLOTS: usize = 32;
/// Local operations (status, diff, log, commit, init) holding a blocking
/// thread at once.
const LOCAL_SLOTS: usize = 64;
/// The retry hint when every slot of a kind is taken.
const RETRY_AFTER_MS: u64 = 2_000;

/// A checkout's remote as recorded by the host at clone time.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The normalised remote URL: every push goes here and nowhere else.
    pub url: String,
    /// The vault credential used to clone, reused to push.
    pub credential: Option<String>,
    /// Every remote and URL-rewriting entry of the checkout's git
    /// configuration right after the clone; a push refuses a configuration
    /// that names anything else.
    pub destinations: Destinations,
}

/// Which bound a piece of blocking git work counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    Network,
    Local,
}

/// Per-process git state, shared by every call.
pub struct GitState {
    /// Session id → git directory → origin.
    origins: Mutex<HashMap<String, HashMap<PathBuf, Origin>>>,
    network: Arc<Semaphore>,
    local: Arc<Semaphore>,
}

impl Default for GitState {
    fn default() -> Self {
        GitState {
            origins: Mutex::default(),
            network: Arc::new(Semaphore::new(NETWORK_SLOTS)),
            local: Arc::new(Semaphore::new(LOCAL_SLOTS)),
        }
    }
}

impl GitState {
    /// Record the origin of the checkout whose git directory is `git_dir`;
    /// forgotten when `session` closes.
    pub async fn record(self: &Arc<Self>, session: &LiveSession, git_dir: &Path, origin: Origin) {
        let first = {
            let mut origins = self.lock();
            let first = !origins.contains_key(&session.id);
            origins.entry(session.id.clone()).or_default().insert(git_dir.to_owned(), origin);
            first
        };
        if first {
            let (state, id) = (Arc::clone(self), session.id.clone());
            session.on_close(Box::new(move || Box::pin(async move { state.forget(&id) }))).await;
        }
    }

    /// The recorded origin of the checkout at `git_dir` in `session`.
    pub fn origin(&self, session: &str, git_dir: &Path) -> Option<Origin> {
        self.lock().get(session).and_then(|checkouts| checkouts.get(git_dir)).cloned()
    }

    /// A slot for one piece of blocking work of `kind`; `rate_limited` when
    /// all are taken. Move the permit into the blocking closure: the slot
    /// is then held for as long as the thread is, even if the call that
    /// started it was cancelled.
    pub fn slot(&self, kind: Work) -> Result<OwnedSemaphorePermit> {
        let (gate, what) = match kind {
            Work::Network => (&self.network, "clones and pushes"),
            Work::Local => (&self.local, "local git operations"),
        };
        Arc::clone(gate).try_acquire_owned().map_err(|_| {
            Error::new(
                ErrorCode::RateLimited,
                format!("the server is running as many {what} as it allows at once; try again shortly"),
            )
            .with_retry_after_ms(RETRY_AFTER_MS)
        })
    }

    fn forget(&self, session: &str) {
        self.lock().remove(session);
    }

    /// Each update is one insert or remove, so a poisoned map is still consistent.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<PathBuf, Origin>>> {
        self.origins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
