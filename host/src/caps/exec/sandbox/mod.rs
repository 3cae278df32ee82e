//! How one command is contained, measured on Linux as root (and on CI, a
//! fresh Debian run as root):
//!
//! - **Its own user.** Each session gets an unprivileged uid from
//!   [`UID_BASE`]; the command drops to it (groups cleared, `no_new_privs`
//!   so setuid programs cannot regain root). `RLIMIT_NPROC` is counted per
//!   real uid and does not bind root, so dropping is what makes the process
//!   limit real: a fork bomb stops at the limit. The uid also scopes
//!   cleanup: a helper running as that uid sends `kill(-1, SIGKILL)`, which
//!   reaches every process of the uid however it detached.
//! - **Its own mount, network, IPC and UTS namespaces.** A private tmpfs on
//!   `/tmp` with the workspace bound at `/tmp/workspace` (the data
//!   directory stays 0700, so nothing else of Helmdeck's is reachable); no
//!   network at all (only a down loopback), so nothing bypasses the egress
//!   guard.
//! - **rlimits** for address space, CPU seconds, file size, open files and
//!   core dumps.
//!
//! cgroup v2 `pids.max` was not used: this machine has cgroup v1, and a
//! container may not delegate a writable hierarchy.

mod handover;

pub use handover::hand_over;

use crate::{Error, ErrorCode, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// First uid handed to sessions; far above ordinary users and subuid ranges.
pub const UID_BASE: u32 = 0x6865_0000;
/// How many session uids exist.
pub const UID_COUNT: u32 = 65_536;
/// Where the workspace appears inside the sandbox.
pub const SANDBOX_WORKSPACE: &str = "/tmp/workspace";
/// The private `/tmp` of a command.
const TMPFS_OPTIONS: &str = "size=268435456,mode=1777";
/// The descriptor the child keeps its workspace on while mounting: a bind
/// mount must come from the child's own mount namespace, so the workspace is
/// opened after `unshare`, and its `/proc/self/fd` path is fixed in advance.
const WORKSPACE_FD: libc::c_int = 987;

/// Limits for one command, already clamped to the host's maxima.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: u64,
    pub processes: u64,
    pub cpu_seconds: u64,
    pub file_bytes: u64,
    pub open_files: u64,
}

/// Everything the child needs, prepared before `fork` (no allocation after it).
pub struct Prepared {
    uid: u32,
    limits: Limits,
    workspace: CString,
    workspace_source: CString,
    cwd: CString,
    tmp: CString,
    mountpoint: CString,
    tmpfs: CString,
    tmpfs_options: CString,
    root: CString,
}

impl Prepared {
    /// Prepare to run in `workspace` (host path) at `cwd` (checked relative path) as `uid`.
    pub fn new(workspace: &Path, cwd: &Path, uid: u32, limits: Limits) -> Result<Prepared> {
        require_root()?;
        if !workspace.is_dir() {
            return Err(Error::new(ErrorCode::SessionUnavailable, "the session workspace is gone"));
        }
        let cstring = |bytes: &[u8]| {
            CString::new(bytes).map_err(|_| Error::invalid_input("`cwd` must not contain NUL characters"))
        };
        let inner: PathBuf = Path::new(SANDBOX_WORKSPACE).join(cwd);
        Ok(Prepared {
            uid,
            limits,
            workspace_source: cstring(format!("/proc/self/fd/{WORKSPACE_FD}").as_bytes())?,
            workspace: cstring(workspace.as_os_str().as_bytes())?,
            cwd: cstring(inner.as_os_str().as_bytes())?,
            tmp: cstring(b"/tmp")?,
            mountpoint: cstring(SANDBOX_WORKSPACE.as_bytes())?,
            tmpfs: cstring(b"tmpfs")?,
            tmpfs_options: cstring(TMPFS_OPTIONS.as_bytes())?,
            root: cstring(b"/")?,
        })
    }

    /// Install the sandbox on `command`: runs in the child between `fork` and `exec`.
    pub fn apply(self, command: &mut tokio::process::Command) {
        // SAFETY: the closure only makes async-signal-safe system calls on
        // data prepared before the fork; it allocates nothing.
        unsafe {
            command.pre_exec(move || self.enter());
        }
    }

    fn enter(&self) -> std::io::Result<()> {
        check(unsafe { libc::setsid() })?;
        check(unsafe {
            libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS)
        })?;
        let null = std::ptr::null();
        check(unsafe { libc::mount(null, self.root.as_ptr(), null, libc::MS_REC | libc::MS_PRIVATE, null as _) })?;
        // Opened before /tmp is covered (the workspace may live under it).
        let fd = unsafe { libc::open(self.workspace.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        check(fd)?;
        check(unsafe { libc::dup3(fd, WORKSPACE_FD, libc::O_CLOEXEC) })?;
        check(unsafe { libc::close(fd) })?;
        check(unsafe {
            libc::mount(
                self.tmpfs.as_ptr(),
                self.tmp.as_ptr(),
                self.tmpfs.as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV,
                self.tmpfs_options.as_ptr().cast(),
            )
        })?;
        check(unsafe { libc::mkdir(self.mountpoint.as_ptr(), 0o755) })?;
        check(unsafe {
            libc::mount(
                self.workspace_source.as_ptr(),
                self.mountpoint.as_ptr(),
                null,
                libc::MS_BIND | libc::MS_NOSUID | libc::MS_NODEV,
                null as _,
            )
        })?;
        check(unsafe { libc::chdir(self.cwd.as_ptr()) })?;
        let l = self.limits;
        for (resource, value) in [
            (libc::RLIMIT_NPROC, l.processes),
            (libc::RLIMIT_AS, l.memory_bytes),
            (libc::RLIMIT_CPU, l.cpu_seconds),
            (libc::RLIMIT_FSIZE, l.file_bytes),
            (libc::RLIMIT_NOFILE, l.open_files),
            (libc::RLIMIT_CORE, 0),
        ] {
            let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
            check(unsafe { libc::setrlimit(resource, &limit) })?;
        }
        drop_to(self.uid)?;
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
        Ok(())
    }
}

/// Commands need Helmdeck to run as root: each drops to a user of its own.
pub fn require_root() -> Result<()> {
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::internal(
            "cmd.run needs helmdeck to run as root: each command drops to a user of its own so its limits hold",
        ));
    }
    Ok(())
}

/// Become `uid` for good: no supplementary groups, gid = uid, no way back.
fn drop_to(uid: u32) -> std::io::Result<()> {
    check(unsafe { libc::setgroups(0, std::ptr::null()) })?;
    check(unsafe { libc::setresgid(uid, uid, uid) })?;
    check(unsafe { libc::setresuid(uid, uid, uid) })?;
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
}

fn check(ret: libc::c_int) -> std::io::Result<()> {
    if ret < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

/// How long [`kill_all`] waits for killed processes to finish exiting.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Kill every process running as `uid` and return once none is left: a
/// helper drops to the uid and sends `kill(-1, SIGKILL)`, which the kernel
/// applies to all of the uid's processes in one pass. A killed process
/// still runs until it has torn itself down (a busy 2-core machine showed
/// one alive right after the kill), so this repeats the kill until `/proc`
/// lists no live process of the uid. Blocking.
pub fn kill_all(uid: u32) -> Result<()> {
    let deadline = std::time::Instant::now() + EXIT_WAIT;
    loop {
        send_kill_as(uid)?;
        let left = live_processes(uid);
        if left == 0 {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(Error::internal(format!(
                "{left} process(es) of the session's user were still running {}s after SIGKILL",
                EXIT_WAIT.as_secs()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// One `kill(-1, SIGKILL)` sent by a helper running as `uid`.
fn send_kill_as(uid: u32) -> Result<()> {
    let mut helper = std::process::Command::new("/bin/true");
    helper.env_clear();
    // SAFETY: only async-signal-safe system calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut helper, move || {
            drop_to(uid)?;
            libc::kill(-1, libc::SIGKILL);
            Ok(())
        });
    }
    let status = helper.status().map_err(|e| Error::internal(format!("cannot stop the session's processes: {e}")))?;
    if !status.success() {
        return Err(Error::internal("cannot stop the session's processes"));
    }
    Ok(())
}

/// Processes of `uid` that are still running: zombies (killed, waiting to
/// be reaped by their parent) do not count.
fn live_processes(uid: u32) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().as_bytes().iter().all(u8::is_ascii_digit))
        .filter(|entry| entry.metadata().is_ok_and(|meta| meta.uid() == uid))
        .filter(|entry| {
            // `pid (comm) S ...`; a process gone since the listing has no stat.
            std::fs::read_to_string(entry.path().join("stat"))
                .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|rest| !rest.starts_with(['Z', 'X'])))
        })
        .count()
}
