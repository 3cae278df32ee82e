//! Sessions: state that lives across calls (a workspace directory, a
//! browser context; a container later). A call names one with
//! `_session_id`, or gets an ephemeral session on first use that is closed
//! when the call ends. Sessions are owned by the token subject that created
//! them, expire, can be capped in tasks, and do not survive a restart: on
//! start, sessions a previous process left open are closed and their
//! directories removed.

mod live;
pub mod local;
pub mod pool;
pub mod runtime;
mod slot;
mod spec;

pub use live::{CloseHook, LiveSession};
pub use local::{LocalConfig, LocalRuntime};
pub use pool::{BrowserContext, BrowserPool, PoolConfig, PoolStats};
pub use runtime::{Endpoint, ExecOutput, Health, InstanceId, RuntimeSpec, RuntimeTraits, SessionRuntime};
pub use slot::SessionSlot;
pub use spec::{DEFAULT_TIMEOUT, MAX_TIMEOUT, SessionSpec, Viewport};

use crate::store::{SessionRecord, SessionState, Store, Timestamp, run_blocking};
use crate::{Error, ErrorCode, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Every session of this process.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    root: PathBuf,
    live: Mutex<HashMap<String, Arc<LiveSession>>>,
}

impl Sessions {
    /// Sessions with their directories under `root`.
    pub fn new(store: Arc<dyn Store>, root: impl Into<PathBuf>) -> Sessions {
        Sessions { inner: Arc::new(Inner { store, root: root.into(), live: Mutex::new(HashMap::new()) }) }
    }

    /// Close what a previous process left open (its browsers and processes
    /// are gone) and delete leftover session directories. Returns how many
    /// records were closed.
    pub async fn reap_previous(&self) -> Result<usize> {
        let open = run_blocking(&self.inner.store, |s| s.list_sessions(Some(SessionState::Active))).await?;
        let count = open.len();
        for mut record in open {
            close_record(&mut record, "host restarted");
            run_blocking(&self.inner.store, move |s| s.put_session(&record)).await?;
        }
        let root = self.inner.root.clone();
        tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        })
        .await?
        .map_err(|e| Error::internal(format!("cannot clear old session directories: {e}")))?;
        Ok(count)
    }

    /// Open a session for `owner`.
    pub async fn create(&self, spec: SessionSpec, owner: &str, ephemeral: bool) -> Result<Arc<LiveSession>> {
        spec.validate()?;
        let id = uuid::Uuid::now_v7().simple().to_string();
        let dir = self.inner.root.join(&id);
        let session = Arc::new(LiveSession::new(id.clone(), owner.to_owned(), spec.clone(), ephemeral, dir));
        let (workspace, private) = (session.workspace(), session.private_dir());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&workspace)?;
            std::fs::create_dir_all(&private)
        })
        .await?
        .map_err(|e| Error::internal(format!("cannot create the session directory: {e}")))?;
        let now = Timestamp::now();
        let record = SessionRecord {
            id: id.clone(),
            owner: owner.to_owned(),
            state: SessionState::Active,
            ephemeral,
            spec: serde_json::to_value(&spec).unwrap_or_default(),
            tasks: 0,
            created_at: now,
            expires_at: Timestamp::from_datetime(now.to_datetime() + spec.timeout()),
            closed_at: None,
            close_reason: None,
        };
        run_blocking(&self.inner.store, move |s| s.put_session(&record)).await?;
        self.lock().insert(id, session.clone());
        Ok(session)
    }

    /// Session `id` for one call by `owner`: counts the task, and refuses a
    /// session that is someone else's (`not_found`, so ids cannot be probed),
    /// closed, expired or out of tasks (`session_unavailable`).
    pub async fn acquire(&self, id: &str, owner: &str) -> Result<Arc<LiveSession>> {
        let found = self.lock().get(id).cloned();
        let session = match found {
            Some(s) if s.owner == owner => s,
            _ => {
                // Tell a closed session of the caller's apart from an unknown one.
                let key = id.to_owned();
                return match run_blocking(&self.inner.store, move |s| s.get_session(&key)).await {
                    Ok(r) if r.owner == owner => Err(unavailable(id, r.close_reason.as_deref().unwrap_or("closed"))),
                    _ => Err(Error::not_found(format!("no session `{id}`; create one with POST /api/v1/sessions"))),
                };
            }
        };
        if session.is_expired() {
            self.close(id, "expired").await?;
            return Err(unavailable(id, "expired"));
        }
        if !session.take_task() {
            self.close(id, "task limit").await?;
            return Err(unavailable(id, "task limit"));
        }
        let (key, tasks) = (id.to_owned(), session.tasks());
        run_blocking(&self.inner.store, move |s| {
            let mut record = s.get_session(&key)?;
            record.tasks = tasks;
            s.put_session(&record)
        })
        .await?;
        Ok(session)
    }

    /// The stored record of session `id` if `owner` owns it.
    pub async fn get(&self, id: &str, owner: &str) -> Result<SessionRecord> {
        let key = id.to_owned();
        match run_blocking(&self.inner.store, move |s| s.get_session(&key)).await {
            Ok(record) if record.owner == owner => Ok(record),
            Ok(_) => Err(Error::not_found(format!("no session `{id}`"))),
            Err(e) => Err(e),
        }
    }

    /// `owner`'s sessions: active ones, or all with `include_closed`.
    pub async fn list(&self, owner: &str, include_closed: bool) -> Result<Vec<SessionRecord>> {
        let state = (!include_closed).then_some(SessionState::Active);
        let owner = owner.to_owned();
        run_blocking(&self.inner.store, move |s| {
            Ok(s.list_sessions(state)?.into_iter().filter(|r| r.owner == owner && !r.ephemeral).collect())
        })
        .await
    }

    /// Close session `id` for `reason`: release what is attached, delete its
    /// directory, record it. Closing a closed session is a no-op.
    pub async fn close(&self, id: &str, reason: &str) -> Result<()> {
        let Some(session) = self.lock().remove(id) else {
            return Ok(());
        };
        session.shut().await;
        let dir = session.dir().to_path_buf();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        let (key, reason, tasks) = (id.to_owned(), reason.to_owned(), session.tasks());
        run_blocking(&self.inner.store, move |s| {
            let mut record = s.get_session(&key)?;
            record.tasks = tasks;
            close_record(&mut record, &reason);
            s.put_session(&record)
        })
        .await
    }

    /// Close every session past its lifetime; returns how many.
    pub async fn expire(&self) -> Result<usize> {
        let expired: Vec<String> = self.lock().values().filter(|s| s.is_expired()).map(|s| s.id.clone()).collect();
        for id in &expired {
            self.close(id, "expired").await?;
        }
        Ok(expired.len())
    }

    /// Run [`Sessions::expire`] every `every` until the process ends.
    pub fn spawn_watchdog(&self, every: Duration) {
        let sessions = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                if let Err(e) = sessions.expire().await {
                    tracing::warn!(error = %e, "session watchdog failed");
                }
            }
        });
    }

    /// How many sessions are open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveSession>>> {
        self.inner.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn unavailable(id: &str, why: &str) -> Error {
    Error::new(
        ErrorCode::SessionUnavailable,
        format!("session `{id}` is closed ({why}); create a new one with POST /api/v1/sessions"),
    )
}

fn close_record(record: &mut SessionRecord, reason: &str) {
    record.state = SessionState::Closed;
    record.closed_at = Some(Timestamp::now());
    record.close_reason = Some(reason.to_owned());
}

#[cfg(test)]
mod tests;
