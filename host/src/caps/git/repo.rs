//! Repository operations with libgit2, blocking (callers use
//! `spawn_blocking`). The git directory is a bare repository in the
//! session's private directory with the workspace checkout attached as its
//! working tree, so the workspace never holds a `.git` that a pack or a
//! command could plant hooks or configuration in.
//!
//! Submodules are never fetched, and every operation here leaves them out:
//! libgit2 reads `.gitmodules` for each gitlink it meets unless told to
//! ignore submodules, and fails on values it does not know (a hostile
//! repository's `update = !command`), so a repository with submodules would
//! otherwise be unusable. A gitlink stays in the index and in commits as it
//! came; its directory in the working tree is empty.

use super::remote::Authenticator;
use super::remote::Refusal;
use git2::build::{CheckoutBuilder, RepoBuilder};
use git2::{
    Delta, DiffFormat, DiffOptions, FetchOptions, FileMode, Index, IndexEntry, IndexTime, Oid, PushOptions,
    RemoteRedirect, Repository, Signature, Status, StatusOptions, Tree,
};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

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

/// The entries of a checkout's git configuration that can decide where
/// git connects: every `remote.*` and `url.*` entry (URLs, push URLs,
/// `insteadOf`, `pushInsteadOf`), the remotes branches name, and include
/// directives, as `(name, value)` pairs in the order git reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations(Vec<(String, String)>);

impl Destinations {
    /// Read them from `repo`'s configuration, includes resolved.
    pub fn read(repo: &Repository) -> Result<Destinations, git2::Error> {
        let config = repo.config()?.snapshot()?;
        let mut found = Vec::new();
        let mut entries = config.entries(None)?;
        while let Some(entry) = entries.next() {
            let entry = entry?;
            let name = String::from_utf8_lossy(entry.name_bytes()).to_ascii_lowercase();
            let decides = name.starts_with("remote.")
                || name.starts_with("url.")
                || name.starts_with("include")
                || (name.starts_with("branch.") && (name.ends_with(".remote") || name.ends_with(".pushremote")));
            if decides {
                found.push((name, String::from_utf8_lossy(entry.value_bytes()).into_owned()));
            }
        }
        Ok(Destinations(found))
    }

    /// The first entry of `now` that differs from these (added, removed or
    /// changed), by name.
    pub fn first_change(&self, now: &Destinations) -> Option<String> {
        let (was, is) = (&self.0, &now.0);
        let differs = (0..was.len().max(is.len())).find(|&i| was.get(i) != is.get(i))?;
        is.get(differs).or_else(|| was.get(differs)).map(|(name, _)| name.clone())
    }
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
    // An off-site redirect would go to an address the guard never vetted.
    fetch.remote_callbacks(auth.callbacks()).follow_redirects(RemoteRedirect::None);
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
    checkout_without_submodules(&repo, &checkout.workdir)?;
    let head = repo.head()?;
    let name = head.shorthand().unwrap_or("HEAD").to_owned();
    let id = head.peel_to_commit()?.id().to_string();
    Ok((name, id))
}

/// Whether `e` is libgit2 refusing an off-site redirect (it has no error
/// code of its own for it, only this message).
pub fn refused_redirect(e: &git2::Error) -> bool {
    e.class() == git2::ErrorClass::Net && e.message().starts_with("cannot redirect from")
}

/// Check out HEAD into the working tree with its submodules left out: the
/// tree without gitlinks is checked out, then each gitlink goes back into
/// the index as it was, with an empty directory where git would put it.
fn checkout_without_submodules(repo: &Repository, workdir: &Path) -> Result<(), git2::Error> {
    let head = repo.head()?.peel_to_tree()?;
    let mut gitlinks = Vec::new();
    let files = without_gitlinks(repo, &head, "", &mut gitlinks)?;
    repo.checkout_tree(repo.find_tree(files)?.as_object(), Some(CheckoutBuilder::new().force()))?;
    if gitlinks.is_empty() {
        return Ok(());
    }
    let mut index = repo.index()?;
    for (path, id) in &gitlinks {
        index.add(&IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: u32::from(i32::from(FileMode::Commit) as u16),
            uid: 0,
            gid: 0,
            file_size: 0,
            id: *id,
            flags: 0,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        })?;
        // Only plain names: a tree entry of a hostile repository decides nothing outside the checkout.
        if Path::new(path).components().all(|c| matches!(c, Component::Normal(n) if n != ".git")) {
            let _ = std::fs::create_dir_all(workdir.join(path));
        }
    }
    index.write()
}

/// `tree` without its gitlinks (at any depth), written to the object
/// database; the gitlinks removed are added to `found` with their paths.
fn without_gitlinks(
    repo: &Repository,
    tree: &Tree<'_>,
    prefix: &str,
    found: &mut Vec<(String, Oid)>,
) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(Some(tree))?;
    let mut changed = false;
    for entry in tree.iter() {
        let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if entry.filemode() == i32::from(FileMode::Commit) {
            found.push((path, entry.id()));
            builder.remove(entry.name_bytes())?;
            changed = true;
        } else if entry.filemode() == i32::from(FileMode::Tree) {
            let sub = repo.find_tree(entry.id())?;
            let filtered = without_gitlinks(repo, &sub, &path, found)?;
            if filtered != entry.id() {
                builder.insert(entry.name_bytes(), filtered, entry.filemode())?;
                changed = true;
            }
        }
    }
    if changed { builder.write() } else { Ok(tree.id()) }
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
    options.include_untracked(true).recurse_untracked_dirs(true).renames_head_to_index(true).exclude_submodules(true);
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
    options.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true).ignore_submodules(true);
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
    stage_all(repo, &mut index)?;
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

/// Stage every change of the working tree (new files not ignored,
/// modifications, deletions), leaving gitlinks as they are: what
/// `add_all` + `update_all` do, without the submodule lookups they make.
fn stage_all(repo: &Repository, index: &mut Index) -> Result<(), git2::Error> {
    let mut options = DiffOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_typechange(true).ignore_submodules(true);
    let diff = repo.diff_index_to_workdir(Some(index), Some(&mut options))?;
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    for delta in diff.deltas() {
        match (delta.status(), delta.old_file().path(), delta.new_file().path()) {
            (Delta::Deleted, Some(path), _) => removed.push(path.to_owned()),
            (Delta::Untracked | Delta::Modified | Delta::Typechange | Delta::Added, _, Some(path)) => {
                // A directory holding a repository of its own (`cmd.run git init`) is not staged.
                let nested =
                    delta.new_file().mode() == FileMode::Commit || path.as_os_str().as_encoded_bytes().ends_with(b"/");
                if !nested {
                    added.push(path.to_owned());
                }
            }
            _ => {}
        }
    }
    for path in removed {
        index.remove_path(&path)?;
    }
    for path in added {
        index.add_path(&path)?;
    }
    Ok(())
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
        options.remote_callbacks(callbacks).follow_redirects(RemoteRedirect::None);
        let mut remote = repo.remote_anonymous(url)?;
        // libgit2 applies `url.*.insteadOf` and `pushInsteadOf` when it makes
        // the remote; the caller checked the configuration, this is the last word.
        if remote.url_bytes() != url.as_bytes() || remote.pushurl_bytes().is_some() {
            auth.refusal.set(Some(Refusal::UnexpectedUrl));
            return Err(git2::Error::from_str("the push address was rewritten by the git configuration"));
        }
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
