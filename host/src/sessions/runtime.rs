//! Where session browsers run. A [`SessionRuntime`] starts a browser host
//! (a Chromium process here; a container or a pod in later backends), says
//! where its DevTools endpoint is, and stops it. Everything above it (the
//! warm pool, browser contexts per session, the egress proxy) speaks CDP to
//! that endpoint and never assumes the host is a local process.

use crate::Result;
use futures::future::BoxFuture;
use std::fmt;

/// What a runtime is asked to start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeSpec {
    /// Memory limit in MiB, where the backend can enforce one.
    pub memory_mb: Option<u32>,
    /// CPU limit in cores, where the backend can enforce one.
    pub cpus: Option<f32>,
}

/// One browser host started by a runtime. The id is opaque to callers (a
/// process id for the local backend, a container id later).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(pub String);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How to reach a started browser host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The browser-level DevTools WebSocket URL (`ws://127.0.0.1:PORT/devtools/browser/...`).
    pub cdp_url: String,
}

/// Whether an instance is still running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Running as far as the runtime can tell.
    Running,
    /// Gone: exited, killed or removed; `reason` says how.
    Exited { reason: String },
}

/// What a command run with [`SessionRuntime::exec`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code, when the command exited normally.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// What a runtime can and cannot do, shown to operators and used to answer
/// session requests honestly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeTraits {
    /// `memory_mb` and `cpus` of a session are enforced.
    pub enforces_limits: bool,
    /// Commands can run inside the browser host's sandbox.
    pub can_exec: bool,
}

/// A backend that runs browser hosts. Every method is cancel-safe with
/// respect to the runtime's own bookkeeping; `terminate` is idempotent.
pub trait SessionRuntime: Send + Sync {
    /// Short name for logs and the API (`local`, `docker`, `kubernetes`).
    fn kind(&self) -> &'static str;

    /// What this backend enforces and supports.
    fn traits(&self) -> RuntimeTraits;

    /// Start a browser host; returns once its DevTools endpoint is known.
    fn spawn(&self, spec: RuntimeSpec) -> BoxFuture<'_, Result<InstanceId>>;

    /// The DevTools endpoint of a running instance.
    fn connect<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<Endpoint>>;

    /// Run `argv` inside the instance's sandbox (`invalid_input` on backends
    /// that have none, see [`RuntimeTraits::can_exec`]).
    fn exec<'a>(&'a self, id: &'a InstanceId, argv: &'a [String]) -> BoxFuture<'a, Result<ExecOutput>>;

    /// The instance's recent log output (the browser's stderr), newest last.
    fn logs<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<String>>;

    /// Stop the instance and free what it holds (process, profile, container).
    fn terminate<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Result<()>>;

    /// Whether the instance still runs.
    fn health<'a>(&'a self, id: &'a InstanceId) -> BoxFuture<'a, Health>;

    /// Stop instances a previous Helmdeck process left behind; returns how many.
    fn reap_orphans(&self) -> BoxFuture<'_, Result<usize>>;

    /// How the instances are confined (users, sandbox), for operators;
    /// `null` where the backend has nothing to say.
    fn confinement(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
