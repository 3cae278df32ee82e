//! Stopping browsers: a process group on request, and at start every
//! process whose profile lies under our profile directory that this process
//! did not start (a previous Helmdeck's leftovers).

use crate::{Error, Result};
use rustix::process::{Pid, Signal, kill_process, kill_process_group};
use std::path::Path;

/// Kill the process group led by `pid` (the browser and its helpers).
/// A group that is already gone is not an error.
pub fn kill_group(pid: u32) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Kill every process with an argument under `dir` (a browser's helpers
/// and its crash handler, which leaves the browser's process group); used
/// once a browser has exited.
pub fn kill_stragglers(dir: &Path) {
    let marker = dir.display().to_string();
    for (pid, args) in processes() {
        if args.iter().any(|a| a.contains(&marker)) {
            kill_group(pid);
            if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
                let _ = kill_process(p, Signal::KILL);
            }
        }
    }
}

/// Delete a browser profile, and the directory the desktop build keeps its
/// process-singleton socket in (`$TMPDIR/org.chromium.Chromium.XXXXXX`,
/// reached through the profile's `SingletonSocket` link), which it never
/// removes when it is killed: one per browser start was left behind. The
/// headless shell makes none.
pub fn remove_profile(profile: &Path) {
    let singleton = std::fs::read_link(profile.join("SingletonSocket")).ok();
    let singleton_dir = singleton.as_deref().and_then(Path::parent).filter(|dir| {
        dir.parent() == Some(std::env::temp_dir().as_path())
            && dir.file_name().is_some_and(|n| n.to_string_lossy().starts_with("org.chromium.Chromium."))
    });
    if let Some(dir) = singleton_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    let _ = std::fs::remove_dir_all(profile);
}

/// Every process and its arguments.
fn processes() -> Vec<(u32, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect()))
        })
        .collect()
}

/// Kill every process whose command line has `--user-data-dir=` under
/// `profiles` and whose pid is not in `ours`, then delete the profiles no
/// live instance owns (which kills their crash handlers too). Returns how
/// many browser processes were killed.
pub fn reap(profiles: &Path, ours: &[u32]) -> Result<usize> {
    let prefix = format!("--user-data-dir={}/", profiles.display());
    if !Path::new("/proc").is_dir() {
        return Err(Error::internal("cannot list processes: /proc is missing"));
    }
    let mut killed = 0;
    let mut owned_profiles: Vec<String> = Vec::new();
    // Each group is read before anything is killed: the browser itself
    // leads its group; its helpers (and a helper forked at start-up that
    // still has the browser's command line) do not.
    let browsers: Vec<(u32, String, Option<u32>)> = processes()
        .into_iter()
        .filter_map(|(pid, args)| {
            let profile = args.iter().find_map(|a| a.strip_prefix(&prefix))?.to_owned();
            Some((pid, profile, process_group(pid)))
        })
        .collect();
    for (pid, profile, group) in browsers {
        if ours.contains(&pid) || group.is_some_and(|g| ours.contains(&g)) {
            owned_profiles.push(profile);
            continue;
        }
        // A browser's helpers share its group; killing the group takes them all.
        kill_group(pid);
        if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(p, Signal::KILL);
        }
        killed += usize::from(group == Some(pid));
    }
    if let Ok(dirs) = std::fs::read_dir(profiles) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if !owned_profiles.iter().any(|p| p.trim_end_matches('/') == name) {
                kill_stragglers(&dir.path());
                remove_profile(&dir.path());
            }
        }
    }
    Ok(killed)
}

/// The process group of `pid` (`None` once it is gone).
pub(super) fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp ...`; comm may contain spaces, so split after `)`.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok())
}
