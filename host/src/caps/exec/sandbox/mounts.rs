//! The file system a command sees: a root of its own, built in its mount
//! namespace and entered with `pivot_root`, the host's root detached behind
//! it. Only these exist in it:
//!
//! - the system's tools, read-only: `/usr`, `/etc` and the `/bin`, `/sbin`
//!   and `/lib*` of the host (the same symbolic links on a merged-`/usr`
//!   system, read-only binds otherwise);
//! - a minimal `/dev` (`null`, `zero`, `full`, `random`, `urandom`, the
//!   `fd`/`stdin`/`stdout`/`stderr` links, a private `/dev/shm`), no tty;
//! - a fresh `/proc` of the command's own PID namespace;
//! - private tmpfs `/tmp` and `/var/tmp`, with the session's workspace bound
//!   at `/tmp/workspace`.
//!
//! Nothing else of the host (the data directory, other sessions, `/run`,
//! `/sys`, `/home`) has a path in it, so no symbolic link, `..` or
//! `/proc/<pid>/root` can name it. The plan is made before the fork (every
//! path a `CString`); [`View::build`] runs between fork and exec, in the
//! namespace's init while it is still root, and only makes system calls.

use crate::{Error, Result};
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

/// Where the new root is assembled before `pivot_root`: an empty directory
/// of root's on the host, mounted over only inside each command's own mount
/// namespace (so every command uses the same one).
pub const STAGING: &str = "/run/helmdeck/sandbox";
/// Where the workspace appears inside the sandbox.
pub const WORKSPACE: &str = "/tmp/workspace";

/// The host's top-level system entries a command may use.
const SYSTEM: [&str; 8] = ["usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];
/// Device nodes bound from the host's `/dev`.
const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];
/// `/dev` links into the command's own `/proc`.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// One step of building the root; every path is absolute (under [`STAGING`]).
enum Step {
    Dir(CString),
    /// An empty file to bind a device node onto.
    File(CString),
    Link {
        target: CString,
        link: CString,
    },
    Tmpfs {
        target: CString,
        options: CString,
        flags: libc::c_ulong,
    },
    Bind {
        source: CString,
        target: CString,
        read_only: bool,
    },
    Proc(CString),
}

/// The root of one command, planned.
pub struct View {
    steps: Vec<Step>,
    staging: CString,
    root: CString,
    here: CString,
    empty: CString,
}

/// A top-level system entry of the host, as found at the first command.
enum System {
    Link(CString),
    Dir,
}

/// The host's system entries, looked up once per process.
fn system() -> &'static [(String, System)] {
    static FOUND: OnceLock<Vec<(String, System)>> = OnceLock::new();
    FOUND.get_or_init(|| {
        SYSTEM
            .iter()
            .filter_map(|name| {
                let path = Path::new("/").join(name);
                let meta = path.symlink_metadata().ok()?;
                if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&path).ok()?;
                    Some((name.to_string(), System::Link(CString::new(target.as_os_str().as_bytes()).ok()?)))
                } else {
                    meta.is_dir().then(|| (name.to_string(), System::Dir))
                }
            })
            .collect()
    })
}

fn cstring(text: impl AsRef<[u8]>) -> Result<CString> {
    CString::new(text.as_ref()).map_err(|_| Error::internal("a sandbox path holds a NUL byte"))
}

impl View {
    /// The root of a command working in `workspace` (host path).
    pub fn new(workspace: &Path) -> Result<View> {
        let mut plan = Plan::default();
        let under = |rel: &str| format!("{STAGING}/{rel}");
        for (name, entry) in system() {
            match entry {
                System::Link(target) => {
                    plan.push(Step::Link { target: target.clone(), link: cstring(under(name))? }, name)
                }
                System::Dir => {
                    plan.push(Step::Dir(cstring(under(name))?), name);
                    let source = cstring(format!("/{name}"))?;
                    plan.push(Step::Bind { source, target: cstring(under(name))?, read_only: true }, name);
                }
            }
        }
        plan.push(Step::Dir(cstring(under("dev"))?), "/dev");
        plan.tmpfs(&under("dev"), "size=64k,nr_inodes=64,mode=0755", libc::MS_NOSUID | libc::MS_NOEXEC)?;
        for device in DEVICES {
            let target = cstring(under(&format!("dev/{device}")))?;
            plan.push(Step::File(target.clone()), device);
            plan.push(Step::Bind { source: cstring(format!("/dev/{device}"))?, target, read_only: false }, device);
        }
        for (name, target) in DEV_LINKS {
            plan.push(Step::Link { target: cstring(target)?, link: cstring(under(&format!("dev/{name}")))? }, name);
        }
        plan.push(Step::Dir(cstring(under("dev/shm"))?), "/dev/shm");
        plan.tmpfs(&under("dev/shm"), "size=64m,mode=1777", libc::MS_NOSUID | libc::MS_NODEV)?;
        plan.push(Step::Dir(cstring(under("proc"))?), "/proc");
        plan.push(Step::Proc(cstring(under("proc"))?), "/proc");
        plan.push(Step::Dir(cstring(under("tmp"))?), "/tmp");
        plan.tmpfs(&under("tmp"), "size=256m,mode=1777", libc::MS_NOSUID | libc::MS_NODEV)?;
        plan.push(Step::Dir(cstring(under("tmp/workspace"))?), WORKSPACE);
        let source = cstring(workspace.as_os_str().as_bytes())?;
        plan.push(Step::Bind { source, target: cstring(under("tmp/workspace"))?, read_only: false }, WORKSPACE);
        plan.push(Step::Dir(cstring(under("var"))?), "/var");
        plan.push(Step::Dir(cstring(under("var/tmp"))?), "/var/tmp");
        plan.tmpfs(&under("var/tmp"), "size=64m,mode=1777", libc::MS_NOSUID | libc::MS_NODEV)?;
        Ok(View {
            steps: plan.steps,
            staging: cstring(STAGING)?,
            root: cstring("/")?,
            here: cstring(".")?,
            empty: cstring("")?,
        })
    }

    /// Build the root and enter it. Between fork and exec, as root, in a
    /// fresh mount namespace and as init of a fresh PID namespace (for
    /// `/proc`). Fails with the index of the failed step and the errno.
    pub fn build(&self) -> std::result::Result<(), (usize, i32)> {
        let null = std::ptr::null();
        // Nothing done here reaches the host's mount table.
        let private = libc::MS_REC | libc::MS_PRIVATE;
        check(unsafe { libc::mount(null, self.root.as_ptr(), null, private, null as _) }).map_err(|e| (0, e))?;
        let options = c"size=1m,nr_inodes=256,mode=0755";
        mount_tmpfs(&self.staging, options, libc::MS_NOSUID | libc::MS_NODEV).map_err(|e| (0, e))?;
        for (index, step) in self.steps.iter().enumerate() {
            self.step(step).map_err(|errno| (index, errno))?;
        }
        self.enter().map_err(|errno| (self.steps.len(), errno))
    }

    fn step(&self, step: &Step) -> std::result::Result<(), i32> {
        let null = std::ptr::null();
        match step {
            Step::Dir(path) => check(unsafe { libc::mkdir(path.as_ptr(), 0o755) }),
            Step::File(path) => {
                let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC;
                let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644) };
                check(fd)?;
                check(unsafe { libc::close(fd) })
            }
            Step::Link { target, link } => check(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }),
            Step::Tmpfs { target, options, flags } => mount_tmpfs(target, options, *flags),
            Step::Bind { source, target, read_only } => {
                check(unsafe { libc::mount(source.as_ptr(), target.as_ptr(), null, libc::MS_BIND, null as _) })?;
                if !read_only {
                    return Ok(());
                }
                // A bind takes its flags only from a remount of its own.
                let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
                check(unsafe { libc::mount(null, target.as_ptr(), null, flags, null as _) })
            }
            Step::Proc(target) => {
                let proc = c"proc";
                let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                check(unsafe { libc::mount(proc.as_ptr(), target.as_ptr(), proc.as_ptr(), flags, null as _) })
            }
        }
    }

    /// `pivot_root` into the staging root and detach the host's: stacking
    /// the old root on the new one (`pivot_root(".", ".")`) and unmounting
    /// it leaves no directory behind that could lead back.
    fn enter(&self) -> std::result::Result<(), i32> {
        let null = std::ptr::null();
        check(unsafe { libc::chdir(self.staging.as_ptr()) })?;
        let here = self.here.as_ptr();
        check(unsafe { libc::syscall(libc::SYS_pivot_root, here, here) } as libc::c_int)?;
        check(unsafe { libc::umount2(here, libc::MNT_DETACH) })?;
        check(unsafe { libc::chdir(self.root.as_ptr()) })?;
        let flags = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV;
        check(unsafe { libc::mount(self.empty.as_ptr(), self.root.as_ptr(), null, flags, null as _) })
    }
}

/// The steps, in order.
#[derive(Default)]
struct Plan {
    steps: Vec<Step>,
}

impl Plan {
    /// Add `step`; `_what` names what it makes, for the reader.
    fn push(&mut self, step: Step, _what: &str) {
        self.steps.push(step);
    }

    fn tmpfs(&mut self, target: &str, options: &str, flags: libc::c_ulong) -> Result<()> {
        self.push(Step::Tmpfs { target: cstring(target)?, options: cstring(options)?, flags }, target);
        Ok(())
    }
}

fn mount_tmpfs(target: &CStr, options: &CStr, flags: libc::c_ulong) -> std::result::Result<(), i32> {
    let tmpfs = c"tmpfs";
    check(unsafe { libc::mount(tmpfs.as_ptr(), target.as_ptr(), tmpfs.as_ptr(), flags, options.as_ptr().cast()) })
}

/// The errno of a failed call.
fn check(ret: libc::c_int) -> std::result::Result<(), i32> {
    if ret < 0 { Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)) } else { Ok(()) }
}

/// Make [`STAGING`] if missing; refused unless root owns it and every
/// directory on the way and nobody else can write to them.
pub fn ensure_staging() -> Result<()> {
    static MADE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    MADE.get_or_init(|| super::root_only_dir(Path::new(STAGING)).map_err(|e| e.message))
        .clone()
        .map_err(Error::internal)
}
