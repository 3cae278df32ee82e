//! Waiting for blocking git work without letting a planted FIFO pin it.
//!
//! libgit2 reads ignore and attribute files (`.gitignore`, `.gitattributes`
//! in any directory it walks, and whatever a symbolic link at those names
//! leads to) with `stat` then a plain blocking `open`: a FIFO that a
//! command left there holds the thread until someone writes to it, for
//! ever if no one does. It cannot be told not to, and checking the
//! workspace first races the session's own processes, so the host undoes
//! the wait instead: while a git operation is still running after a short
//! while, every FIFO of the workspace is opened once for writing, without
//! blocking and without following links, and closed again. A reader
//! waiting on one then gets end of file, libgit2 takes it for an empty
//! file, and the operation goes on. A FIFO no one waits on is left alone
//! (the open fails with `ENXIO`). Each operation still has a deadline.

use crate::{Error, ErrorCode, Result};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long an operation runs before the first sweep (most finish sooner).
const FIRST_SWEEP: Duration = Duration::from_millis(100);
/// Time between sweeps while it still runs.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// Entries one sweep looks at, so a huge workspace keeps a sweep bounded.
const MAX_ENTRIES: usize = 200_000;

/// Await `work` (a git operation on a blocking thread), sweeping the FIFOs
/// of `workspace` while it runs; `timeout` once `deadline` has passed (the
/// thread then ends on its own, still holding its slot).
pub async fn finish<T>(
    mut work: JoinHandle<Result<T>>,
    workspace: PathBuf,
    deadline: Duration,
    what: &str,
) -> Result<T> {
    let until = Instant::now() + deadline;
    let mut wait = FIRST_SWEEP;
    let mut sweep: Option<oneshot::Receiver<usize>> = None;
    loop {
        match tokio::time::timeout(wait.min(until.saturating_duration_since(Instant::now())), &mut work).await {
            Ok(done) => return done.map_err(|e| Error::internal(format!("git task failed: {e}")))?,
            Err(_) if Instant::now() >= until => {
                return Err(Error::new(
                    ErrorCode::Timeout,
                    format!("{what} ran past {} s and was stopped", deadline.as_secs()),
                ));
            }
            Err(_) => {
                wait = SWEEP_EVERY;
                // One sweep at a time per operation, on a thread of its own:
                // it must not wait for the blocking pool it is unblocking.
                if sweep.as_mut().is_none_or(|rx| rx.try_recv() != Err(oneshot::error::TryRecvError::Empty)) {
                    let (tx, rx) = oneshot::channel();
                    let root = workspace.clone();
                    std::thread::spawn(move || {
                        let _ = tx.send(release(&root));
                    });
                    sweep = Some(rx);
                }
            }
        }
    }
}

/// Open and close for writing, without blocking, every FIFO under `root`
/// that a reader waits on; returns how many there were.
pub fn release(root: &Path) -> usize {
    let walk = walkdir::WalkDir::new(root).follow_links(false).into_iter().take(MAX_ENTRIES).flatten();
    walk.filter(|entry| entry.file_type().is_fifo())
        .filter(|entry| {
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
                .open(entry.path())
                .is_ok()
        })
        .count()
}
