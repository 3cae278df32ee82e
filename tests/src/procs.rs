//! The machine's processes as `/proc` shows them, read independently of
//! the code under test: user ids, process group, session, state, command
//! line and user namespace. The browser tests use it to say which user a
//! browser runs as and what a killed server left running.

use std::path::Path;

/// One process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    /// Process group id.
    pub pgid: u32,
    /// Session id.
    pub sid: u32,
    /// The state letter (`R`, `S`, `Z`, ...).
    pub state: char,
    /// Real, effective, saved and filesystem uid (the `Uid:` line of `status`).
    pub uids: [u32; 4],
    pub cmdline: Vec<String>,
    /// `/proc/<pid>/ns/user`, such as `user:[4026531837]`.
    pub user_ns: String,
}

impl Proc {
    /// Read process `pid`; `None` once it is gone.
    pub fn read(pid: u32) -> Option<Proc> {
        let dir = Path::new("/proc").join(pid.to_string());
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // `pid (comm) state ppid pgrp session ...`: comm may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<u32>().ok());
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        let uid_line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
        let ids: Vec<u32> = uid_line.split_whitespace().filter_map(|u| u.parse().ok()).collect();
        let raw = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        Some(Proc {
            pid,
            ppid: number(1)?,
            pgid: number(2)?,
            sid: number(3)?,
            state: fields.first()?.chars().next()?,
            uids: ids.try_into().ok()?,
            cmdline: raw
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            user_ns: std::fs::read_link(dir.join("ns/user")).map(|l| l.display().to_string()).unwrap_or_default(),
        })
    }

    /// Still running: not a zombie waiting to be reaped, not dead.
    pub fn alive(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// Every live process on the machine.
pub fn all() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(Proc::read)
        .filter(Proc::alive)
        .collect()
}

/// The live processes of process group `pgid` (a browser and its helpers).
pub fn group(pgid: u32) -> Vec<Proc> {
    all().into_iter().filter(|p| p.pgid == pgid).collect()
}
