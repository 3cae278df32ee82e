//! The local session runtime: Chromium processes on this machine, each with
//! a fresh profile under one directory (`<data>/browsers/`), its DevTools
//! endpoint on a random loopback port, and its own process group so that
//! stopping it stops its renderers too. Run as root, each browser runs as
//! an unprivileged uid of its own with Chromium's sandbox on ([`users`]).
//! Profiles under that directory that no running process of ours owns, and
//! every process of a browser uid no live server holds, are a previous
//! process's leftovers and are reaped at start.

mod flags;
mod reap;
mod users;

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
    /// Run each browser as a browser uid of its own ([`users`]): set when
    /// this process runs as root.
    pub own_users: bool,
    /// Window size in CSS pixels (sessions set their own viewport).
    pub window: (u32, u32),
}

impl LocalConfig {
    /// A configuration for `executable` (or the first of
    /// [`CHROMIUM_CANDIDATES`] that exists, else `chromium` on `PATH`) with
    /// profiles under `profiles`; browsers get users of their own when this
    /// process runs as root. A missing browser is reported when one is
    /// first started.
    pub fn new(executable: Option<PathBuf>, profiles: PathBuf) -> LocalConfig {
        let executable = executable.unwrap_or_else(|| {
            CHROMIUM_CANDIDATES.iter().map(PathBuf::from).find(|p| p.is_file()).unwrap_or_else(|| "chromium".into())
        });
        LocalConfig { executable, profiles, own_users: running_as_root(), window: (1280, 720) }
    }

    /// [`LocalConfig::new`] for a server whose data directory keeps its
    /// profiles in `in_data`; when browsers get users of their own, their
    /// profiles live under [`users::profiles_for`] instead, since the way to
    /// a data directory may be closed to them.
    pub fn for_data_dir(executable: Option<PathBuf>, in_data: PathBuf) -> LocalConfig {
        let config = LocalConfig::new(executable, in_data);
        match config.own_users {
            true => LocalConfig { profiles: users::profiles_for(&config.profiles), ..config },
            false => config,
        }
    }
}

/// `/proc/self` is owned by the effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// How the browsers are confined, for operators (`GET /api/v1/browsers`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Confinement {
    /// Chromium's own sandbox is on.
    pub chromium_sandbox: bool,
    /// Why it is off, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_sandbox_reason: Option<String>,
    /// The uids the running browsers run as (empty: this process's own).
    pub users: Vec<u32>,
}

/// Chromium processes on this machine.
pub struct LocalRuntime {
    config: LocalConfig,
    instances: Mutex<HashMap<InstanceId, Arc<LocalInstance>>>,
    /// Whether Chromium's sandbox starts here, found out at the first launch.
    sandbox: tokio::sync::OnceCell<std::result::Result<(), String>>,
}

struct LocalInstance {
    pid: u32,
    /// The browser uid it runs as, if it has one.
    uid: Option<u32>,
    endpoint: Endpoint,
    log: Arc<Mutex<VecDeque<String>>>,
    exited: watch::Receiver<Option<String>>,
    kill: Mutex<Option<oneshot::Sender<()>>>,
}

impl LocalRuntime {
    /// A runtime starting browsers as `config` says.
    pub fn new(config: LocalConfig) -> LocalRuntime {
        LocalRuntime { config, instances: Mutex::new(HashMap::new()), sandbox: tokio::sync::OnceCell::new() }
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

    /// How browsers are confined here.
    pub fn confinement(&self) -> Confinement {
        let sandbox = self.sandbox.get().cloned().unwrap_or(Ok(()));
        Confinement {
            chromium_sandbox: sandbox.is_ok(),
            no_sandbox_reason: sandbox.err(),
            users: self.lock().values().filter_map(|i| i.uid).collect(),
        }
    }

    /// Whether Chromium's sandbox can start here, probed once as browser
    /// `uid` (root cannot use it; a kernel without unprivileged user
    /// namespaces cannot give it one).
    async fn sandbox(&self, uid: Option<u32>) -> std::result::Result<(), String> {
        let probe = || async move {
            let Some(uid) = uid else {
                return if running_as_root() { Err("the browser runs as root".to_owned()) } else { Ok(()) };
            };
            let works = tokio::task::spawn_blocking(move || users::sandbox_works(uid)).await.unwrap_or(false);
            if works {
                return Ok(());
            }
            let why = "the kernel gives the browser's user no user namespace".to_owned();
            tracing::warn!("Chromium's sandbox cannot start ({why}): browsers run with --no-sandbox");
            Err(why)
        };
        self.sandbox.get_or_init(probe).await.clone()
    }

    async fn launch(&self) -> Result<InstanceId> {
        let profile = self.config.profiles.join(uuid::Uuid::now_v7().simple().to_string());
        tokio::fs::create_dir_all(&profile)
            .await
            .map_err(|e| Error::internal(format!("cannot create a browser profile in `{}`: {e}", profile.display())))?;
        let user = match self.config.own_users {
            true => Some(self.claim_user(&profile).await?),
            false => None,
        };
        let uid = user.as_ref().map(users::UidClaim::uid);
        let no_sandbox = self.sandbox(uid).await.is_err();
        let mut command = Command::new(&self.config.executable);
        if let Some(uid) = uid {
            // std drops the supplementary groups when root changes uid.
            command.uid(uid).gid(users::GID).env("HOME", &profile).env("XDG_CACHE_HOME", profile.join("cache"));
        }
        // SAFETY: the closure runs in the forked child before exec (after
        // the uid change, which would clear it) and only makes one
        // async-signal-safe syscall (prctl). It makes the kernel
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
            .args(arguments(&profile, self.config.window, no_sandbox))
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
                let _ = tokio::task::spawn_blocking(move || stop(pid, &gone, user)).await;
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
        let (kill, exited) = supervise(child, profile, user);
        let id = InstanceId(pid.to_string());
        let instance =
            LocalInstance { pid, uid, endpoint: Endpoint { cdp_url }, log, exited, kill: Mutex::new(Some(kill)) };
        self.lock().insert(id.clone(), Arc::new(instance));
        Ok(id)
    }
}

impl LocalRuntime {
    /// Claim a browser uid and give it `profile` (and the way there).
    async fn claim_user(&self, profile: &std::path::Path) -> Result<users::UidClaim> {
        let (profiles, profile) = (self.config.profiles.clone(), profile.to_owned());
        let claimed = tokio::task::spawn_blocking(move || {
            let claim = users::claim()?;
            users::open_path_to(&profiles).and_then(|()| users::own_profile(&profile, claim.uid())).map_err(|e| {
                Error::internal(format!("cannot give `{}` to the browser's user: {e}", profile.display()))
            })?;
            Ok(claim)
        });
        claimed.await.map_err(|e| Error::internal(format!("browser user task failed: {e}")))?
    }
}

/// Stop what is left of browser `pid` (its group, its helpers elsewhere,
/// every process of its uid), delete its profile, then free its uid. Blocking.
fn stop(pid: u32, profile: &std::path::Path, user: Option<users::UidClaim>) {
    reap::kill_group(pid);
    reap::kill_stragglers(profile);
    if let Some(user) = &user
        && let Err(e) = users::kill_all(user.uid())
    {
        tracing::warn!(uid = user.uid(), "a browser's processes outlived it: {}", e.message);
    }
    reap::remove_profile(profile);
    drop(user);
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
/// request), then stop what is left of it ([`stop`]) and publish why it ended.
fn supervise(
    mut child: Child,
    profile: PathBuf,
    user: Option<users::UidClaim>,
) -> (oneshot::Sender<()>, watch::Receiver<Option<String>>) {
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
        let pid = pid.unwrap_or_default();
        let _ = tokio::task::spawn_blocking(move || stop(pid, &profile, user)).await;
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

    fn confinement(&self) -> serde_json::Value {
        serde_json::to_value(LocalRuntime::confinement(self)).unwrap_or_default()
    }

    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize>> {
        let profiles = self.config.profiles.clone();
        let ours: Vec<u32> = self.lock().values().map(|i| i.pid).collect();
        let own_users = self.config.own_users;
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                // By uid first: that takes every process a dead server's
                // browsers started, wherever they moved.
                let by_uid = if own_users { users::reap() } else { 0 };
                reap::reap(&profiles, &ours).map(|by_profile| by_profile.max(by_uid))
            })
            .await
            .map_err(|e| Error::internal(format!("browser reaping task failed: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests;
