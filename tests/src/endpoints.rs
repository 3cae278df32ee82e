//! Where a running Helmdeck and its browsers listen, read from the kernel
//! and the browsers' own files rather than asked of Helmdeck: the TCP
//! ports a process listens on (its API listener and per-session proxies),
//! and a Chromium's DevTools port (`DevToolsActivePort` in the profile its
//! command line names).

use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The TCP state `/proc/net/tcp` writes for a listening socket.
const LISTEN: &str = "0A";

/// The ports process `pid` listens on (TCP, IPv4 and IPv6), from its open
/// sockets in `/proc/<pid>/fd` matched with `/proc/net/tcp{,6}`.
pub fn listening_ports(pid: u32) -> Result<BTreeSet<u16>> {
    let mut inodes = BTreeSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        let Ok(link) = std::fs::read_link(fd.path()) else { continue };
        let link = link.to_string_lossy().into_owned();
        if let Some(inode) = link.strip_prefix("socket:[").and_then(|l| l.strip_suffix(']')) {
            inodes.insert(inode.to_owned());
        }
    }
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (fields.get(1), fields.get(3), fields.get(9)) else {
                continue;
            };
            if *state == LISTEN && inodes.contains(*inode) {
                let port = local.rsplit(':').next().context("a local address with a port")?;
                ports.insert(u16::from_str_radix(port, 16)?);
            }
        }
    }
    Ok(ports)
}

/// The profile directory of the Chromium process `pid` (`--user-data-dir=`).
pub fn browser_profile(pid: &str) -> Result<PathBuf> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    let profile = cmdline
        .split(|b| *b == 0)
        .find_map(|arg| arg.strip_prefix(b"--user-data-dir="))
        .context("the browser's --user-data-dir")?;
    Ok(PathBuf::from(std::str::from_utf8(profile)?))
}

/// The DevTools port of the Chromium process `pid`, from the
/// `DevToolsActivePort` file Chromium writes into its profile: read where
/// the command line names it, else through the process's own root (for a
/// browser in a mount namespace of its own).
pub fn devtools_port(pid: &str) -> Result<u16> {
    let profile = browser_profile(pid)?;
    let direct = profile.join("DevToolsActivePort");
    let port_file = if direct.exists() {
        direct
    } else {
        PathBuf::from(format!("/proc/{pid}/root"))
            .join(profile.strip_prefix("/").unwrap_or(&profile))
            .join("DevToolsActivePort")
    };
    let ports = std::fs::read_to_string(&port_file).with_context(|| port_file.display().to_string())?;
    Ok(ports.lines().next().context("DevToolsActivePort is empty")?.parse()?)
}
