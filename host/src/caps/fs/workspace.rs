//! [`Workspace`]: file operations confined to one directory with cap-std.
//! Paths are checked first by [`relative`], the one validation of workspace
//! paths that every capability taking one (fs, git, exec) uses, so a model
//! hears exactly what was wrong: `..` or absolute paths, a NUL byte, a name
//! over 255 bytes, a path over [`MAX_PATH_BYTES`]. Then every open goes
//! through a capability handle that cannot reach outside the directory,
//! whatever symlinks it meets; what the system still refuses about a path
//! (`ENAMETOOLONG`, `ELOOP`, `EINVAL`) is `invalid_input` too
//! ([`refused_path`]). Blocking; callers use `spawn_blocking`.

use crate::{Error, ErrorCode, Result};
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// The largest file read, written or patched.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// The most entries one listing returns.
pub const MAX_LIST_ENTRIES: u32 = 5000;
/// The longest workspace path, in bytes: with the data directory in front
/// of it, the whole path must stay under the system's `PATH_MAX` (4096).
pub const MAX_PATH_BYTES: usize = 3072;
/// The longest name of one file or directory (`NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// One listed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    pub modified_ms: Option<u64>,
}

/// What an entry is; symlinks are reported, not followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// What a write or patch left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub size: u64,
    pub sha256: String,
    pub replacements: u32,
}

/// A session workspace opened as a capability.
pub struct Workspace {
    dir: Dir,
}

impl Workspace {
    /// Open the directory at `root` (the host's path to the workspace).
    pub fn open(root: &Path) -> Result<Workspace> {
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority())
            .map_err(|e| Error::new(ErrorCode::SessionUnavailable, format!("the session workspace is gone: {e}")))?;
        Ok(Workspace { dir })
    }

    /// Read `path`, refusing files over `max_bytes`. Returns the bytes and their hex SHA-256.
    pub fn read(&self, path: &str, max_bytes: u64) -> Result<(Vec<u8>, String)> {
        let rel = relative(path)?;
        let cap = max_bytes.min(MAX_FILE_BYTES);
        // Non-blocking, so a FIFO planted in the workspace cannot hang the host.
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self.dir.open_with(&rel, &options).map_err(|e| io_error(path, e))?;
        let meta = file.metadata().map_err(|e| io_error(path, e))?;
        if meta.is_dir() {
            return Err(Error::invalid_input(format!("`{path}` is a directory; list it with fs.list")));
        }
        if !meta.is_file() {
            return Err(Error::invalid_input(format!("`{path}` is not a regular file")));
        }
        if meta.len() > cap {
            return Err(too_big(path, meta.len(), cap));
        }
        let mut content = Vec::with_capacity(meta.len() as usize);
        file.take(cap + 1).read_to_end(&mut content).map_err(|e| io_error(path, e))?;
        if content.len() as u64 > cap {
            return Err(too_big(path, content.len() as u64, cap));
        }
        let digest = sha256(&content);
        Ok((content, digest))
    }

    /// Create or replace `path` with `content`; `create_dirs` makes the parents.
    pub fn write(&self, path: &str, content: &[u8], create_dirs: bool) -> Result<Written> {
        let rel = relative(path)?;
        if rel.as_os_str().is_empty() {
            return Err(Error::invalid_input("`path` must name a file, not the workspace root"));
        }
        if content.len() as u64 > MAX_FILE_BYTES {
            return Err(too_big(path, content.len() as u64, MAX_FILE_BYTES));
        }
        if create_dirs && let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir.create_dir_all(parent).map_err(|e| io_error(path, e))?;
        }
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true).custom_flags(libc::O_NONBLOCK);
        let mut file = self.dir.open_with(&rel, &options).map_err(|e| io_error(path, e))?;
        file.write_all(content).map_err(|e| io_error(path, e))?;
        Ok(Written { size: content.len() as u64, sha256: sha256(content), replacements: 0 })
    }

    /// Replace literal `search` with `replace` when it occurs 1 to `max` times.
    pub fn patch(&self, path: &str, search: &str, replace: &str, max: u32) -> Result<Written> {
        if search.is_empty() {
            return Err(Error::invalid_input("`search` must not be empty"));
        }
        let (content, _) = self.read(path, MAX_FILE_BYTES)?;
        let text = String::from_utf8(content)
            .map_err(|_| Error::invalid_input(format!("`{path}` is not UTF-8 text; rewrite it with fs.write")))?;
        let found = text.matches(search).count();
        if found == 0 {
            return Err(Error::invalid_input(format!(
                "`search` does not occur in `{path}`; read the file and copy the exact text, whitespace included"
            )));
        }
        if found > max as usize {
            return Err(Error::invalid_input(format!(
                "`search` occurs {found} times in `{path}`, more than `max_occurrences` ({max}); \
                 include more surrounding text to make it unique, or raise `max_occurrences`"
            ))
            .with_details(serde_json::json!({ "occurrences": found })));
        }
        let patched = text.replace(search, replace);
        let mut written = self.write(path, patched.as_bytes(), false)?;
        written.replacements = found as u32;
        Ok(written)
    }

    /// Entries under `path` matching `glob`, sorted, at most `max` (capped at
    /// [`MAX_LIST_ENTRIES`]); the flag says whether more matched.
    pub fn list(&self, path: &str, glob: Option<&str>, recursive: bool, max: u32) -> Result<(Vec<Entry>, bool)> {
        let rel = relative(path)?;
        let matcher = glob
            .map(|g| {
                globset::GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .map_err(|e| Error::invalid_input(format!("`glob` `{g}` is not a glob pattern: {e}")))
            })
            .transpose()?;
        let limit = max.clamp(1, MAX_LIST_ENTRIES) as usize;
        let start = if rel.as_os_str().is_empty() {
            self.dir.try_clone().map_err(|e| io_error(path, e))?
        } else {
            self.dir.open_dir(&rel).map_err(|e| io_error(path, e))?
        };
        let mut found = Vec::new();
        let mut pending = vec![(start, rel)];
        let mut truncated = false;
        while let Some((dir, prefix)) = pending.pop() {
            for item in dir.entries().map_err(|e| io_error(path, e))? {
                let item = item.map_err(|e| io_error(path, e))?;
                let entry_path = prefix.join(item.file_name());
                let file_type = item.file_type().map_err(|e| io_error(path, e))?;
                let kind = if file_type.is_symlink() {
                    EntryKind::Symlink
                } else if file_type.is_dir() {
                    EntryKind::Directory
                } else {
                    EntryKind::File
                };
                if recursive && kind == EntryKind::Directory {
                    pending.push((item.open_dir().map_err(|e| io_error(path, e))?, entry_path.clone()));
                }
                if matcher.as_ref().is_some_and(|m| !m.is_match(&entry_path)) {
                    continue;
                }
                if found.len() == limit {
                    truncated = true;
                    continue;
                }
                let meta = item.metadata().ok();
                found.push(Entry {
                    path: slash_path(&entry_path),
                    kind,
                    size: meta.as_ref().filter(|_| kind != EntryKind::Directory).map_or(0, |m| m.len()),
                    modified_ms: meta.and_then(|m| m.modified().ok()).and_then(|t| {
                        t.into_std().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_millis() as u64)
                    }),
                });
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((found, truncated))
    }

    /// Remove a file or symlink, or a directory tree when `recursive`.
    pub fn remove(&self, path: &str, recursive: bool) -> Result<()> {
        let rel = relative(path)?;
        if rel.as_os_str().is_empty() {
            return Err(Error::invalid_input("`path` must name an entry, not the workspace root"));
        }
        let meta = self.dir.symlink_metadata(&rel).map_err(|e| io_error(path, e))?;
        let removed = if meta.is_dir() {
            if !recursive {
                return Err(Error::invalid_input(format!("`{path}` is a directory; set `recursive` to remove it")));
            }
            self.dir.remove_dir_all(&rel)
        } else {
            self.dir.remove_file(&rel)
        };
        removed.map_err(|e| io_error(path, e))
    }
}

/// `path` as a relative path inside the workspace; `.` and empty are the
/// root. Absolute paths and `..` are refused (`unauthorized`), and so is,
/// as `invalid_input` naming `path`, what the system would refuse: a NUL
/// byte, a name over [`MAX_NAME_BYTES`], a path over [`MAX_PATH_BYTES`];
/// all before touching the disk. Callers whose field has another name
/// rename `path` in the message.
pub fn relative(path: &str) -> Result<PathBuf> {
    if path.contains('\0') {
        return Err(Error::invalid_input("`path` must not contain NUL characters"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(Error::invalid_input(format!(
            "`path` is {} bytes long (`{}`); a workspace path has at most {MAX_PATH_BYTES} bytes",
            path.len(),
            shortened(path)
        )));
    }
    let mut rel = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) if part.len() > MAX_NAME_BYTES => {
                return Err(Error::invalid_input(format!(
                    "`path` has a name of {} bytes (`{}`); a file or directory name has at most {MAX_NAME_BYTES} bytes",
                    part.len(),
                    shortened(&part.to_string_lossy())
                )));
            }
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(escape(path, "`..` is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(escape(path, "absolute paths are not allowed; give a path relative to the workspace"));
            }
        }
    }
    Ok(rel)
}

/// `text` cut to its first 40 characters, for messages.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// `invalid_input` naming `path` when the system refused it as a path
/// (too long, a loop of symbolic links, not a valid name); `None` for any
/// other error.
pub fn refused_path(path: &str, e: &std::io::Error) -> Option<Error> {
    let why = match e.raw_os_error()? {
        libc::ENAMETOOLONG => "is longer than the system accepts",
        libc::ELOOP => "goes through a loop of symbolic links",
        libc::EINVAL => "is not a name the file system accepts",
        _ => return None,
    };
    Some(Error::invalid_input(format!("`path` `{}` {why}", shortened(path))))
}

fn escape(path: &str, why: &str) -> Error {
    Error::unauthorized(format!("`{}` leads outside the workspace: {why}", path.escape_debug()))
}

fn too_big(path: &str, size: u64, cap: u64) -> Error {
    Error::new(ErrorCode::ResourceExhausted, format!("`{path}` is {size} bytes, over the {cap}-byte limit"))
}

fn io_error(path: &str, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    if let Some(refused) = refused_path(path, &e) {
        return refused;
    }
    match e.kind() {
        K::NotFound => Error::not_found(format!("`{path}` does not exist in the workspace; list it with fs.list")),
        // cap-std reports a path that resolves outside the directory (through a symlink) as permission denied.
        K::PermissionDenied => escape(path, "it resolves outside the workspace (through a symlink)"),
        // Writes never ask for exclusive creation: cap-std answers "exists"
        // when the last step of a path would leave the directory.
        K::AlreadyExists => escape(path, "it resolves outside the workspace (through a symlink)"),
        K::NotADirectory => Error::invalid_input(format!("a parent of `{path}` is not a directory")),
        K::IsADirectory => Error::invalid_input(format!("`{path}` is a directory")),
        K::DirectoryNotEmpty => Error::invalid_input(format!("`{path}` is not empty")),
        _ => Error::internal(format!("`{path}`: {e}")),
    }
}

fn slash_path(path: &Path) -> String {
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
