//! [`RebindingDns`]: a real DNS server (UDP, port 53 of a loopback address
//! of its own) that answers one name with a *different* address on later
//! queries: a DNS-rebinding attacker's name server. A server started with
//! [`crate::live_server::Instance::serve_with_resolv_conf`] and
//! [`RebindingDns::resolv_conf`] resolves through it with the system's own
//! resolver (`getaddrinfo`), exactly as it would resolve a hostile public
//! name, so a second lookup by any library inside the server shows.
//!
//! It answers `A` queries for its one name (the first with `first`, every
//! later one with `then`), `AAAA` queries for it with no address, and any
//! other name with NXDOMAIN. Port 53 needs root, as the tests run.

use anyhow::{Result, bail};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const TYPE_A: u16 = 1;

/// The name server; stops answering when dropped.
pub struct RebindingDns {
    addr: Ipv4Addr,
    a_queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    conf: PathBuf,
    _dir: tempfile::TempDir,
}

impl RebindingDns {
    /// Answer `name` with `first`, then with `then` from the second `A`
    /// query on.
    pub fn start(name: &str, first: Ipv4Addr, then: Ipv4Addr) -> Result<RebindingDns> {
        let (socket, addr) = bind()?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let dir = tempfile::tempdir()?;
        let conf = dir.path().join("resolv.conf");
        std::fs::write(&conf, format!("nameserver {addr}\noptions timeout:2 attempts:2\n"))?;
        let (a_queries, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
        let (count, stopping) = (a_queries.clone(), stop.clone());
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopping.load(Ordering::Acquire) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else { continue };
                let Some(query) = Query::parse(&buf[..len]) else { continue };
                let answer = (query.name == name && query.qtype == TYPE_A)
                    .then(|| if count.fetch_add(1, Ordering::AcqRel) == 0 { first } else { then });
                let _ = socket.send_to(&query.reply(&buf[..len], query.name == name, answer), from);
            }
        });
        Ok(RebindingDns { addr, a_queries, stop, conf, _dir: dir })
    }

    /// A `resolv.conf` naming only this server.
    pub fn resolv_conf(&self) -> &Path {
        &self.conf
    }

    /// How many `A` queries for the name were answered.
    pub fn a_queries(&self) -> usize {
        self.a_queries.load(Ordering::Acquire)
    }

    /// The server's address (port 53).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
}

impl Drop for RebindingDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Port 53 on a loopback address no other test uses (127.53.x.y).
fn bind() -> Result<(UdpSocket, Ipv4Addr)> {
    let seed = std::process::id();
    for i in 0..64u32 {
        let n = seed.wrapping_mul(2_654_435_761).wrapping_add(i * 7919);
        let ip = Ipv4Addr::new(127, 53, (n >> 8) as u8, (n as u8).max(1));
        if let Ok(socket) = UdpSocket::bind(SocketAddr::from((ip, 53))) {
            return Ok((socket, ip));
        }
    }
    bail!("no free loopback address for port 53 (the tests must run as root)")
}

/// The one question of a query.
struct Query {
    /// Lower-case, without the trailing dot.
    name: String,
    qtype: u16,
    /// Where the question section ends.
    end: usize,
}

impl Query {
    fn parse(packet: &[u8]) -> Option<Query> {
        if packet.len() < 12 || u16::from_be_bytes([packet[4], packet[5]]) != 1 {
            return None;
        }
        let (mut at, mut labels) = (12, Vec::new());
        loop {
            let len = usize::from(*packet.get(at)?);
            at += 1;
            if len == 0 {
                break;
            }
            labels.push(String::from_utf8_lossy(packet.get(at..at + len)?).to_ascii_lowercase());
            at += len;
        }
        let qtype = u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]);
        packet.get(at + 3)?;
        Some(Query { name: labels.join("."), qtype, end: at + 4 })
    }

    /// The response: the query's id and question, then `answer` if any;
    /// NXDOMAIN for a name it does not know.
    fn reply(&self, packet: &[u8], known: bool, answer: Option<Ipv4Addr>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.end + 16);
        out.extend_from_slice(&packet[..2]);
        // Response, recursion desired and available; rcode 3 = NXDOMAIN.
        out.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
        out.extend_from_slice(&[0, 1, 0, u8::from(answer.is_some()), 0, 0, 0, 0]);
        out.extend_from_slice(&packet[12..self.end]);
        if let Some(ip) = answer {
            // A pointer to the question's name, type A, class IN, TTL 0 (no caching).
            out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4]);
            out.extend_from_slice(&ip.octets());
        }
        out
    }
}
