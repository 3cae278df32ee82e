//! [`DnsRecorder`]: a real DNS server on a loopback address of its own
//! (`127.53.X.Y:53`) that records every name it is asked about, answers
//! the names a test maps to addresses and says NXDOMAIN to the rest; and
//! the `resolv.conf` that points a process at it. A server started with
//! [`crate::server::ServerBuilder::resolv_conf`] runs in a private mount
//! namespace with that file bound over `/etc/resolv.conf`, so the system
//! resolver (glibc's `getaddrinfo`) of the real binary asks this server:
//! a test can then prove that a name was never looked up at all.
//!
//! Only what glibc sends is understood: one question per query, A and AAAA
//! answered (AAAA always empty). Written by hand (some fifty lines) rather
//! than with a DNS library: it reads one question and writes one record.

use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TYPE_A: u16 = 1;
const RCODE_NXDOMAIN: u8 = 3;

/// A recording DNS server; stops when dropped.
pub struct DnsRecorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    resolv_conf: tempfile::NamedTempFile,
}

impl DnsRecorder {
    /// Serve on port 53 of a free `127.53.X.Y`, answering each of `names`
    /// (lower case, no trailing dot) with its IPv4 address.
    pub fn start(names: &[(&str, Ipv4Addr)]) -> Result<DnsRecorder> {
        let socket = bind_free()?;
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = socket.local_addr()?;
        let answers: HashMap<String, Ipv4Addr> = names.iter().map(|(n, ip)| ((*n).to_owned(), *ip)).collect();
        let (seen, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (log, stopping) = (seen.clone(), stop.clone());
        std::thread::Builder::new().name(format!("dns-{addr}")).spawn(move || {
            let mut packet = [0u8; 512];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut packet) else { continue };
                if let Some((name, qtype, end)) = question(&packet[..len]) {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(name.clone());
                    let reply = answer(&packet[..end], qtype, answers.get(&name).copied(), answers.contains_key(&name));
                    let _ = socket.send_to(&reply, from);
                }
            }
        })?;
        let mut resolv_conf = tempfile::Builder::new().prefix("resolv-").suffix(".conf").tempfile()?;
        // One quick try: an unanswered query must not stall a test for seconds.
        write!(resolv_conf, "nameserver {}\noptions attempts:1 timeout:2\n", addr.ip())?;
        resolv_conf.flush()?;
        Ok(DnsRecorder { addr, seen, stop, resolv_conf })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every name asked so far (once per query: A and AAAA count twice), oldest first.
    pub fn queried(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether any query so far was for `name` or a name below it.
    pub fn was_asked_about(&self, name: &str) -> bool {
        self.queried().iter().any(|q| q == name || q.ends_with(&format!(".{name}")))
    }

    /// A `resolv.conf` naming only this server.
    pub fn resolv_conf(&self) -> &Path {
        self.resolv_conf.path()
    }
}

impl Drop for DnsRecorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Port 53 of the first free address of 127.53.0.0/16, starting at one
/// derived from the process id so parallel test processes rarely collide.
fn bind_free() -> Result<UdpSocket> {
    let start = std::process::id() as u16;
    for i in 0..512u16 {
        let n = start.wrapping_add(i.wrapping_mul(97));
        let ip = Ipv4Addr::new(127, 53, (n >> 8) as u8, (n as u8).max(1));
        if let Ok(socket) = UdpSocket::bind((ip, 53)) {
            return Ok(socket);
        }
    }
    bail!("no free 127.53.X.Y:53 to serve DNS on (the tests run as root, which binding port 53 needs)")
}

/// The question of a query: the name (lower case), its type, and where
/// the question ends.
fn question(packet: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*packet.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        // Compression pointers do not occur in a question glibc sends.
        if len & 0xc0 != 0 {
            return None;
        }
        labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
    packet.get(at + 3)?;
    Some((labels.join("."), qtype, at + 4))
}

/// The reply to `query` (header and question only): one A record with `ip`
/// for an A question, no records for other types of a known name, NXDOMAIN
/// for an unknown one.
fn answer(query: &[u8], qtype: u16, ip: Option<Ipv4Addr>, known: bool) -> Vec<u8> {
    let mut reply = query.to_vec();
    reply[2] = 0x84 | (query[2] & 0x01); // response, authoritative, recursion as asked
    reply[3] = 0x80 | if known { 0 } else { RCODE_NXDOMAIN }; // recursion available
    let records = match ip {
        Some(ip) if qtype == TYPE_A => {
            // Name: a pointer to the question's; type A, class IN, TTL 60, 4 bytes.
            reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            reply.extend_from_slice(&ip.octets());
            1
        }
        _ => 0,
    };
    reply[6..12].copy_from_slice(&[0, records, 0, 0, 0, 0]);
    reply
}

/// Run the current process's child (between fork and exec) in a private
/// mount namespace where `resolv_conf` is bound over `/etc/resolv.conf`.
/// `resolv_conf` is prepared before the fork: nothing here allocates.
pub(crate) fn private_resolv_conf(resolv_conf: &std::ffi::CStr) -> std::io::Result<()> {
    use rustix::mount::{MountPropagationFlags, mount_bind, mount_change};
    // SAFETY: called between fork and exec in a single-threaded child; the
    // unshared mount namespace concerns no file descriptors.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)? };
    mount_change(c"/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)?;
    mount_bind(resolv_conf, c"/etc/resolv.conf")?;
    Ok(())
}

/// The `CString` of `path` for [`private_resolv_conf`].
pub(crate) fn c_path(path: &Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).context("a path without NUL bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for `name` of type `qtype`, as glibc builds it (with an EDNS
    /// record after the question, which the reply must drop).
    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, (qtype >> 8) as u8, qtype as u8, 0, 1]);
        q.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
        q
    }

    #[test]
    fn names_are_recorded_known_ones_answered_and_others_nxdomain() -> Result<()> {
        let dns = DnsRecorder::start(&[("api.example.com", Ipv4Addr::LOCALHOST)])?;
        let client = UdpSocket::bind("127.0.0.1:0")?;
        client.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reply = [0u8; 512];
        client.send_to(&query("API.example.com", TYPE_A), dns.addr())?;
        let len = client.recv(&mut reply)?;
        assert_eq!((reply[0], reply[1], reply[3] & 0x0f, reply[7]), (0x12, 0x34, 0, 1), "one answer");
        assert_eq!(&reply[len - 4..len], &[127, 0, 0, 1]);
        client.send_to(&query("secret.attacker.test", TYPE_A), dns.addr())?;
        client.recv(&mut reply)?;
        assert_eq!((reply[3] & 0x0f, reply[7]), (RCODE_NXDOMAIN, 0));
        assert_eq!(dns.queried(), ["api.example.com", "secret.attacker.test"]);
        assert!(dns.was_asked_about("attacker.test") && !dns.was_asked_about("other.test"));
        let conf = std::fs::read_to_string(dns.resolv_conf())?;
        assert!(conf.starts_with(&format!("nameserver {}\n", dns.addr().ip())), "{conf}");
        Ok(())
    }
}
