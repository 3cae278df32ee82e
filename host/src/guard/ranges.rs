//! The address classes the egress guard refuses unless the allowlist opens
//! them, and the reason each one is refused.
//!
//! This is a pure table lookup: no policy, no DNS. IPv6 forms that carry an
//! IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the IPv4
//! address they lead to, because that is where a connection would end up.

use ipnet::{Ipv4Net, Ipv6Net};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why the guard refuses an address. The name ([`Refusal::as_str`]) goes into
/// denial messages and audit records, so a person can tell a typo from an
/// attempt to reach the metadata service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// `0.0.0.0/8` and `::`: "this host"; connecting to it reaches local services.
    Unspecified,
    /// `127.0.0.0/8` and `::1`.
    Loopback,
    /// RFC 1918 networks and IPv6 unique-local `fc00::/7`.
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT shared address space.
    Cgnat,
    /// `169.254.0.0/16` and `fe80::/10`.
    LinkLocal,
    /// An instance metadata service (`169.254.169.254`, `fd00:ec2::254`,
    /// Alibaba's `100.100.100.200`): it hands out cloud credentials.
    CloudMetadata,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Documentation ranges (`192.0.2/24`, `198.51.100/24`, `203.0.113/24`,
    /// `2001:db8::/32`, `3fff::/20`): never real hosts.
    Documentation,
    /// `198.18.0.0/15`, the network benchmarking range.
    Benchmarking,
    /// `fec0::/10`, deprecated site-local IPv6 (private in practice).
    SiteLocal,
    /// Special-purpose space with no public hosts: `240/4`, `192.0.0/24`,
    /// `192.88.99/24`, `2001::/23`, `100::/64`, `64:ff9b:1::/48`, and any IPv6
    /// address outside global unicast `2000::/3`.
    Reserved,
}

impl Refusal {
    /// The human name used in messages (`"loopback"`, `"cloud metadata"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Unspecified => "unspecified",
            Refusal::Loopback => "loopback",
            Refusal::Private => "private",
            Refusal::Cgnat => "CGNAT",
            Refusal::LinkLocal => "link-local",
            Refusal::CloudMetadata => "cloud metadata",
            Refusal::Multicast => "multicast",
            Refusal::Broadcast => "broadcast",
            Refusal::Documentation => "documentation",
            Refusal::Benchmarking => "benchmarking",
            Refusal::SiteLocal => "site-local",
            Refusal::Reserved => "reserved",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), prefix)
}

const fn v6(segments: [u16; 8], prefix: u8) -> Ipv6Net {
    let [a, b, c, d, e, f, g, h] = segments;
    Ipv6Net::new_assert(Ipv6Addr::new(a, b, c, d, e, f, g, h), prefix)
}

/// Metadata endpoints sit inside wider refused ranges; they are listed first
/// so the message names them precisely.
const V4_METADATA: [Ipv4Addr; 2] = [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(100, 100, 100, 200)];
const V6_METADATA: [Ipv6Addr; 1] = [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)];

/// First match wins: narrower classes come before the ranges that contain them.
const V4_REFUSED: [(Ipv4Net, Refusal); 16] = [
    (v4(0, 0, 0, 0, 8), Refusal::Unspecified),
    (v4(10, 0, 0, 0, 8), Refusal::Private),
    (v4(100, 64, 0, 0, 10), Refusal::Cgnat),
    (v4(127, 0, 0, 0, 8), Refusal::Loopback),
    (v4(169, 254, 0, 0, 16), Refusal::LinkLocal),
    (v4(172, 16, 0, 0, 12), Refusal::Private),
    (v4(192, 0, 0, 0, 24), Refusal::Reserved),
    (v4(192, 0, 2, 0, 24), Refusal::Documentation),
    (v4(192, 88, 99, 0, 24), Refusal::Reserved),
    (v4(192, 168, 0, 0, 16), Refusal::Private),
    (v4(198, 18, 0, 0, 15), Refusal::Benchmarking),
    (v4(198, 51, 100, 0, 24), Refusal::Documentation),
    (v4(203, 0, 113, 0, 24), Refusal::Documentation),
    (v4(224, 0, 0, 0, 4), Refusal::Multicast),
    (v4(255, 255, 255, 255, 32), Refusal::Broadcast),
    (v4(240, 0, 0, 0, 4), Refusal::Reserved),
];

const V6_REFUSED: [(Ipv6Net, Refusal); 11] = [
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), Refusal::Unspecified),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), Refusal::Loopback),
    (v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), Refusal::Reserved),
    (v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), Refusal::Reserved),
    (v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), Refusal::Documentation),
    (v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), Refusal::Reserved),
    (v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), Refusal::Documentation),
    (v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), Refusal::Private),
    (v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), Refusal::SiteLocal),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), Refusal::LinkLocal),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), Refusal::Multicast),
];

/// IPv6 prefixes whose last 32 bits are an IPv4 address a packet ends up at.
const V6_EMBEDDING_LOW_32: [Ipv6Net; 3] = [
    v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),    // IPv4-mapped
    v6([0, 0, 0, 0, 0, 0, 0, 0], 96),         // IPv4-compatible (deprecated)
    v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64 well-known prefix
];

/// 6to4 carries the IPv4 address in bits 16..48.
const V6_6TO4: Ipv6Net = v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// Everything IANA hands out as public IPv6 lives here.
const V6_GLOBAL_UNICAST: Ipv6Net = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3);

/// Why `ip` is refused, or `None` when it is an ordinary public address.
pub fn refusal(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(ip) => refusal_v4(ip),
        IpAddr::V6(ip) => refusal_v6(ip),
    }
}

/// Why the IPv4 address `ip` is refused, or `None` when it is public.
fn refusal_v4(ip: Ipv4Addr) -> Option<Refusal> {
    if V4_METADATA.contains(&ip) {
        return Some(Refusal::CloudMetadata);
    }
    V4_REFUSED.iter().find(|(net, _)| net.contains(&ip)).map(|&(_, why)| why)
}

/// Why the IPv6 address `ip` is refused, or `None` when it is public. Forms
/// that embed an IPv4 address are judged by that address.
fn refusal_v6(ip: Ipv6Addr) -> Option<Refusal> {
    if V6_METADATA.contains(&ip) {
        return Some(Refusal::CloudMetadata);
    }
    // `::` and `::1` sit inside the IPv4-compatible prefix; their own names win.
    if let Some(&(_, why)) = V6_REFUSED[..2].iter().find(|(net, _)| net.contains(&ip)) {
        return Some(why);
    }
    if let Some(embedded) = embedded_ipv4(ip) {
        return refusal_v4(embedded);
    }
    if let Some(&(_, why)) = V6_REFUSED[2..].iter().find(|(net, _)| net.contains(&ip)) {
        return Some(why);
    }
    (!V6_GLOBAL_UNICAST.contains(&ip)).then_some(Refusal::Reserved)
}

/// The IPv4 address an IPv6 address leads to, for the translation and
/// tunnelling forms the guard knows.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    if V6_EMBEDDING_LOW_32.iter().any(|net| net.contains(&ip)) {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if V6_6TO4.contains(&ip) {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(addr: &str) -> Option<Refusal> {
        refusal(addr.parse().expect("test address parses"))
    }

    fn assert_refused(cases: &[(&str, Refusal)]) {
        for &(addr, want) in cases {
            assert_eq!(judge(addr), Some(want), "{addr}");
        }
    }

    fn assert_public(addrs: &[&str]) {
        for addr in addrs {
            assert_eq!(judge(addr), None, "{addr}");
        }
    }

    #[test]
    fn every_refused_ipv4_class_is_refused_with_its_name() {
        assert_refused(&[
            ("0.0.0.0", Refusal::Unspecified),
            ("0.1.2.3", Refusal::Unspecified),
            ("10.1.2.3", Refusal::Private),
            ("100.64.0.1", Refusal::Cgnat),
            ("127.0.0.1", Refusal::Loopback),
            ("127.255.255.254", Refusal::Loopback),
            ("169.254.1.1", Refusal::LinkLocal),
            ("169.254.169.254", Refusal::CloudMetadata),
            ("100.100.100.200", Refusal::CloudMetadata),
            ("172.20.0.1", Refusal::Private),
            ("192.0.0.8", Refusal::Reserved),
            ("192.0.2.1", Refusal::Documentation),
            ("198.18.0.1", Refusal::Benchmarking),
            ("198.51.100.7", Refusal::Documentation),
            ("203.0.113.9", Refusal::Documentation),
            ("192.88.99.1", Refusal::Reserved),
            ("192.168.1.1", Refusal::Private),
            ("224.0.0.251", Refusal::Multicast),
            ("239.255.255.250", Refusal::Multicast),
            ("240.0.0.1", Refusal::Reserved),
            ("255.255.255.254", Refusal::Reserved),
            ("255.255.255.255", Refusal::Broadcast),
        ]);
    }

    #[test]
    fn ipv4_range_edges_are_exact() {
        assert_refused(&[
            ("10.0.0.0", Refusal::Private),
            ("10.255.255.255", Refusal::Private),
            ("100.64.0.0", Refusal::Cgnat),
            ("100.127.255.255", Refusal::Cgnat),
            ("172.16.0.0", Refusal::Private),
            ("172.31.255.255", Refusal::Private),
            ("198.18.0.0", Refusal::Benchmarking),
            ("198.19.255.255", Refusal::Benchmarking),
            ("224.0.0.0", Refusal::Multicast),
        ]);
        assert_public(&[
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ]);
    }

    #[test]
    fn ordinary_public_addresses_pass() {
        assert_public(&["1.1.1.1", "8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]);
    }

    #[test]
    fn every_refused_ipv6_class_is_refused_with_its_name() {
        assert_refused(&[
            ("::", Refusal::Unspecified),
            ("::1", Refusal::Loopback),
            ("64:ff9b:1::1", Refusal::Reserved),
            ("100::1", Refusal::Reserved),
            ("2001::1", Refusal::Reserved),
            ("2001:1ff:ffff::1", Refusal::Reserved),
            ("2001:db8::1", Refusal::Documentation),
            ("3fff::1", Refusal::Documentation),
            ("3fff:fff::1", Refusal::Documentation),
            ("fc00::1", Refusal::Private),
            ("fd12:3456::1", Refusal::Private),
            ("fd00:ec2::254", Refusal::CloudMetadata),
            ("fec0::1", Refusal::SiteLocal),
            ("fe80::1", Refusal::LinkLocal),
            ("febf:ffff::1", Refusal::LinkLocal),
            ("ff02::1", Refusal::Multicast),
        ]);
        assert_public(&["2001:200::1", "3fff:1000::1"]);
    }

    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_the_ipv4_address() {
        assert_refused(&[
            ("::ffff:127.0.0.1", Refusal::Loopback),
            ("::ffff:169.254.169.254", Refusal::CloudMetadata),
            ("::ffff:10.0.0.1", Refusal::Private),
            ("::127.0.0.1", Refusal::Loopback),
            ("::192.168.0.1", Refusal::Private),
            ("64:ff9b::10.0.0.1", Refusal::Private),
            ("64:ff9b::169.254.169.254", Refusal::CloudMetadata),
            ("2002:7f00:1::", Refusal::Loopback),
            ("2002:a9fe:a9fe::1", Refusal::CloudMetadata),
            ("2002:c0a8:101::", Refusal::Private),
        ]);
        assert_public(&["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1"]);
    }

    #[test]
    fn ipv6_outside_global_unicast_is_reserved() {
        assert_refused(&[
            ("1::1", Refusal::Reserved),
            ("4000::1", Refusal::Reserved),
            ("::ffff:0:1.2.3.4", Refusal::Reserved),
        ]);
    }
}
