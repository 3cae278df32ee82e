//! Who session browsers run as. When Helmdeck runs as root (as `cmd.run`
//! needs), a browser must not: a renderer exploit would own the machine,
//! and Chromium's own sandbox cannot start as root. So each browser gets a
//! uid of its own from [`UID_BASE`] (outside the `cmd.run` session range),
//! claimed machine-wide like session uids ([`claims`]: two servers on one
//! machine never share one), and the group [`GID`] that all browsers
//! share. Their profiles live outside the data directory, under
//! [`PROFILES_ROOT`] ([`profiles_for`]): the way to a data directory may be
//! closed to every other uid (root's home is 0700), and a browser uid must
//! not be let into it anyway. Only group [`GID`] may traverse (root:[`GID`],
//! 0710) to the profiles, each its browser's (0700).
//!
//! The uid also scopes cleanup. Whatever a browser started, in whatever
//! process group, session or namespace it moved to, and whatever its
//! command line says, runs as that uid: `kill(-1)` as the uid stops it all,
//! when the browser stops and, after a server was killed, at the next
//! start ([`reap`]), which takes every uid of the range that no live server
//! holds.
//!
//! Chromium's sandbox (user, PID and network namespaces) needs
//! unprivileged user namespaces; [`sandbox_works`] tries one as a browser
//! uid, and only where that fails does the browser start with
//! `--no-sandbox` (logged, and reported in `GET /api/v1/browsers`).

use crate::Result;
use crate::caps::exec::{claims, sandbox};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// The first browser uid.
pub const UID_BASE: u32 = 0x6866_0000;
/// How many browser uids there are.
pub const UID_COUNT: u32 = 4096;
/// The group every browser runs in (no browser's uid).
pub const GID: u32 = 0x6866_ffff;

/// Where the profiles of browsers with users of their own live: root's,
/// on the machine's run-time file system (gone at reboot, like the
/// browsers).
pub const PROFILES_ROOT: &str = "/run/helmdeck-browsers";

/// The directory for the profiles a server on the data directory whose
/// profiles would be `in_data` keeps under [`PROFILES_ROOT`]: one per data
/// directory (named by a digest of its path), so a restart on the same data
/// directory finds and reaps what the previous server left there, and two
/// servers on one machine keep apart.
pub fn profiles_for(in_data: &Path) -> PathBuf {
    use sha2::Digest as _;
    // The data directory exists by now; `in_data` itself may not yet.
    let path = match (in_data.parent().map(std::fs::canonicalize), in_data.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => in_data.to_path_buf(),
    };
    let digest = sha2::Sha256::digest(path.as_os_str().as_encoded_bytes());
    Path::new(PROFILES_ROOT).join(hex::encode(&digest[..8]))
}

/// Every browser uid.
pub fn range() -> std::ops::Range<u32> {
    UID_BASE..UID_BASE + UID_COUNT
}

pub use claims::UidClaim;

/// Claim a browser uid no server on this machine holds, and stop whatever
/// a crashed holder left running as it. Blocking.
pub fn claim() -> Result<UidClaim> {
    claims::claim_fresh(range())
}

/// How long [`kill_all`] waits for the killed processes to be gone.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Stop every process of browser `uid` and return once none is left
/// running. Chromium makes its sandboxed helpers non-dumpable, which shows
/// their `/proc/<pid>` as root's: the uid is read from `status`. Blocking.
pub fn kill_all(uid: u32) -> Result<()> {
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    loop {
        sandbox::kill_all(uid)?;
        let left = processes().into_iter().filter(|p| p.uid == uid && p.alive).count();
        if left == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(crate::Error::internal(format!(
                "{left} process(es) of browser user {uid} still ran {}s after SIGKILL",
                EXIT_WAIT.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Stop the processes of every browser uid that no live server holds (a
/// killed server's browsers and all they started); returns how many uids
/// had processes. Blocking.
pub fn reap() -> usize {
    let mut uids: Vec<u32> = processes().into_iter().map(|p| p.uid).filter(|u| range().contains(u)).collect();
    uids.sort_unstable();
    uids.dedup();
    let mut reaped = 0;
    for uid in uids {
        // Held: a live server's browser. Free: a dead server's leftovers.
        let Ok(claim) = claims::claim([uid]) else { continue };
        if let Err(e) = kill_all(uid) {
            tracing::warn!(uid, "a previous server's browser outlived the kill: {}", e.message);
        }
        drop(claim);
        reaped += 1;
    }
    reaped
}

/// A process's real uid, and whether it still runs (not a zombie).
struct Process {
    uid: u32,
    alive: bool,
}

/// Every process, read from `/proc/<pid>/status`.
fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit())))
        .filter_map(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            let uid = field("Uid:")?.split_whitespace().next()?.parse().ok()?;
            let alive = !field("State:").is_some_and(|s| s.starts_with(['Z', 'X']));
            Some(Process { uid, alive })
        })
        .collect()
}

/// Let browsers (group [`GID`]) reach their profiles under `profiles` and
/// nothing else: `profiles` becomes root:[`GID`] 0710, traversable but not
/// listable by browsers, closed to every other uid (`cmd.run` sessions
/// included), and so does its parent when it is a directory of root's
/// closed to others (the data directory, 0700). A parent others may
/// already enter (`/tmp`, a shared directory) is left as it is.
pub fn open_path_to(profiles: &Path) -> std::io::Result<()> {
    let close = |dir: &Path| {
        std::os::unix::fs::chown(dir, Some(0), Some(GID))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o710))
    };
    if let Some(parent) = profiles.parent() {
        let meta = parent.symlink_metadata()?;
        if meta.is_dir() && meta.uid() == 0 && meta.mode() & 0o7777 & !0o710 == 0 {
            close(parent)?;
        }
    }
    close(profiles)
}

/// Give `profile` to browser `uid`, closed to every other uid.
pub fn own_profile(profile: &Path, uid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(profile, Some(uid), Some(GID))?;
    std::fs::set_permissions(profile, std::fs::Permissions::from_mode(0o700))
}

/// Whether Chromium's namespace sandbox can start as browser `uid`: a
/// child drops to it and makes a user namespace. Blocking.
pub fn sandbox_works(uid: u32) -> bool {
    let mut probe = std::process::Command::new("/bin/true");
    probe.env_clear().uid(uid).gid(GID);
    // SAFETY: one async-signal-safe system call between fork and exec.
    unsafe {
        probe.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    probe.status().is_ok_and(|s| s.success())
}
