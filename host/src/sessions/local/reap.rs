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
    for (pid, args) in processes() {
        let Some(profile) = args.iter().find_map(|a| a.strip_prefix(&prefix)) else {
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
        killed += usize::from(!args.iter().any(|a| a.starts_with("--type=")));
    }
    if let Ok(dirs) = std::fs::read_dir(profiles) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if !owned_profiles.iter().any(|p| p.trim_end_matches('/') == name) {
                kill_stragglers(&dir.path());
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
