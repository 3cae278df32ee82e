//! A session that is open in this process: its directories, its task
//! count, and what must be released when it closes.

use super::SessionSpec;
use futures::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

/// Something a capability attached to a session (a browser context, a
/// process) that must be released when the session closes.
pub type CloseHook = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// An open session.
pub struct LiveSession {
    pub id: String,
    /// The token subject that owns it.
    pub owner: String,
    pub spec: SessionSpec,
    /// Made for one call; closed when the call ends.
    pub ephemeral: bool,
    dir: PathBuf,
    expires_at: Instant,
    tasks: AtomicU32,
    closed: AtomicBool,
    hooks: Mutex<Vec<CloseHook>>,
}

impl LiveSession {
    pub(super) fn new(id: String, owner: String, spec: SessionSpec, ephemeral: bool, dir: PathBuf) -> Self {
        let expires_at = Instant::now() + spec.timeout();
        LiveSession {
            id,
            owner,
            spec,
            ephemeral,
            dir,
            expires_at,
            tasks: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
        }
    }

    /// The workspace packs see through the `fs`, `git` and `exec`
    /// capabilities; every path they use is confined to it.
    pub fn workspace(&self) -> PathBuf {
        self.dir.join("workspace")
    }

    /// A directory only the host uses (git metadata, known-hosts files):
    /// never reachable through the workspace.
    pub fn private_dir(&self) -> PathBuf {
        self.dir.join("private")
    }

    /// The session's root directory (holds `workspace/` and `private/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the session's lifetime has run out.
    pub fn is_expired(&self) -> bool {
        Instant::now() >= self.expires_at
    }

    /// Whether it has been closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Calls made in it so far.
    pub fn tasks(&self) -> u32 {
        self.tasks.load(Ordering::Acquire)
    }

    /// Count one more call; `false` when that would pass `max_tasks`.
    pub(super) fn take_task(&self) -> bool {
        let limit = self.spec.max_tasks.unwrap_or(u32::MAX);
        self.tasks.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).is_ok()
    }

    /// Register something to release when the session closes. If it is
    /// already closed, the hook runs at once.
    pub async fn on_close(&self, hook: CloseHook) {
        if self.is_closed() {
            hook().await;
            return;
        }
        self.lock_hooks().push(hook);
    }

    /// Mark closed and run the hooks, newest first. Runs once.
    pub(super) async fn shut(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let hooks = std::mem::take(&mut *self.lock_hooks());
        for hook in hooks.into_iter().rev() {
            hook().await;
        }
    }

    fn lock_hooks(&self) -> std::sync::MutexGuard<'_, Vec<CloseHook>> {
        self.hooks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSession")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("ephemeral", &self.ephemeral)
            .field("tasks", &self.tasks())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
