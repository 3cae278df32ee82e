//! `helmdeck:host/exec`: run a command in the session workspace, contained
//! by [`sandbox`] (its own uid, namespaces, rlimits). The WIT adapter and
//! the run loop (stdin, capped output, wall-clock timeout, cleanup) live
//! here. A non-zero exit, a timeout or a limit hit is a normal result that
//! says what happened, never an error.

pub mod claims;
pub mod sandbox;
#[cfg(test)]
mod tests;

use super::cleanup::CallCleanup;
use super::{CapabilityAudit, CapsContext};
use crate::engine::wit::host::exec::{Command, Host, Output};
use crate::engine::wit::host::types::Error as WitError;
use crate::sessions::LiveSession;
use crate::{Error, Result};
use claims::UidClaim;
use sandbox::{Limits, Prepared, UID_BASE, UID_COUNT};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
const DEFAULT_MEMORY_MB: u32 = 2048;
const MAX_MEMORY_MB: u32 = 8192;
const DEFAULT_PROCESSES: u32 = 64;
const MAX_PROCESSES: u32 = 512;
const DEFAULT_OUTPUT: u32 = 1 << 20;
const MAX_OUTPUT: u32 = 8 << 20;
const MAX_FILE_BYTES: u64 = 1 << 30;
const MAX_OPEN_FILES: u64 = 1024;
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The uids handed to sessions: one per session while it is open, so one
/// session's commands can neither signal nor outlive into another's. Each
/// is claimed machine-wide ([`claims`]), so another server's sessions never
/// get it either.
#[derive(Default)]
pub struct SessionUsers {
    assigned: Mutex<HashMap<String, Assigned>>,
}

/// A session's uid and its turn: one command of a session at a time, held
/// from the workspace hand-over to the end of the command's cleanup, so no
/// process of the session runs while the host walks its workspace (a
/// background process could otherwise swap what the walk is about to
/// touch) and every command starts with none of the last one left.
struct Assigned {
    claim: UidClaim,
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The right to run the session's next command, held until it is cleaned up.
pub type Turn = tokio::sync::OwnedMutexGuard<()>;

impl SessionUsers {
    /// The uid of `session` and its turn to run a command (awaited: the
    /// session's previous command must have ended), claiming a uid on its
    /// first command; its processes are killed and the uid released when
    /// the session closes.
    pub async fn turn_for(self: &Arc<Self>, session: &LiveSession) -> Result<(u32, Turn)> {
        let (uid, turn) = self.uid_for(session).await?;
        Ok((uid, turn.lock_owned().await))
    }

    async fn uid_for(self: &Arc<Self>, session: &LiveSession) -> Result<(u32, Arc<tokio::sync::Mutex<()>>)> {
        if let Some(assigned) = self.lock().get(&session.id) {
            return Ok((assigned.claim.uid(), Arc::clone(&assigned.turn)));
        }
        let claim = tokio::task::spawn_blocking(|| claims::claim_fresh(UID_BASE..UID_BASE + UID_COUNT))
            .await
            .map_err(|e| Error::internal(format!("claiming a session user failed: {e}")))??;
        let uid = claim.uid();
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        {
            let mut assigned = self.lock();
            // A concurrent first command of the session claimed one already:
            // this claim is dropped, and the uid released, on return.
            if let Some(theirs) = assigned.get(&session.id) {
                return Ok((theirs.claim.uid(), Arc::clone(&theirs.turn)));
            }
            assigned.insert(session.id.clone(), Assigned { claim, turn: Arc::clone(&turn) });
        }
        let users = Arc::clone(self);
        let id = session.id.clone();
        session
            .on_close(Box::new(move || {
                Box::pin(async move {
                    let _ = tokio::task::spawn_blocking(move || sandbox::kill_all(uid)).await;
                    // Released only once nothing of the session runs as it.
                    users.lock().remove(&id);
                })
            }))
            .await;
        Ok((uid, turn))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Assigned>> {
        self.assigned.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Host for CapsContext {
    async fn run(&mut self, cmd: Command) -> Result<Output, WitError> {
        let started = Instant::now();
        let mut audit = CapabilityAudit::start(self, "exec.run", Some(describe(&cmd)), started);
        let result = self.run_command(cmd).await;
        match &result {
            Ok(out) => {
                audit.bytes_in = (out.stdout.len() + out.stderr.len()) as u64;
                audit.details = Some(serde_json::json!({
                    "exit_code": out.exit_code, "signal": out.signal, "timed_out": out.timed_out,
                    "truncated": out.truncated, "duration_ms": out.duration_ms,
                }));
            }
            Err(e) => audit = audit.failed(e),
        }
        self.audit(audit).await?;
        result.map_err(Into::into)
    }
}

impl CapsContext {
    async fn run_command(&self, cmd: Command) -> Result<Output> {
        let session = self.session.get().await?;
        let cwd = crate::caps::fs::workspace::relative(cmd.cwd.as_deref().unwrap_or(""))
            .map_err(|e| Error::new(e.code, e.message.replace("`path`", "`cwd`")))?;
        let plan = Plan::from_command(&cmd)?;
        let (uid, _turn) = self.services.session_users.turn_for(&session).await?;
        let workspace = session.workspace();
        let root = workspace.clone();
        tokio::task::spawn_blocking(move || sandbox::hand_over(&root, uid))
            .await
            .map_err(|e| Error::internal(format!("workspace task failed: {e}")))??;
        let prepared = Prepared::new(&workspace, &cwd, uid, plan.limits)?;
        execute(cmd, plan, prepared, uid, &self.call.cleanup).await
    }
}

/// The limits and caps of one command, clamped to the host's maxima.
struct Plan {
    limits: Limits,
    timeout: Duration,
    output_cap: usize,
}

impl Plan {
    fn from_command(cmd: &Command) -> Result<Plan> {
        if cmd.program.is_empty() || cmd.program.contains('\0') {
            return Err(Error::invalid_input("`program` must be a program name or path"));
        }
        if let Some((name, _)) = cmd.env.iter().find(|(name, value)| !valid_env_name(name) || value.contains('\0')) {
            return Err(Error::invalid_input(format!(
                "`env`: `{}` is not a usable variable name (letters, digits and `_`, not starting with a digit)",
                name.escape_debug()
            )));
        }
        let timeout = cmd.timeout_ms.map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(u64::from(ms.max(1))));
        let timeout = timeout.min(MAX_TIMEOUT);
        // Unless the pack sets one, the CPU budget is a backstop a second
        // past the deadline: a busy single process then meets the deadline
        // first and is reported `timed_out`, instead of racing the kernel's
        // CPU-limit kill to it.
        let backstop = timeout.as_millis().div_ceil(1000) as u64 + 1;
        let cpu = cmd.cpu_seconds.map_or(backstop, |s| u64::from(s.max(1))).min(MAX_TIMEOUT.as_secs() + 1);
        Ok(Plan {
            limits: Limits {
                memory_bytes: u64::from(cmd.memory_mb.unwrap_or(DEFAULT_MEMORY_MB).clamp(16, MAX_MEMORY_MB)) << 20,
                processes: u64::from(cmd.max_processes.unwrap_or(DEFAULT_PROCESSES).clamp(1, MAX_PROCESSES)),
                cpu_seconds: cpu,
                file_bytes: MAX_FILE_BYTES,
                open_files: MAX_OPEN_FILES,
            },
            timeout,
            output_cap: cmd.max_output_bytes.unwrap_or(DEFAULT_OUTPUT).min(MAX_OUTPUT) as usize,
        })
    }
}

async fn execute(cmd: Command, plan: Plan, prepared: Prepared, uid: u32, cleanup: &CallCleanup) -> Result<Output> {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env_clear()
        .env("PATH", PATH)
        .env("HOME", "/tmp")
        .env("TMPDIR", "/tmp")
        .env("LANG", "C.UTF-8")
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    prepared.apply(&mut command);
    let mut child = command.spawn().map_err(|e| spawn_error(&cmd.program, e))?;
    let processes = CommandProcesses { uid, cleanup: cleanup.clone(), ended: false };
    if let (Some(bytes), Some(mut stdin)) = (cmd.stdin, child.stdin.take()) {
        // A command that never reads its input must not hold us up.
        tokio::spawn(async move {
            let _ = stdin.write_all(&bytes).await;
        });
    }
    let stdout = tokio::spawn(capped(child.stdout.take(), plan.output_cap));
    let stderr = tokio::spawn(capped(child.stderr.take(), plan.output_cap));
    let waited = tokio::time::timeout(plan.timeout, child.wait()).await;
    // Whatever happened, nothing of this command outlives it: background
    // children would otherwise hold the pipes open (and keep running).
    processes.end().await?;
    let (status, timed_out) = match waited {
        Ok(status) => (status.map_err(|e| Error::internal(format!("waiting for the command failed: {e}")))?, false),
        Err(_) => {
            (child.wait().await.map_err(|e| Error::internal(format!("waiting for the command failed: {e}")))?, true)
        }
    };
    let (stdout, out_cut) = stdout.await.map_err(|e| Error::internal(format!("reading output failed: {e}")))?;
    let (stderr, err_cut) = stderr.await.map_err(|e| Error::internal(format!("reading output failed: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(Output {
        exit_code: status.code(),
        signal: status.signal(),
        stdout,
        stderr,
        truncated: out_cut || err_cut,
        timed_out,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// Every process of one command: the whole tree running as the session's
/// uid, detached and double-forked ones included, which the child handle
/// (`kill_on_drop`) alone would leave running. They are ended by
/// [`sandbox::kill_all`] on every path: after the command exits, at its
/// timeout ([`CommandProcesses::end`]), and when the call is dropped while it
/// runs (`Drop`: cancelled, or past the pack's time limit). The killing runs on
/// the call's [`CallCleanup`], so the call's records are written only once
/// nothing of the command is left.
struct CommandProcesses {
    uid: u32,
    cleanup: CallCleanup,
    ended: bool,
}

impl CommandProcesses {
    /// End them now and return once none is left.
    async fn end(mut self) -> Result<()> {
        self.ended = true;
        let uid = self.uid;
        self.cleanup
            .spawn_blocking(move || sandbox::kill_all(uid))
            .await
            .map_err(|e| Error::internal(format!("cleanup task failed: {e}")))?
    }
}

impl Drop for CommandProcesses {
    fn drop(&mut self) {
        if !self.ended {
            let uid = self.uid;
            self.cleanup.defer_blocking(move || {
                if let Err(e) = sandbox::kill_all(uid) {
                    tracing::error!(error = %e, uid, "could not end the processes of a cancelled command");
                }
            });
        }
    }
}

/// Read `stream` to its end, keeping the first `cap` bytes; the rest is
/// drained (so the command never blocks on a full pipe) and reported.
async fn capped(stream: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut stream) = stream else { return (Vec::new(), false) };
    let (mut kept, mut cut, mut buf) = (Vec::new(), false, vec![0u8; 64 * 1024]);
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    (kept, cut)
}

fn spawn_error(program: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::invalid_input(format!(
            "`program` `{}` was not found on PATH ({PATH}) or in the workspace",
            program.escape_debug()
        )),
        std::io::ErrorKind::PermissionDenied => {
            Error::invalid_input(format!("`program` `{}` is not executable", program.escape_debug()))
        }
        _ => Error::internal(format!("the command could not be started in its sandbox: {e}")),
    }
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `program arg…` for the audit record, cut short.
fn describe(cmd: &Command) -> String {
    let mut text = cmd.program.clone();
    for arg in &cmd.args {
        text.push(' ');
        text.push_str(arg);
    }
    if text.len() > 200 {
        let mut end = 200;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
