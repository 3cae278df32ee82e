//! The three processes of one command, all made between `fork` and `exec`
//! (so everything here is async-signal-safe: system calls on data prepared
//! before the first fork, no allocation, no locks):
//!
//! 1. the **relay**, the child `tokio::process` forked and waits for: still
//!    root, outside the command's namespaces. It unshares them, forks the
//!    init, closes every descriptor it inherited, waits for the init and
//!    exits the way the command did (re-raising a terminating signal), so
//!    `exit_code`/`signal` stay faithful. It dies with the server thread
//!    that started it (`PR_SET_PDEATHSIG`), and killing it ends everything
//!    else: the init dies with it, and with the init the whole namespace.
//! 2. the **init**, PID 1 of the command's PID namespace: builds the
//!    sandbox (cgroup, mounts, limits, privilege drop), forks the program
//!    and reaps every process of the namespace until the program exits,
//!    then exits itself; the kernel then kills whatever is left in the
//!    namespace (a background child, a `setsid` daemon) and only lets the
//!    init's exit complete once they are all gone.
//! 3. the **program**, PID 2, which std then `exec`s.
//!
//! Why an init of our own rather than the program as PID 1: PID 1 ignores
//! every signal it has no handler for (a shell's `kill $$`, SIGTERM from
//! `timeout`, SIGPIPE on a closed pipe would not end it), and it inherits
//! every orphan, whose zombies would count against the session's process
//! limit unless it reaps them, which ordinary programs do not.

/// The signal-death status of a process killed by `signal` (`waitpid`'s encoding).
fn is_signalled(status: libc::c_int) -> Option<libc::c_int> {
    libc::WIFSIGNALED(status).then_some(libc::WTERMSIG(status))
}

/// `fork` as a raw `clone(SIGCHLD)`: no `pthread_atfork` handlers, which
/// in a child of a multi-threaded process could wait on locks that another
/// thread held at the first fork.
pub fn fork() -> libc::pid_t {
    unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0) as libc::pid_t }
}

/// Put every signal back to its default action, with none blocked: the
/// server's handlers (tokio's write into descriptors that are closed here)
/// must not run in these processes, and the program starts as any would.
pub fn reset_signals() {
    for signal in 1..libc::SIGRTMAX() {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
    let mut none: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// Close every descriptor but `keep` (sorted ascending).
pub fn close_all_but(keep: &[libc::c_int]) {
    let mut first: libc::c_uint = 0;
    for &fd in keep {
        if fd as libc::c_uint > first {
            unsafe { libc::close_range(first, fd as libc::c_uint - 1, 0) };
        }
        first = fd as libc::c_uint + 1;
    }
    unsafe { libc::close_range(first, libc::c_uint::MAX, 0) };
}

/// The relay's life after forking the init: wait for it, then end as the
/// program ended (its status comes through `status`, written by the init;
/// without one, the init itself was killed, as by the OOM killer).
pub fn relay(init: libc::pid_t, status: libc::c_int, alive: libc::c_int) -> ! {
    close_all_but(&sorted(status, alive));
    let mut waited = 0;
    loop {
        let got = unsafe { libc::waitpid(init, &mut waited, 0) };
        if got == init || (got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR)) {
            break;
        }
    }
    let mut bytes = [0u8; 4];
    if unsafe { libc::read(status, bytes.as_mut_ptr().cast(), 4) } == 4 {
        waited = libc::c_int::from_ne_bytes(bytes);
    }
    exit_as(waited)
}

fn sorted(a: libc::c_int, b: libc::c_int) -> [libc::c_int; 2] {
    if a < b { [a, b] } else { [b, a] }
}

/// Exit with `status`: the same code, or death by the same signal.
fn exit_as(status: libc::c_int) -> ! {
    if let Some(signal) = is_signalled(status) {
        unsafe {
            // No core dump of a root process that holds the server's memory.
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
            libc::_exit(128 + signal)
        }
    }
    unsafe { libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 1 }) }
}

/// The init's life after forking the program: reap every process of the
/// namespace until the program is reaped, hand its status to the relay and
/// exit, which ends the namespace.
pub fn reap(program: libc::pid_t, status: libc::c_int) -> ! {
    close_all_but(&[status]);
    loop {
        let mut waited = 0;
        let got = unsafe { libc::waitpid(-1, &mut waited, 0) };
        if got == program {
            let bytes = waited.to_ne_bytes();
            unsafe {
                libc::write(status, bytes.as_ptr().cast(), 4);
                libc::_exit(0)
            }
        }
        if got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            unsafe { libc::_exit(1) }
        }
    }
}

/// Whether the process holding the other end of pipe `read_end` is gone
/// (its end closed): the check that closes the race of setting
/// `PR_SET_PDEATHSIG` just after the parent died.
pub fn parent_gone(read_end: libc::c_int) -> bool {
    let mut poll = libc::pollfd { fd: read_end, events: libc::POLLIN, revents: 0 };
    unsafe { libc::poll(&mut poll, 1, 0) > 0 && poll.revents & (libc::POLLHUP | libc::POLLERR) != 0 }
}

/// What `/proc/1/cmdline` of the init shows instead of the server's own
/// command line (which a fork copies).
const INIT_NAME: &[u8] = b"sandbox-init";

/// Where the server's command line and environment strings lie in its
/// memory (`arg_start..arg_end`, `env_start..env_end` of `/proc/self/stat`):
/// a forked init holds copies of them, which the kernel shows as its
/// `/proc/1/cmdline` and `environ`.
#[derive(Debug, Clone, Copy)]
pub struct ServerStrings {
    args: (usize, usize),
    env: (usize, usize),
}

impl ServerStrings {
    /// This process's areas, read once (before any fork: it allocates).
    /// `None` where `/proc/self/stat` cannot be read or parsed.
    pub fn of_this_process() -> Option<ServerStrings> {
        static AREAS: std::sync::OnceLock<Option<ServerStrings>> = std::sync::OnceLock::new();
        *AREAS.get_or_init(|| {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            // Fields after the command name (which may hold spaces), from field 3 on.
            let fields: Vec<usize> =
                stat.rsplit_once(')')?.1.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
            let area = |first: usize| Some((*fields.get(first - 3)?, *fields.get(first - 2)?));
            let (args, env) = (area(48)?, area(50)?);
            (args.0 > 0 && args.1 > args.0 && env.1 >= env.0).then_some(ServerStrings { args, env })
        })
    }
}

/// Name the init for what it is: blank the copies of the server's command
/// line and environment the fork left in the init's memory (the command,
/// sharing the init's uid, could read them as `/proc/1/cmdline`), write
/// the init's own name over them, and set its thread name. No
/// `PR_SET_MM_ARG_START`: that needs `CAP_SYS_RESOURCE`, which a server in
/// a container often lacks. Async-signal-safe.
pub fn rename_init(server: Option<ServerStrings>) {
    if let Some(ServerStrings { args, env }) = server {
        // SAFETY: both areas are this process's own writable stack pages
        // (copied at fork); nothing in the init reads them after this.
        unsafe {
            std::ptr::write_bytes(args.0 as *mut u8, 0, args.1 - args.0);
            std::ptr::write_bytes(env.0 as *mut u8, 0, env.1 - env.0);
            let name = INIT_NAME.len().min(args.1 - args.0 - 1);
            std::ptr::copy_nonoverlapping(INIT_NAME.as_ptr(), args.0 as *mut u8, name);
        }
    }
    unsafe { libc::prctl(libc::PR_SET_NAME, c"sandbox-init".as_ptr(), 0, 0, 0) };
}
