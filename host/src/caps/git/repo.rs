//! Repository operations with libgit2, blocking (callers use
//! `spawn_blocking`). The git directory is a bare repository in the
//! session's private directory with the workspace checkout attached as its
//! working tree, so the workspace never holds a `.git` that a pack or a
//! command could plant hooks or configuration in.

use super::remote::Authenticator;
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    DiffFormat, DiffOptions, FetchOptions, IndexAddOption, PushOptions, Repository, Signature, Status, StatusOptions,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Where a checkout's git directory and working tree live.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// Bare repository under the session's private directory.
    pub git_dir: PathBuf,
    /// The working tree inside the workspace.
    pub workdir: PathBuf,
}

impl Checkout {
    /// The checkout of workspace-relative `rel` in a session with these directories.
    pub fn locate(private: &Path, workspace: &Path, rel: &Path) -> Checkout {
        let key = hex::encode(&Sha256::digest(rel.as_os_str().as_encoded_bytes())[..12]);
        Checkout { git_dir: private.join("git").join(format!("{key}.git")), workdir: workspace.join(rel) }
    }

    fn origin_file(&self) -> PathBuf {
        self.git_dir.join("helmdeck-origin.json")
    }

    /// The remote this checkout was cloned from, as the host recorded it.
    pub fn origin(&self) -> Option<Origin> {
        std::fs::read(self.origin_file()).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Record where this checkout came from (host-private).
    pub fn record(&self, origin: &Origin) -> std::io::Result<()> {
        std::fs::write(self.origin_file(), serde_json::to_vec(origin).map_err(std::io::Error::other)?)
    }

    /// Open the repository with its working tree attached.
    pub fn open(&self) -> Result<Repository, git2::Error> {
        let repo = Repository::open_bare(&self.git_dir)?;
        repo.set_workdir(&self.workdir, false)?;
        Ok(repo)
    }

    /// Remove a git directory a failed `init` left (the working tree stays:
    /// it may hold the caller's files).
    pub fn discard_git_dir(&self) {
        let _ = std::fs::remove_dir_all(&self.git_dir);
    }

    /// Remove what a failed clone left.
    pub fn discard(&self) {
        let _ = std::fs::remove_dir_all(&self.git_dir);
        let _ = std::fs::remove_dir_all(&self.workdir);
    }
}

/// The remote a checkout belongs to (never holds a credential value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Origin {
    /// The normalised remote URL.
    pub url: String,
    /// The vault credential used to clone, reused to push.
    pub credential: Option<String>,
}

/// A commit as reported to packs.
#[derive(Debug, Clone)]
pub struct CommitSummary {
    pub id: String,
    pub author: String,
    pub time_ms: u64,
    pub summary: String,
}

/// Clone `url` bare into the checkout's git directory and check out
/// `branch` (or the remote's default) into its working tree. Returns the
/// branch and HEAD commit.
pub fn clone(
    url: &str,
    branch: Option<&str>,
    checkout: &Checkout,
    auth: &Authenticator,
) -> Result<(String, String), git2::Error> {
    let mut fetch = FetchOptions::new();
    fetch.remote_callbacks(auth.callbacks());
    let mut builder = RepoBuilder::new();
    builder.bare(true).fetch_options(fetch);
    if let Some(branch) = branch {
        builder.branch(branch);
    }
    let repo = builder.clone(url, &checkout.git_dir)?;
    // A cloned symlink becomes a plain file holding its target: nothing in
    // the workspace then points outside it.
    repo.config()?.set_bool("core.symlinks", false)?;
    drop(repo);
    std::fs::create_dir_all(&checkout.workdir).map_err(|e| git2::Error::from_str(&e.to_string()))?;
    let repo = checkout.open()?;
    repo.checkout_head(Some(CheckoutBuilder::new().force()))?;
    let head = repo.head()?;
    let name = head.shorthand().unwrap_or("HEAD").to_owned();
    let id = head.peel_to_commit()?.id().to_string();
    Ok((name, id))
}

/// The branch a new repository starts on.
pub const INITIAL_BRANCH: &str = "main";

/// Make an empty bare repository in the checkout's git directory, HEAD on
/// [`INITIAL_BRANCH`], with its working tree (created when missing).
pub fn init(checkout: &Checkout) -> Result<(), git2::Error> {
    let mut options = git2::RepositoryInitOptions::new();
    options.bare(true).mkpath(true).initial_head(INITIAL_BRANCH);
    let repo = Repository::init_opts(&checkout.git_dir, &options)?;
    repo.config()?.set_bool("core.symlinks", false)?;
    std::fs::create_dir_all(&checkout.workdir).map_err(|e| git2::Error::from_str(&e.to_string()))
}

/// HEAD's commit, `None` on a branch with no commit yet (a new repository).
fn head_commit(repo: &Repository) -> Result<Option<git2::Commit<'_>>, git2::Error> {
    match repo.head() {
        Ok(head) => head.peel_to_commit().map(Some),
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => Ok(None),
        Err(e) => Err(e),
    }
}

/// Changed paths: index and working tree against HEAD, untracked files included.
pub fn status(repo: &Repository) -> Result<Vec<(String, &'static str)>, git2::Error> {
    let mut options = StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut options))?;
    Ok(statuses
        .iter()
        .filter_map(|entry| {
            let s = entry.status();
            let label = if s.intersects(Status::WT_NEW) && !s.intersects(Status::INDEX_NEW) {
                "untracked"
            } else if s.intersects(Status::INDEX_NEW) {
                "added"
            } else if s.intersects(Status::WT_DELETED | Status::INDEX_DELETED) {
                "deleted"
            } else if s.intersects(Status::WT_RENAMED | Status::INDEX_RENAMED) {
                "renamed"
            } else if s.intersects(Status::WT_TYPECHANGE | Status::INDEX_TYPECHANGE) {
                "typechange"
            } else if s.intersects(Status::WT_MODIFIED | Status::INDEX_MODIFIED) {
                "modified"
            } else {
                return None;
            };
            entry.path().ok().map(|p| (p.to_owned(), label))
        })
        .collect())
}

/// Unified diff of the working tree (and index) against HEAD, new files
/// included, cut at `max_bytes` with a closing note.
pub fn diff(repo: &Repository, max_bytes: usize) -> Result<String, git2::Error> {
    let head = head_commit(repo)?.map(|c| c.tree()).transpose()?;
    let mut options = DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let diff = repo.diff_tree_to_workdir_with_index(head.as_ref(), Some(&mut options))?;
    let mut text = Vec::new();
    let mut cut = false;
    diff.print(DiffFormat::Patch, |_, _, line| {
        if text.len() >= max_bytes {
            cut = true;
            return false;
        }
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin() as u8);
        }
        text.extend_from_slice(line.content());
        true
    })
    .or_else(|e| if cut { Ok(()) } else { Err(e) })?;
    text.truncate(max_bytes);
    let mut text = String::from_utf8_lossy(&text).into_owned();
    if cut {
        text.push_str("\n[diff cut at the size limit; raise `max_bytes` or diff fewer files]\n");
    }
    Ok(text)
}

/// The newest `max` commits reachable from HEAD.
pub fn log(repo: &Repository, max: usize) -> Result<Vec<CommitSummary>, git2::Error> {
    if head_commit(repo)?.is_none() {
        return Ok(Vec::new());
    }
    let mut walk = repo.revwalk()?;
    walk.push_head()?;
    walk.set_sorting(git2::Sort::TIME)?;
    walk.take(max).map(|id| repo.find_commit(id?).map(|c| summarize(&c))).collect()
}

/// Commit every change with `message`; `Ok(None)` when the tree equals HEAD's.
pub fn commit(repo: &Repository, author: &Signature<'_>, message: &str) -> Result<Option<CommitSummary>, git2::Error> {
    let mut index = repo.index()?;
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    index.update_all(["*"], None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let parent = head_commit(repo)?;
    let unchanged = match &parent {
        Some(parent) => parent.tree_id() == tree_id,
        None => index.is_empty(),
    };
    if unchanged {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id)?;
    let committer = Signature::now("helmdeck-agent", "agent@helmdeck.invalid")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let id = repo.commit(Some("HEAD"), author, &committer, message, &tree, &parents)?;
    repo.find_commit(id).map(|c| Some(summarize(&c)))
}

/// Push the current branch to `url`. `Ok(Err((ref, reason)))` when the
/// remote rejected the update (non-fast-forward and the like).
pub fn push(repo: &Repository, url: &str, auth: &Authenticator) -> Result<PushOutcome, git2::Error> {
    let head = repo.head()?;
    let branch = head.shorthand().unwrap_or("HEAD").to_owned();
    let id = head.peel_to_commit()?.id().to_string();
    let refname = format!("refs/heads/{branch}");
    let rejected: std::cell::RefCell<Option<(String, String)>> = std::cell::RefCell::new(None);
    {
        let mut callbacks = auth.callbacks();
        callbacks.push_update_reference(|name, status| {
            if let Some(reason) = status {
                *rejected.borrow_mut() = Some((name.to_owned(), reason.to_owned()));
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let mut remote = repo.remote_anonymous(url)?;
        match remote.push(&[format!("{refname}:{refname}")], Some(&mut options)) {
            // libgit2 refuses a non-fast-forward itself when the remote's
            // advertisement shows commits this checkout lacks.
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                *rejected.borrow_mut() = Some((refname.clone(), "non-fast-forward".to_owned()));
            }
            other => other?,
        }
    }
    Ok(PushOutcome { branch, head: id, rejected: rejected.into_inner() })
}

/// What a push did.
pub struct PushOutcome {
    pub branch: String,
    pub head: String,
    /// The ref and the remote's reason, when it refused the update.
    pub rejected: Option<(String, String)>,
}

fn summarize(c: &git2::Commit<'_>) -> CommitSummary {
    let author = c.author();
    CommitSummary {
        id: c.id().to_string(),
        author: format!("{} <{}>", author.name().unwrap_or("?"), author.email().unwrap_or("?")),
        time_ms: (c.time().seconds().max(0) as u64) * 1000,
        summary: c.summary().ok().flatten().unwrap_or_default().to_owned(),
    }
}
