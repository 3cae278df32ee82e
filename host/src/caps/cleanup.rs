//! What a call still owes when it ends, however it ends: the work its
//! capability calls started that cannot be stopped from outside (blocking
//! tasks, the killing of a command's processes) and the audit records of
//! capability calls it was still in.
//!
//! A pack call can stop in the middle of a capability call: its caller
//! cancels it (MCP `notifications/cancelled`, a REST client that went
//! away) or its wall-clock limit runs out. The engine then drops the pack's
//! future, and with it the capability call's future, at whatever await it
//! had reached. Dropping cannot run async code, so a capability that must
//! clean up (kill a process tree) hands that work to the call's
//! [`CallCleanup`], and a [`super::CapabilityAudit`] dropped before it was
//! written hands over its record. The dispatcher, once the pack has
//! stopped, calls [`CallCleanup::finish`]: it waits for all that work and
//! hands back those records; the dispatcher writes them, and only then the
//! call's API record. So every capability call leaves a record, and nothing of a call
//! runs on after its API record says it ended.

use crate::audit::{AuditEvent, Outcome};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// The loose ends of one call, shared by its capability calls (through
/// [`super::CallInfo`]) and its dispatcher. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CallCleanup {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Work the call's end waits for.
    tasks: TaskTracker,
    /// Records of capability calls cut off before they wrote them, written
    /// once `tasks` is done.
    unfinished: Mutex<Vec<AuditEvent>>,
}

impl CallCleanup {
    /// Run `work` on the blocking pool as part of this call: the call ends
    /// (and writes its API record) only after `work` has returned, even when
    /// the capability call that started it was dropped meanwhile (a blocking
    /// task cannot be stopped from outside).
    ///
    /// # Panics
    /// Outside a Tokio runtime, like [`tokio::task::spawn_blocking`].
    pub fn spawn_blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
        self.inner.tasks.spawn_blocking(work)
    }

    /// Start `work` (cleanup of a capability call that is being dropped) on
    /// the blocking pool without waiting for it; the call's end waits for
    /// it. Runs it right here when no runtime is left to run it on (the
    /// process is shutting down), since cleanup skipped is worse than a
    /// blocked thread. For `Drop` implementations.
    pub fn defer_blocking(&self, work: impl FnOnce() + Send + 'static) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(self.inner.tasks.spawn_blocking_on(work, &runtime)),
            Err(_) => work(),
        }
    }

    /// Start `work` (async cleanup of something a cut-off capability call
    /// left, such as a browser tab) without waiting for it; the call's end
    /// waits for it. Skipped when no runtime is left to run it on (the
    /// process is shutting down and takes what it started with it). For
    /// `Drop` implementations.
    pub fn defer(&self, work: impl Future<Output = ()> + Send + 'static) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            drop(self.inner.tasks.spawn_on(work, &runtime));
        }
    }

    /// Keep the record of a capability call that was cut off; its outcome
    /// is set by [`CallCleanup::finish`].
    pub(super) fn unfinished(&self, event: AuditEvent) {
        self.inner.unfinished.lock().unwrap_or_else(PoisonError::into_inner).push(event);
    }

    /// After the pack has stopped: wait for every piece of work handed to
    /// this call, then return the records of the capability calls it cut
    /// off, each with `outcome` (`cancelled`, or what stopped the call) and
    /// `message` under `details.message`, for the caller to write before the
    /// call's own record.
    pub async fn finish(&self, outcome: Outcome, message: &str) -> Vec<AuditEvent> {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
        let mut unfinished = std::mem::take(&mut *self.inner.unfinished.lock().unwrap_or_else(PoisonError::into_inner));
        for event in &mut unfinished {
            event.outcome = outcome;
            let details = event.details.get_or_insert_with(|| serde_json::json!({}));
            if let Some(fields) = details.as_object_mut() {
                fields.insert("message".into(), message.into());
            }
        }
        unfinished
    }
}
