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

/// Kill every process whose command line has `--user-data-dir=` under
/// `profiles` and whose pid is not in `ours`, then delete the profiles no
/// live instance owns. Returns how many browser processes were killed.
pub fn reap(profiles: &Path, ours: &[u32]) -> Result<usize> {
    let prefix = format!("--user-data-dir={}/", profiles.display());
    let mut killed = 0;
    let entries = match std::fs::read_dir("/proc") {
        Ok(entries) => entries,
        Err(e) => return Err(Error::internal(format!("cannot list processes in /proc: {e}"))),
    };
    let mut owned_profiles: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let Some(profile) = cmdline.split(|b| *b == 0).find_map(|arg| std::str::from_utf8(arg).ok()?.strip_prefix(&prefix))
        else {
            continue;
        };
        if ours.contains(&pid) || in_group_of(pid, ours) {
            owned_profiles.push(profile.to_owned());
            continue;
        }
        // A browser's helpers share its group; killing the group takes them all.
        kill_group(pid);
        if let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(p, Signal::KILL);
        }
        let helper = cmdline.split(|b| *b == 0).any(|arg| arg.starts_with(b"--type="));
        killed += usize::from(!helper);
    }
    if let Ok(dirs) = std::fs::read_dir(profiles) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if !owned_profiles.iter().any(|p| p.trim_end_matches('/') == name) {
                let _ = std::fs::remove_dir_all(dir.path());
            }
        }
    }
    Ok(killed)
}

/// Whether `pid` belongs to the process group of one of `leaders`.
fn in_group_of(pid: u32, leaders: &[u32]) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state ppid pgrp ...`; comm may contain spaces, so split after `)`.
    let pgrp = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok());
    pgrp.is_some_and(|g| leaders.contains(&g))
}
