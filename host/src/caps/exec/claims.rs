//! Session uids are claimed machine-wide, not per process. Were each
//! process to hand them out on its own, two Helmdeck servers on one machine
//! (two data directories, or test servers side by side) would give the same
//! uid to sessions of both, and one's cleanup, `kill(-1)` as that uid, would
//! kill the other's commands: CI saw a command fail exactly so.
//!
//! A claim is an exclusive `flock` on `/run/helmdeck/uids/<uid>`, held
//! while the session lives. The kernel drops it when the process ends,
//! however it ends, so a crash leaks no uid; what the crashed holder left
//! running is killed by the next claim of that uid ([`claim_fresh`]).

use super::sandbox;
use crate::{Error, ErrorCode, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Where claims are kept: root's own directory on the tmpfs cleared at boot.
pub const CLAIMS_DIR: &str = "/run/helmdeck/uids";

/// A uid held for one session; dropping it releases the uid.
#[derive(Debug)]
pub struct UidClaim {
    uid: u32,
    _lock: File,
}

impl UidClaim {
    /// The claimed uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

/// Claim the first uid of `candidates` that no process on this machine
/// holds, this one included.
pub fn claim(candidates: impl IntoIterator<Item = u32>) -> Result<UidClaim> {
    let dir = claims_dir()?;
    for uid in candidates {
        let path = dir.join(uid.to_string());
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::internal(format!("cannot claim a session user at `{}`: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => return Ok(UidClaim { uid, _lock: file }),
            Err(TryLockError::WouldBlock) => continue,
            Err(TryLockError::Error(e)) => {
                return Err(Error::internal(format!("cannot lock `{}`: {e}", path.display())));
            }
        }
    }
    Err(Error::new(ErrorCode::ResourceExhausted, "every session user id is in use; close some sessions"))
}

/// [`claim`] a uid, then stop whatever still runs as it: a server that
/// crashed while holding it may have left processes behind. Blocking.
pub fn claim_fresh(candidates: impl IntoIterator<Item = u32>) -> Result<UidClaim> {
    let claim = claim(candidates)?;
    sandbox::kill_all(claim.uid)?;
    Ok(claim)
}

/// [`CLAIMS_DIR`], made if missing, refused unless root owns it and every
/// directory on the way.
fn claims_dir() -> Result<&'static Path> {
    sandbox::require_root()?;
    let dir = Path::new(CLAIMS_DIR);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::internal(format!("cannot make `{CLAIMS_DIR}` for session user claims: {e}")))?;
    for part in [dir.parent().unwrap_or(dir), dir] {
        let meta = part.symlink_metadata().map_err(|e| Error::internal(format!("`{}`: {e}", part.display())))?;
        if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(Error::internal(format!(
                "`{}` must be a directory only root can write to; remove it and retry",
                part.display()
            )));
        }
    }
    Ok(dir)
}
