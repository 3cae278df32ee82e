//! How one command is contained, measured on Linux as root (and on CI, a
//! fresh Debian run as root):
//!
//! - **Its own user.** Each session gets an unprivileged uid from
//!   [`UID_BASE`]; the command drops to it (groups cleared, `no_new_privs`
//!   so setuid programs cannot regain root). `RLIMIT_NPROC` is counted per
//!   real uid and does not bind root, so dropping is what makes the process
//!   limit real: a fork bomb stops at the limit. The uid also scopes the
//!   backstop cleanup [`kill_all`]: a helper running as that uid sends
//!   `kill(-1, SIGKILL)`, which reaches every process of the uid.
//! - **Its own PID, mount, network, IPC and UTS namespaces** ([`init`]: a
//!   relay and a reaping init of our own, so ending the init ends every
//!   process of the command, and a killed server's commands die with it).
//!   The command sees only its own processes, and a root of its own
//!   ([`mounts`]): the system's tools read-only, a minimal `/dev`, its own
//!   `/proc`, private `/tmp`, `/var/tmp` and `/dev/shm`, the workspace at
//!   `/tmp/workspace`. No other path of the host exists for it; no network
//!   at all (only a down loopback), so nothing bypasses the egress guard.
//! - **`cwd` resolved after the drop**, beneath the workspace and without
//!   leaving it by a link or `..` (`openat2` with `RESOLVE_BENEATH`).
//! - **rlimits** for address space, CPU seconds, file size, open files and
//!   core dumps.
//!
//! Not yet enforced here: cgroup memory and process limits per session and
//! a cap on the workspace's disk use (see `docs/architecture.md`).

mod handover;
mod init;
mod mounts;

pub use handover::hand_over;

use crate::{Error, ErrorCode, Result};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// First uid handed to sessions; far above ordinary users and subuid ranges.
pub const UID_BASE: u32 = 0x6865_0000;
/// How many session uids exist.
pub const UID_COUNT: u32 = 65_536;
/// Where the workspace appears inside the sandbox.
pub const SANDBOX_WORKSPACE: &str = mounts::WORKSPACE;

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
    view: mounts::View,
    workspace: CString,
    cwd: CString,
    server: Option<init::ServerStrings>,
}

/// `openat2`'s `struct open_how`.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_BENEATH: u64 = 0x08;

/// Open `path` (relative) beneath the directory `dir` as a directory, never
/// leaving `dir` (by `..`, an absolute link or a `/proc` magic link: those
/// fail with `EXDEV` or `ELOOP`). Async-signal-safe.
fn open_beneath(dir: libc::c_int, path: &CString) -> libc::c_int {
    let how = OpenHow {
        flags: (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    unsafe { libc::syscall(libc::SYS_openat2, dir, path.as_ptr(), &how, std::mem::size_of::<OpenHow>()) as libc::c_int }
}

impl Prepared {
    /// Prepare to run in `workspace` (host path) at `cwd` (checked relative
    /// path) as `uid`. `cwd` is checked here as it resolves now, for a clear
    /// refusal, and resolved again inside the sandbox after the privilege
    /// drop, which is what the command gets. Blocking (briefly).
    pub fn new(workspace: &Path, cwd: &Path, uid: u32, limits: Limits) -> Result<Prepared> {
        require_root()?;
        mounts::ensure_staging()?;
        let bad = |_| Error::invalid_input("`cwd` must not contain NUL characters");
        let relative = if cwd.as_os_str().is_empty() { Path::new(".") } else { cwd };
        let cwd_c = CString::new(relative.as_os_str().as_bytes()).map_err(bad)?;
        let root = std::fs::File::open(workspace)
            .map_err(|_| Error::new(ErrorCode::SessionUnavailable, "the session workspace is gone"))?;
        let found = open_beneath(std::os::fd::AsRawFd::as_raw_fd(&root), &cwd_c);
        if found < 0 {
            return Err(cwd_error(relative, std::io::Error::last_os_error()));
        }
        unsafe { libc::close(found) };
        Ok(Prepared {
            uid,
            limits,
            view: mounts::View::new(workspace)?,
            workspace: CString::new(SANDBOX_WORKSPACE).map_err(bad)?,
            cwd: cwd_c,
            server: init::ServerStrings::of_this_process(),
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

    /// The relay's part (see [`init`]): namespaces, then the init.
    fn enter(&self) -> std::io::Result<()> {
        init::reset_signals();
        check(unsafe { libc::setsid() })?;
        let (mut status, mut alive) = ([0; 2], [0; 2]);
        check(unsafe { libc::pipe2(status.as_mut_ptr(), libc::O_CLOEXEC) })?;
        check(unsafe { libc::pipe2(alive.as_mut_ptr(), libc::O_CLOEXEC) })?;
        check(unsafe {
            libc::unshare(
                libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
            )
        })?;
        let init = init::fork();
        check(init)?;
        if init > 0 {
            // Dies with the server thread that forked it; the init dies with it.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
            init::relay(init, status[0], alive[1]);
        }
        unsafe {
            libc::close(status[0]);
            libc::close(alive[1]);
        }
        self.init(status[1], alive[0])
    }

    /// PID 1 of the command's namespace: build its root, drop to its user,
    /// enter `cwd`, fork the program and reap until it ends.
    fn init(&self, status: libc::c_int, alive: libc::c_int) -> std::io::Result<()> {
        init::rename_init(self.server);
        self.view.build().map_err(|(_, errno)| std::io::Error::from_raw_os_error(errno))?;
        let l = self.limits;
        for (resource, value) in [
            // The init counts against its user's processes too.
            (libc::RLIMIT_NPROC, l.processes + 1),
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
        // Changing credentials cleared the death signal: set it, then make
        // sure the relay did not die before it was set.
        check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) })?;
        if init::parent_gone(alive) {
            unsafe { libc::_exit(1) };
        }
        // As the session's user, inside its own root: nothing to follow out to.
        let workspace =
            unsafe { libc::open(self.workspace.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        check(workspace)?;
        let cwd = open_beneath(workspace, &self.cwd);
        check(cwd)?;
        check(unsafe { libc::fchdir(cwd) })?;
        unsafe {
            libc::close(cwd);
            libc::close(workspace);
        }
        let program = init::fork();
        check(program)?;
        if program > 0 {
            init::reap(program, status);
        }
        unsafe {
            libc::close(status);
            libc::close(alive);
        }
        Ok(())
    }
}

/// The refusal of a `cwd` that does not resolve beneath the workspace.
fn cwd_error(cwd: &Path, e: std::io::Error) -> Error {
    let shown = cwd.display();
    match e.raw_os_error() {
        Some(libc::EXDEV | libc::ELOOP) => {
            Error::unauthorized(format!("`cwd` `{shown}` leads out of the session workspace (through `..` or a link)"))
        }
        Some(libc::ENOENT | libc::ENOTDIR) => {
            Error::not_found(format!("`cwd` `{shown}` is not a directory in the workspace"))
        }
        Some(libc::ENAMETOOLONG) => Error::invalid_input(format!("`cwd` `{shown}` is too long")),
        _ => Error::internal(format!("cannot enter `cwd` `{shown}`: {e}")),
    }
}

/// Make `dir` (and its parent) a directory only root can use; refused if
/// a link or another user's stands in the way.
fn root_only_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let fail = |e: std::io::Error| Error::internal(format!("cannot prepare `{}` for the sandbox: {e}", dir.display()));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(fail)?;
    for path in [dir.parent().unwrap_or(dir), dir] {
        let meta = path.symlink_metadata().map_err(fail)?;
        if !meta.is_dir() || meta.uid() != 0 {
            return Err(Error::internal(format!("`{}` must be a directory of root's", path.display())));
        }
        if meta.mode() & 0o022 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
    }
    Ok(())
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
