//! WAL checkpoints off the hot path. SQLite's automatic checkpoint runs
//! inside whichever commit crosses the threshold, so one audit append in a
//! hundred paid for an fsync of the whole WAL (milliseconds). Instead the
//! writer's autocheckpoint is off and this thread checkpoints passively on
//! its own connection; passive checkpoints never block writers.

use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the WAL is folded back into the database file.
const PERIOD: Duration = Duration::from_millis(500);

/// The checkpoint thread of one database; stops when dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` on a connection of its own.
    pub(super) fn start(path: &Path) -> rusqlite::Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(1))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("helmdeck-wal-checkpoint".into())
            .spawn(move || {
                while !flag.load(Ordering::Acquire) {
                    std::thread::park_timeout(PERIOD);
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::debug!(error = %e, "WAL checkpoint skipped");
                    }
                }
            })
            .ok();
        if thread.is_none() {
            tracing::warn!("could not start the WAL checkpoint thread; the WAL grows until the next open");
        }
        Ok(Checkpointer { stop, thread })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}
