//! Handing a session's workspace to its uid before each command, so files
//! the host wrote (a checkout, `fs.write`) are the command's to change.
//!
//! The workspace is the session's own: its processes can rename anything in
//! it while the host walks it, and a path walked by name (`lchown` of
//! `dir/file`) follows whatever `dir` is by then, a symbolic link to a
//! root-only file outside included. So every entry is opened once,
//! relative to the descriptor of the directory it was listed in, with
//! `O_PATH | O_NOFOLLOW` (a link opens as the link, never its target), and
//! everything after (the type and owner check, the `chown`, listing a
//! directory's own entries) goes through that descriptor: a swap after the
//! open changes nothing the walk does. Commands of one session are also
//! serialised (see [`super::super::SessionUsers`]), so none runs during a
//! hand-over in the first place; this walk holds even if that changes.

use crate::{Error, Result};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::process::{Gid, Uid};
use std::path::Path;

/// Give `uid` everything under `root` (root included) that is not already
/// its own, without following a symbolic link and never through a path
/// another process can change. Links themselves and files with more than
/// one hard link (they may be someone else's too) are left alone. Blocking.
pub fn hand_over(root: &Path, uid: u32) -> Result<()> {
    let fail = |e: rustix::io::Errno| Error::internal(format!("cannot prepare the workspace: {e}"));
    let top =
        rustix::fs::open(root, OFlags::PATH | OFlags::NOFOLLOW | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(fail)?;
    let mut pending = vec![top];
    while let Some(entry) = pending.pop() {
        match give(&entry, uid) {
            Ok(true) => {}
            Ok(false) => continue,
            // Gone since it was listed: nothing left to hand over.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(fail(e)),
        }
        let listing = match rustix::fs::openat(
            &entry,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(fail(e)),
        };
        for item in rustix::fs::Dir::new(listing).map_err(fail)? {
            let item = item.map_err(fail)?;
            let name = item.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            match rustix::fs::openat(&entry, name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
                Ok(fd) => pending.push(fd),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(fail(e)),
            }
        }
    }
    Ok(())
}

/// Chown the opened entry `fd` to `uid` if it should be; whether it is a
/// directory to walk into.
fn give(fd: &OwnedFd, uid: u32) -> rustix::io::Result<bool> {
    let stat = rustix::fs::fstat(fd)?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind == FileType::Symlink {
        return Ok(false);
    }
    let shared = kind == FileType::RegularFile && stat.st_nlink > 1;
    if stat.st_uid != uid && !shared {
        let (owner, group) = (Uid::from_raw(uid), Gid::from_raw(uid));
        rustix::fs::chownat(fd.as_fd(), "", Some(owner), Some(group), AtFlags::EMPTY_PATH)?;
    }
    Ok(kind == FileType::Directory)
}
