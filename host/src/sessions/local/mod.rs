//! The local session runtime: Chromium processes on this machine, each with
//! a fresh profile under one directory (`<data>/browsers/`), its DevTools
//! endpoint on a random loopback port, and its own process group so that
//! stopping it stops its renderers too. Profiles under that directory that
//! no running process of ours owns are a previous process's leftovers and
//! are reaped at start.

mod flags;
mod reap;

pub use flags::{NOWHERE_PROXY, SECURITY_SWITCHES, arguments};

use super::runtime::{Endpoint, ExecOutput, Health, InstanceId, RuntimeSpec, RuntimeTraits, SessionRuntime};
use crate::{Error, ErrorCode, Result};
use futures::future::BoxFuture;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::{oneshot, watch};

/// The environment variable naming the Chromium executable.
pub const CHROMIUM_ENV: &str = "HELMDECK_CHROMIUM";

/// Where Chromium is looked for when [`CHROMIUM_ENV`] is unset, best first.
/// Chromium's headless shell (Debian's `chromium-headless-shell`, the build
/// Playwright runs headless) is the same engine without the desktop
/// browser's UI layers: measured here, a context with its first page takes
/// 46 ms instead of 157 ms, a navigation 22 ms instead of 47 ms. Debian's
/// `/usr/bin/chromium*` are shell wrappers that add extension and API-key
/// settings, so the real binaries come first.
pub const CHROMIUM_CANDIDATES: &[&str] = &[
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];

/// How long a browser may take to print its DevTools address.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How many stderr lines of a browser are kept for [`SessionRuntime::logs`].
const LOG_LINES: usize = 200;

/// How the local runtime starts browsers.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The Chromium executable.
    pub executable: PathBuf,
    /// Profiles live in fresh directories under this one.
    pub profiles: PathBuf,
    /// Start Chromium without its sandbox (needed when running as root).
    pub no_sandbox: bool,
    /// Window size in CSS pixels (sessions set their own viewport).
    pub window: (u32, u32),
}

impl LocalConfig {
    /// A configuration for `executable` (or the first of
    /// [`CHROMIUM_CANDIDATES`] that exists, else `chromium` on `PATH`) with
    /// profiles under `profiles`; the sandbox is turned off only when this
    /// process runs as root. A missing browser is reported when one is
    /// first started.
    pub fn new(executable: Option<PathBuf>, profiles: PathBuf) -> LocalConfig {
        let executable = executable.unwrap_or_else(|| {
            CHROMIUM_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(|| "chromium".into())
        });
        LocalConfig { executable, profiles, no_sandbox: running_as_root(), window: (1280, 720) }
    }
}

/// Root cannot use Chromium's sandbox; `/proc/self` is owned by the
/// effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Chromium processes on this machine.
pub struct LocalRuntime {
    config: LocalConfig,
    instances: Mutex<HashMap<InstanceId, Arc<LocalInstance>>>,
}

struct LocalInstance {
    pid: u32,
    endpoint: Endpoint,
    log: Arc<Mutex<VecDeque<String>>>,
    exited: watch::Receiver<Option<String>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
}

impl LocalRuntime {
    /// A runtime starting browsers as `config` says.
    pub fn new(config: LocalConfig) -> LocalRuntime {
        LocalRuntime { config, instances: Mutex::new(HashMap::new()) }
    }

    /// The process id of instance `id` (tests and operators use it).
    pub fn pid(&self, id: &InstanceId) -> Option<u32> {
        self.lock().get(id).map(|i| i.pid)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<InstanceId, Arc<LocalInstance>>> {
        self.instances.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn instance(&self, id: &InstanceId) -> Result<Arc<LocalInstance>> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::new(ErrorCode::SessionUnavailable, format!("browser `{id}` is not running")))
    }

    async fn launch(&self) -> Result<InstanceId> {
        let profile = self.config.profiles.join(uuid::Uuid::now_v7().simple().to_string());
        tokio::fs::create_dir_all(&profile)
            .await
            .map_err(|e| Error::internal(format!("cannot create a browser profile in `{}`: {e}", profile.display())))?;
        let mut command = Command::new(&self.config.executable);
        // SAFETY: the closure runs in the forked child before exec and only
        // makes one async-signal-safe syscall (prctl). It makes the kernel
        // kill Chromium when the thread that started it, a runtime worker
        // living as long as Helmdeck, is gone: a Helmdeck that is killed
        // (SIGKILL, OOM) cannot run its shutdown code, and its browsers
        // must not outlive it.
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
                Ok(())
            });
        }
        let mut child = command
            .args(arguments(&profile, self.config.window, self.config.no_sandbox))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Chromium's crash handler leaves the browser's process group;
            // with its database inside the profile it is found and stopped
            // with it, and writes nothing to the user's home.
            .env("XDG_CONFIG_HOME", profile.join("config"))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::new(
                    ErrorCode::SessionUnavailable,
                    format!(
                        "cannot start Chromium `{}`: {e}; install it (`apt-get install chromium`) or set {CHROMIUM_ENV}",
                        self.config.executable.display()
                    ),
                )
            })?;
        let pid = child.id().unwrap_or_default();
        let stderr = child.stderr.take().ok_or_else(|| Error::internal("Chromium's stderr was not captured"))?;
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let found = tokio::time::timeout(LAUNCH_TIMEOUT, devtools_address(stderr, log.clone())).await;
        let cdp_url = match found {
            Ok(Some(url)) => url,
            outcome => {
                let _ = child.kill().await;
                let gone = profile.clone();
                let _ = tokio::task::spawn_blocking(move || reap::remove_profile(&gone)).await;
                let why =
                    if outcome.is_err() { "did not print its DevTools address in time" } else { "exited at start" };
                let tail = log
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .rev()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>();
                return Err(Error::new(
                    ErrorCode::SessionUnavailable,
                    format!("Chromium {why} (last output: {}); check {CHROMIUM_ENV}", tail.join(" | ")),
                ));
            }
        };
        let (kill, exited) = supervise(child, profile);
        let id = InstanceId(pid.to_string());
        let instance = LocalInstance { pid, endpoint: Endpoint { cdp_url }, log, exited, kill: Mutex::new(Some(kill)) };
        self.lock().insert(id.clone(), Arc::new(instance));
        Ok(id)
    }
}

/// Read Chromium's stderr until it names its DevTools address, then keep
/// the rest of its output in `log` in the background.
async fn devtools_address(stderr: ChildStderr, log: Arc<Mutex<VecDeque<String>>>) -> Option<String> {
    let mut lines = BufReader::new(stderr).lines();
    let keep = |log: &Mutex<VecDeque<String>>, line: String| {
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == LOG_LINES {
            log.pop_front();
        }
        log.push_back(line);
    };
    while let Ok(Some(line)) = lines.next_line().await {
        let url = line.strip_prefix("DevTools listening on ").map(str::to_owned);
        keep(&log, line);
        if let Some(url) = url {
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    keep(&log, line);
                }
            });
            return Some(url);
        }
    }
    None
}

/// Own the child: wait for it to exit (or kill its process group on
/// request), then delete its profile and publish why it ended.
fn supervise(mut child: Child, profile: PathBuf) -> (oneshot::Sender<()>, watch::Receiver<Option<String>>) {
    let (kill_tx, kill_rx) = oneshot::channel::<()>();
    let (exit_tx, exit_rx) = watch::channel(None);
    let pid = child.id();
    tokio::spawn(async move {
        let reason = tokio::select! {
            status = child.wait() => match status {
                Ok(s) => format!("the browser exited ({s})"),
                Err(e) => format!("the browser could not be waited for: {e}"),
            },
            _ = kill_rx => {
                if let Some(pid) = pid {
                    reap::kill_group(pid);
                }
                let _ = child.kill().await;
                "the browser was stopped".to_owned()
            }
        };
        // Renderers may outlive the browser process for a moment, and the
        // crash handler lives outside its group.
        if let Some(pid) = pid {
            reap::kill_group(pid);
        }
        let _ = tokio::task::spawn_blocking(move || {
            reap::kill_stragglers(&profile);
            reap::remove_profile(&profile);
        })
        .await;
        let _ = exit_tx.send(Some(reason));
    });
    (kill_tx, exit_rx)
}

impl SessionRuntime for LocalRuntime {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn traits(&self) -> RuntimeTraits {
        // One browser process serves several sessions' contexts here, so
        // per-session limits cannot be enforced, and there is no sandbox to
        // run commands in.
        RuntimeTraits { enforces_limits: false, can_exec: false }
    }

    fn spawn(&self, _spec: RuntimeSpec) -> BoxFuture<'_, Result<InstanceId>> {
        Box::pin(self.launch())
    }

    fn connect<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<Endpoint>> {
        Box::pin(async move { Ok(self.instance(id)?.endpoint.clone()) })
    }

    fn exec<'a>(&'a self, _id: &'a InstanceId, _argv: &'a [String]) -> BoxFuture<'a, Result<ExecOutput>> {
        Box::pin(async {
            Err(Error::invalid_input(
                "the local session runtime has no sandbox to run commands in; use a container runtime for exec",
            ))
        })
    }

    fn logs<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let instance = self.instance(id)?;
            let log = instance.log.lock().unwrap_or_else(PoisonError::into_inner);
            Ok(log.iter().cloned().collect::<Vec<_>>().join("\n"))
        })
    }

    fn terminate<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(instance) = self.lock().remove(id) else {
                return Ok(());
            };
            if let Some(kill) = instance.kill.lock().unwrap_or_else(PoisonError::into_inner).take() {
                let _ = kill.send(());
            }
            let mut exited = instance.exited.clone();
            let _ = exited.wait_for(Option::is_some).await;
            Ok(())
        })
    }

    fn health<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Health> {
        Box::pin(async move {
            match self.lock().get(id) {
                None => Health::Exited { reason: "the browser is not known to this runtime".into() },
                Some(i) => match i.exited.borrow().clone() {
                    None => Health::Running,
                    Some(reason) => Health::Exited { reason },
                },
            }
        })
    }

    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize>> {
        let profiles = self.config.profiles.clone();
        let ours: Vec<u32> = self.lock().values().map(|i| i.pid).collect();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || reap::reap(&profiles, &ours))
                .await
                .map_err(|e| Error::internal(format!("browser reaping task failed: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests;
