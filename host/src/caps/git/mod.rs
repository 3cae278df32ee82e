//! `helmdeck:host/git`: clone, inspect, commit and push in the session
//! workspace with libgit2 (git2), no `git` child process, so no secret in
//! any argv, environment or file. The remote's address passes the egress
//! guard and the manifest's `git.hosts`; the credential comes from the
//! vault and goes only to the remote the host recorded ([`remote`]); the
//! git directory lives in the session's private directory ([`repo`]).

mod fifo;
mod remote;
mod repo;
mod state;

use super::{CapabilityAudit, CapsContext};
use crate::engine::wit::host::git::{CloneOptions, CloneResult, CommitInfo, FileStatus, Host, PushResult};
use crate::engine::wit::host::types::Error as WitError;
use crate::sessions::LiveSession;
use crate::vault::{CredentialUse, Secret};
use crate::{Error, ErrorCode, Result};
use helmdeck_marketplace::Capability;
use remote::{Authenticator, HostKeyPolicy, Refusal, Remote, Transport};
use repo::{Checkout, CommitSummary, Destinations};
use state::{GitState, Origin, Work};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long a clone or push may take.
const NETWORK_DEADLINE: Duration = Duration::from_secs(120);
/// How long a local operation (status, diff, log, commit) may take.
const LOCAL_DEADLINE: Duration = Duration::from_secs(60);
/// Attempts of a clone that fails for a transient network reason.
const CLONE_ATTEMPTS: u32 = 3;
/// Largest diff returned.
const MAX_DIFF_BYTES: u32 = 4 << 20;

impl Host for CapsContext {
    async fn clone(&mut self, options: CloneOptions) -> Result<CloneResult, WitError> {
        let target = Remote::parse(&options.url).ok().map(|r| r.url);
        let mut audit = CapabilityAudit::start(self, "git.clone", target, Instant::now());
        let result = self.clone_repo(options.clone()).await;
        match &result {
            // The credential's name goes under `name`: the redactor masks any field called `credential`.
            Ok(done) => {
                audit.details = Some(serde_json::json!({
                    "name": options.credential, "path": done.path, "branch": done.branch, "head": done.head
                }))
            }
            Err(e) => audit = audit.failed(e),
        }
        self.audit(audit).await?;
        result.map_err(Into::into)
    }

    async fn init(&mut self, path: String) -> Result<String, WitError> {
        let mut audit = CapabilityAudit::start(self, "git.init", Some(path.clone()), Instant::now());
        let result = self.init_repo(&path).await;
        if let Err(e) = &result {
            audit = audit.failed(e);
        }
        self.audit(audit).await?;
        result.map_err(Into::into)
    }

    async fn status(&mut self, path: String) -> Result<Vec<FileStatus>, WitError> {
        let result = self
            .local("git.status", &path, |repo| repo::status(&repo))
            .await
            .map(|list| list.into_iter().map(|(path, s)| FileStatus { path, status: s.to_owned() }).collect());
        result.map_err(Into::into)
    }

    async fn diff(&mut self, path: String, max_bytes: u32) -> Result<String, WitError> {
        let cap = max_bytes.clamp(1, MAX_DIFF_BYTES) as usize;
        self.local("git.diff", &path, move |repo| repo::diff(&repo, cap)).await.map_err(Into::into)
    }

    async fn log(&mut self, path: String, max: u32) -> Result<Vec<CommitInfo>, WitError> {
        let max = max.clamp(1, 1000) as usize;
        let result = self.local("git.log", &path, move |repo| repo::log(&repo, max)).await;
        result.map(|commits| commits.into_iter().map(commit_info).collect()).map_err(Into::into)
    }

    async fn commit(&mut self, path: String, message: String) -> Result<CommitInfo, WitError> {
        if message.trim().is_empty() {
            return Err(Error::invalid_input("`message` must not be empty").into());
        }
        let author = self.call.actor.clone();
        let result = self
            .local("git.commit", &path, move |repo| {
                let email = format!("{}@agents.helmdeck.invalid", email_safe(&author));
                let signature = git2::Signature::now(&author, &email)?;
                repo::commit(&repo, &signature, &message)
            })
            .await
            .and_then(|done| {
                done.ok_or_else(|| {
                    Error::invalid_input("nothing to commit: the working tree matches HEAD; change files first")
                })
            });
        result.map(commit_info).map_err(Into::into)
    }

    async fn push(&mut self, path: String, credential: Option<String>) -> Result<PushResult, WitError> {
        let mut entry = CapabilityAudit::start(self, "git.push", Some(path.clone()), Instant::now());
        let result = self.push_repo(&path, credential).await;
        match &result {
            Ok(done) => {
                entry.details =
                    Some(serde_json::json!({ "remote": done.remote, "branch": done.branch, "head": done.head }))
            }
            Err(e) => entry = entry.failed(e),
        }
        self.audit(entry).await?;
        result.map_err(Into::into)
    }
}

impl CapsContext {
    async fn clone_repo(&self, options: CloneOptions) -> Result<CloneResult> {
        prepare_libgit2();
        let remote = Remote::parse(&options.url)?;
        let session = self.session.get().await?;
        let rel = match options.dir.as_deref() {
            Some(dir) => super::fs::workspace::relative(dir).map_err(|e| rename_field(e, "dir"))?,
            None => PathBuf::from(remote.name()),
        };
        if rel.as_os_str().is_empty() {
            return Err(Error::invalid_input("`dir` must name a directory inside the workspace"));
        }
        let checkout = checkout_at(&session, &rel, &slash(&rel))?;
        let occupied = checkout.git_dir.exists()
            || std::fs::read_dir(&checkout.workdir).is_ok_and(|mut entries| entries.next().is_some());
        if occupied {
            return Err(Error::invalid_input(format!(
                "`{}` already holds a checkout or files; pass another `dir`",
                rel.display()
            )));
        }
        let connection = self.connect(&remote, &session, options.credential.as_deref()).await?;
        let branch = options.branch.clone();
        let slot = git_state().slot(Work::Network)?;
        let (branch, head, destinations) = self
            .call
            .cleanup
            .spawn_blocking({
                let checkout = checkout.clone();
                move || {
                    let _slot = slot;
                    let (branch, head) = clone_with_retries(&connection, branch.as_deref(), &checkout)?;
                    let destinations = checkout.open().and_then(|repo| Destinations::read(&repo)).map_err(|e| {
                        checkout.discard();
                        Error::internal(format!("cannot read the new checkout's configuration: {}", e.message()))
                    })?;
                    Ok::<_, Error>((branch, head, destinations))
                }
            })
            .await
            .map_err(|e| Error::internal(format!("git task failed: {e}")))??;
        let origin = Origin { url: remote.url.clone(), credential: options.credential, destinations };
        git_state().record(&session, &checkout.git_dir, origin).await;
        Ok(CloneResult { path: slash(&rel), branch, head, remote: remote.url })
    }

    async fn push_repo(&self, path: &str, credential: Option<String>) -> Result<PushResult> {
        prepare_libgit2();
        if self.scope(Capability::Git).push != Some(true) {
            return Err(Error::unauthorized(format!(
                "pack `{}` may not push; its manifest needs `push: true` under `capabilities.git`",
                self.call.pack
            )));
        }
        let session = self.session.get().await?;
        let checkout = self.checkout(&session, path)?;
        // Where the push goes is what the host recorded in its own memory at
        // clone time: nothing on disk (which a session may reach) decides it.
        let origin = git_state().origin(&session.id, &checkout.git_dir).ok_or_else(|| {
            Error::not_found(format!("`{path}` has no remote recorded in this session; clone it with repo.fetch"))
        })?;
        let remote = Remote::parse(&origin.url)?;
        let credential = credential.or(origin.credential.clone());
        let connection = self.connect(&remote, &session, credential.as_deref()).await?;
        let slot = git_state().slot(Work::Network)?;
        let outcome = self
            .call
            .cleanup
            .spawn_blocking(move || {
                let _slot = slot;
                let repo = checkout.open().map_err(|e| connection.error(e, None, "push"))?;
                let now = Destinations::read(&repo).map_err(|e| connection.error(e, None, "push"))?;
                if let Some(entry) = origin.destinations.first_change(&now) {
                    return Err(Error::unauthorized(format!(
                        "the checkout's git configuration changed `{entry}` since the clone; a credential goes only to \
                     the remote the checkout was cloned from, so the push is refused"
                    )));
                }
                let auth = connection.authenticator();
                repo::push(&repo, &connection.url, &auth).map_err(|e| connection.error(e, auth.refusal.get(), "push"))
            })
            .await
            .map_err(|e| Error::internal(format!("git task failed: {e}")))??;
        if let Some((refname, reason)) = outcome.rejected {
            return Err(Error::new(
                ErrorCode::SchemaMismatch,
                format!(
                    "the remote rejected the update of `{refname}` ({reason}); it has commits this checkout lacks: \
                     clone again, redo the change and push"
                ),
            )
            .with_details(serde_json::json!({ "ref": refname, "reason": reason })));
        }
        Ok(PushResult { branch: outcome.branch, head: outcome.head, remote: remote.url })
    }

    /// Vet the remote and gather what a connection needs.
    async fn connect(&self, remote: &Remote, session: &LiveSession, credential: Option<&str>) -> Result<Connection> {
        let scope = self.scope(Capability::Git);
        if !scope.allows_host(remote.host.trim_start_matches('[').trim_end_matches(']')) {
            return Err(Error::new(
                ErrorCode::EgressDenied,
                format!(
                    "`{}` is outside this pack's git scope ({}); add it to `capabilities.git.hosts` in helmdeck-pack.yaml",
                    remote.host,
                    scope.hosts.join(", ")
                ),
            ));
        }
        let vetted = self.services.http.guard().vet_host(&remote.host, remote.port).await.map_err(Error::from)?;
        let secret = match credential {
            Some(name) => Some(
                self.services
                    .vault
                    .use_secret(&CredentialUse {
                        name,
                        pack: &self.call.pack,
                        subject: &self.call.actor,
                        scope: &scope.credentials,
                        to: crate::vault::Destination {
                            scheme: remote.url.split_once("://").map_or("ssh", |(scheme, _)| scheme),
                            host: &remote.host,
                            port: Some(remote.port),
                            path: &remote.path,
                        },
                    })
                    .await?,
            ),
            None => None,
        };
        let host_key = match &secret {
            Some(Secret::SshKey { host_key: Some(line), .. }) => HostKeyPolicy::Pinned(remote::parse_host_key(line)?),
            _ => HostKeyPolicy::Recorded {
                file: session.private_dir().join("known_hosts.json"),
                authority: remote.authority(),
            },
        };
        if let Some(s) = &secret {
            let fits = matches!((remote.transport, s), (Transport::Ssh, Secret::SshKey { .. }))
                || (remote.transport == Transport::Http
                    && !matches!(s, Secret::SshKey { .. } | Secret::Cookies { .. } | Secret::ProviderKey { .. }));
            if !fits {
                return Err(Error::invalid_input(format!(
                    "credential `{}` ({}) cannot authenticate this remote; use an ssh_key credential for SSH and an \
                     api_key, basic or oauth one for HTTP",
                    credential.unwrap_or_default(),
                    s.kind().as_str()
                )));
            }
        }
        Ok(Connection {
            url: remote.connect_url(vetted.addrs().next()),
            credential: credential.map(str::to_owned),
            secret,
            host_key,
            vault: self.services.vault.clone(),
        })
    }

    async fn init_repo(&self, path: &str) -> Result<String> {
        prepare_libgit2();
        let session = self.session.get().await?;
        let checkout = locate(&session, path)?;
        if checkout.git_dir.exists() {
            return Err(Error::invalid_input(format!(
                "`path` `{path}` is already a checkout in this session; use it as it is"
            )));
        }
        let vault = self.services.vault.clone();
        let slot = git_state().slot(Work::Local)?;
        self.call
            .cleanup
            .spawn_blocking(move || {
                let _slot = slot;
                repo::init(&checkout).map_err(|e| {
                    checkout.discard_git_dir();
                    Error::internal(format!("git: {}", vault.mask(e.message())))
                })
            })
            .await
            .map_err(|e| Error::internal(format!("git task failed: {e}")))??;
        Ok(repo::INITIAL_BRANCH.to_owned())
    }

    fn checkout(&self, session: &LiveSession, path: &str) -> Result<Checkout> {
        let checkout = locate(session, path)?;
        if !checkout.git_dir.exists() {
            return Err(Error::not_found(format!(
                "`{path}` is not a checkout in this session; clone one first (repo.fetch) and pass its `path`"
            )));
        }
        Ok(checkout)
    }

    /// Run a local (no network) operation on the checkout at `path` and audit it.
    async fn local<T: Send + 'static>(
        &self,
        capability: &str,
        path: &str,
        op: impl FnOnce(git2::Repository) -> std::result::Result<T, git2::Error> + Send + 'static,
    ) -> Result<T> {
        let mut audit = CapabilityAudit::start(self, capability, Some(path.to_owned()), Instant::now());
        prepare_libgit2();
        let result = async {
            let session = self.session.get().await?;
            let checkout = self.checkout(&session, path)?;
            let vault = self.services.vault.clone();
            let slot = git_state().slot(Work::Local)?;
            let work = self.call.cleanup.spawn_blocking(move || {
                let _slot = slot;
                checkout.open().and_then(op).map_err(|e| Error::internal(format!("git: {}", vault.mask(e.message()))))
            });
            fifo::finish(work, session.workspace(), LOCAL_DEADLINE, capability).await
        }
        .await;
        if let Err(e) = &result {
            audit = audit.failed(e);
        }
        self.audit(audit).await?;
        result
    }
}

/// The git state of this process (recorded origins, blocking-work slots).
fn git_state() -> &'static Arc<GitState> {
    static STATE: OnceLock<Arc<GitState>> = OnceLock::new();
    STATE.get_or_init(Arc::default)
}

/// Everything a network operation needs, moved onto a blocking thread.
struct Connection {
    /// The URL libgit2 connects to (SSH: the vetted address).
    url: String,
    credential: Option<String>,
    secret: Option<Secret>,
    host_key: HostKeyPolicy,
    vault: Arc<crate::vault::Vault>,
}

impl Connection {
    fn authenticator(&self) -> Authenticator {
        Authenticator {
            expected_url: self.url.clone(),
            secret: self.secret.clone(),
            host_key: match &self.host_key {
                HostKeyPolicy::Pinned(key) => HostKeyPolicy::Pinned(key.clone()),
                HostKeyPolicy::Recorded { file, authority } => {
                    HostKeyPolicy::Recorded { file: file.clone(), authority: authority.clone() }
                }
            },
            deadline: Instant::now() + NETWORK_DEADLINE,
            refusal: Rc::new(Cell::new(None)),
        }
    }

    /// Map a libgit2 failure (and why a callback refused, if one did) onto
    /// the closed set, with secrets masked.
    fn error(&self, e: git2::Error, refusal: Option<Refusal>, what: &str) -> Error {
        let name = self.credential.as_deref().unwrap_or("");
        match refusal {
            Some(Refusal::UnexpectedUrl) => Error::unauthorized(format!(
                "git asked for credentials for another address than the recorded remote during {what}; refused"
            )),
            Some(Refusal::Rejected) if self.secret.is_none() => Error::new(
                ErrorCode::AuthFailed,
                format!("the remote needs credentials for {what}; name a vault credential in `credential`"),
            ),
            Some(Refusal::Rejected) => Error::new(
                ErrorCode::AuthFailed,
                format!("the remote refused credential `{name}` during {what}; check the key or token in the vault"),
            ),
            Some(Refusal::WrongKind) => Error::invalid_input(format!(
                "credential `{name}` cannot authenticate this remote; use ssh_key for SSH, api_key/basic/oauth for HTTP"
            )),
            Some(Refusal::HostKey) => Error::new(
                ErrorCode::AuthFailed,
                format!(
                    "the server presented a host key other than the pinned or recorded one during {what}; \
                     refusing to talk to it (set `host_key` in the credential if the key really changed)"
                ),
            ),
            Some(Refusal::Deadline) => Error::new(
                ErrorCode::Timeout,
                format!("{what} ran past {} s and was stopped", NETWORK_DEADLINE.as_secs()),
            ),
            None if repo::refused_redirect(&e) => Error::new(
                ErrorCode::EgressDenied,
                format!(
                    "the remote redirected {what} to another address; git follows no redirect, clone from the \
                     address it names instead"
                ),
            ),
            None => {
                let message = self.vault.mask(e.message());
                match (e.code(), e.class()) {
                    (git2::ErrorCode::Auth, _) => {
                        Error::new(ErrorCode::AuthFailed, format!("{what}: authentication failed ({message})"))
                    }
                    (git2::ErrorCode::Certificate, _) => Error::new(
                        ErrorCode::AuthFailed,
                        format!("{what}: the server's certificate was refused ({message})"),
                    ),
                    (git2::ErrorCode::NotFound, _) => Error::not_found(format!("{what}: {message}")),
                    (
                        _,
                        git2::ErrorClass::Net | git2::ErrorClass::Ssh | git2::ErrorClass::Http | git2::ErrorClass::Os,
                    ) => Error::new(ErrorCode::NetworkError, format!("{what}: {message}")),
                    _ => Error::internal(format!("{what}: {message}")),
                }
            }
        }
    }
}

fn clone_with_retries(connection: &Connection, branch: Option<&str>, checkout: &Checkout) -> Result<(String, String)> {
    let mut attempt = 1;
    loop {
        let auth = connection.authenticator();
        match repo::clone(&connection.url, branch, checkout, &auth) {
            Ok(done) => return Ok(done),
            Err(e) => {
                checkout.discard();
                let refusal = auth.refusal.get();
                let transient = refusal.is_none()
                    && !repo::refused_redirect(&e)
                    && !matches!(
                        e.code(),
                        git2::ErrorCode::Auth | git2::ErrorCode::Certificate | git2::ErrorCode::NotFound
                    )
                    && matches!(e.class(), git2::ErrorClass::Net | git2::ErrorClass::Os | git2::ErrorClass::Http);
                if !transient || attempt == CLONE_ATTEMPTS {
                    return Err(connection.error(e, refusal, "clone"));
                }
                std::thread::sleep(Duration::from_millis(250 * u64::from(attempt)));
                attempt += 1;
            }
        }
    }
}

/// Point libgit2 away from `~/.gitconfig` and `/etc/gitconfig` and bound
/// its network waits; once per process, before any other libgit2 use.
fn prepare_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use git2::ConfigLevel::{Global, ProgramData, System, XDG};
        // SAFETY: runs once, before any repository is opened in this process
        // (every git operation goes through the capability that calls this first).
        unsafe {
            for level in [System, Global, XDG, ProgramData] {
                let _ = git2::opts::set_search_path(level, "");
            }
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(10_000);
            let _ = git2::opts::set_server_timeout_in_milliseconds(60_000);
        }
    });
}

/// The checkout of workspace-relative `path` in `session`.
fn locate(session: &LiveSession, path: &str) -> Result<Checkout> {
    checkout_at(session, &super::fs::workspace::relative(path)?, path)
}

/// The checkout at `rel` (shown to the caller as `shown`). `unauthorized`
/// when a component of the path inside the workspace is a symbolic link (a
/// command could have planted one pointing out of the workspace, and git
/// would follow it).
fn checkout_at(session: &LiveSession, rel: &std::path::Path, shown: &str) -> Result<Checkout> {
    let workspace = session.workspace();
    let mut at = workspace.clone();
    for part in rel.components() {
        at.push(part);
        match at.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::unauthorized(format!(
                    "`{shown}` goes through a symbolic link; git works only on real directories of the workspace"
                )));
            }
            Err(e) => {
                if let Some(refused) = super::fs::workspace::refused_path(shown, &e) {
                    return Err(refused);
                }
            }
            Ok(_) => {}
        }
    }
    Ok(Checkout::locate(&session.private_dir(), &workspace, rel))
}

fn commit_info(c: CommitSummary) -> CommitInfo {
    CommitInfo { id: c.id, author: c.author, time_ms: c.time_ms, summary: c.summary }
}

fn rename_field(e: Error, field: &str) -> Error {
    Error::new(e.code, e.message.replace("`path`", &format!("`{field}`")))
}

fn slash(path: &std::path::Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// A token subject as the local part of an email address.
fn email_safe(subject: &str) -> String {
    let safe: String =
        subject.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect();
    if safe.is_empty() { "agent".to_owned() } else { safe }
}
