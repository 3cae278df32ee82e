//! The egress allowlist: which refused destinations an operator has opened.
//!
//! Parsing and matching only; deciding what is refused in the first place is
//! [`super::ranges`], and putting the two together is [`super::EgressGuard`].

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The environment variable operators set to open internal destinations. It
/// is named in every denial message, so it lives here once.
pub const ALLOWLIST_ENV: &str = "HELMDECK_EGRESS_ALLOWLIST";

/// One entry of the allowlist, in its normalised form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// An exact host name (lower case, no trailing dot). Opens every address
    /// the name resolves to.
    Host(String),
    /// `*.suffix`: any name strictly below `suffix` (not `suffix` itself).
    /// Opens every address such a name resolves to.
    Subdomains(String),
    /// One IP address, whether written in a URL or resolved from a name.
    Addr(IpAddr),
    /// A CIDR network, whether the address is written in a URL or resolved.
    Net(IpNet),
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Host(name) => f.write_str(name),
            AllowEntry::Subdomains(suffix) => write!(f, "*.{suffix}"),
            AllowEntry::Addr(ip) => write!(f, "{ip}"),
            AllowEntry::Net(net) => write!(f, "{net}"),
        }
    }
}

/// A `HELMDECK_EGRESS_ALLOWLIST` entry that could not be understood. The
/// whole list is rejected: a typo silently opening nothing (or too much) is
/// worse than refusing to start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{ALLOWLIST_ENV} entry `{entry}` is not usable ({why}); write a host name (api.internal), \
     `*.suffix` (*.corp.example), an IP address (10.0.0.7) or a CIDR (10.0.0.0/8)"
)]
pub struct PolicyError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong with it.
    pub why: String,
}

/// What the operator opened on top of the built-in refusals. The default
/// (empty) policy opens nothing: every refused range stays refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    entries: Vec<AllowEntry>,
}

impl EgressPolicy {
    /// Parse an allowlist: entries separated by commas and/or whitespace,
    /// each a host name (case-insensitive, trailing dot ignored), `*.suffix`,
    /// an IP address or a CIDR. An empty string opens nothing.
    pub fn parse(list: &str) -> Result<Self, PolicyError> {
        let entries = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(parse_entry)
            .collect::<Result<_, _>>()?;
        Ok(EgressPolicy { entries })
    }

    /// The entries, normalised, in the order they were written.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// The entry that opens the host name `name` (and so every address it
    /// resolves to), if any. `name` is compared case-insensitively without
    /// its trailing dot.
    pub fn entry_for_name(&self, name: &str) -> Option<&AllowEntry> {
        let name = canonical_name(name);
        self.entries.iter().find(|entry| match entry {
            AllowEntry::Host(host) => *host == name,
            AllowEntry::Subdomains(suffix) => {
                name.strip_suffix(suffix.as_str()).is_some_and(|label| label.len() > 1 && label.ends_with('.'))
            }
            AllowEntry::Addr(_) | AllowEntry::Net(_) => false,
        })
    }

    /// The entry that opens the address `ip`, if any. An IPv4-mapped IPv6
    /// address matches IPv4 entries too, since it reaches the same host.
    pub fn entry_for_addr(&self, ip: IpAddr) -> Option<&AllowEntry> {
        let forms = [ip, ip.to_canonical()];
        self.entries.iter().find(|entry| match entry {
            AllowEntry::Addr(allowed) => forms.contains(allowed),
            AllowEntry::Net(net) => forms.iter().any(|form| net.contains(form)),
            AllowEntry::Host(_) | AllowEntry::Subdomains(_) => false,
        })
    }
}

impl FromStr for EgressPolicy {
    type Err = PolicyError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        EgressPolicy::parse(list)
    }
}

/// Host names compare lower-case and without the root's trailing dot
/// (`Example.COM.` is `example.com`).
pub(crate) fn canonical_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

fn parse_entry(entry: &str) -> Result<AllowEntry, PolicyError> {
    let bad = |why: &str| PolicyError { entry: entry.to_owned(), why: why.to_owned() };
    if entry.contains("://") {
        return Err(bad("a URL; write just its host name"));
    }
    if entry.contains('/') {
        let net: IpNet = entry.parse().map_err(|_| bad("not a valid CIDR"))?;
        return Ok(AllowEntry::Net(net.trunc()));
    }
    let unbracketed = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']')).unwrap_or(entry);
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Ok(AllowEntry::Addr(ip));
    }
    match entry.strip_prefix("*.") {
        Some(suffix) => parse_host_name(suffix).map(AllowEntry::Subdomains).map_err(bad),
        None => parse_host_name(entry).map(AllowEntry::Host).map_err(bad),
    }
}

/// A host name as the `url` crate would normalise it in a URL (IDNA to
/// punycode, lower case), restricted to letters, digits, `-` and `_`.
fn parse_host_name(name: &str) -> Result<String, &'static str> {
    let host = url::Host::parse(name).map_err(|_| "not a valid host name")?;
    let url::Host::Domain(domain) = host else {
        return Err("an IP address written in a non-standard form; use dotted decimal");
    };
    let domain = canonical_name(&domain);
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err("a host name is dot-separated labels of letters, digits, `-` and `_`");
    }
    Ok(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &str) -> EgressPolicy {
        EgressPolicy::parse(list).expect("test allowlist parses")
    }

    #[test]
    fn entries_are_split_on_commas_and_whitespace_and_normalised() {
        let policy = parse(" API.Internal., *.Corp.Example ,10.0.0.7\n\t10.1.0.9/16,, [fd00::1] fd00:1::/32 ");
        let written: Vec<String> = policy.entries().iter().map(ToString::to_string).collect();
        assert_eq!(written, ["api.internal", "*.corp.example", "10.0.0.7", "10.1.0.0/16", "fd00::1", "fd00:1::/32"]);
    }

    #[test]
    fn an_empty_allowlist_opens_nothing() {
        let policy = parse("  ,  ");
        assert!(policy.entries().is_empty());
        assert_eq!(policy.entry_for_name("localhost"), None);
        assert_eq!(policy.entry_for_addr("127.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn host_names_match_exactly_ignoring_case_and_trailing_dot() {
        let policy = parse("api.internal");
        assert!(policy.entry_for_name("API.internal.").is_some());
        assert!(policy.entry_for_name("x.api.internal").is_none());
        assert!(policy.entry_for_name("api.internal.evil").is_none());
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let policy = parse("*.corp.example");
        assert!(policy.entry_for_name("git.corp.example").is_some());
        assert!(policy.entry_for_name("a.b.corp.example.").is_some());
        assert!(policy.entry_for_name("corp.example").is_none());
        assert!(policy.entry_for_name("evilcorp.example").is_none());
        assert!(policy.entry_for_name(".corp.example").is_none());
    }

    #[test]
    fn addresses_and_cidrs_match_including_ipv4_mapped_forms() {
        let policy = parse("127.0.0.1 10.0.0.0/8 fd00::/8");
        let opened = |ip: &str| policy.entry_for_addr(ip.parse().unwrap()).is_some();
        assert!(opened("127.0.0.1"));
        assert!(opened("::ffff:127.0.0.1"));
        assert!(!opened("127.0.0.2"));
        assert!(opened("10.200.0.1"));
        assert!(opened("::ffff:10.200.0.1"));
        assert!(opened("fd12::1"));
        assert!(!opened("fe80::1"));
    }

    #[test]
    fn a_bad_entry_is_named_in_the_error_with_the_accepted_forms() {
        for bad in [
            "http://api.internal",
            "api.internal:8080",
            "10.0.0.0/33",
            "*",
            "*.",
            "foo.*.com",
            "a..b",
            "0x7f.1",
            "user@host",
        ] {
            let err = EgressPolicy::parse(&format!("ok.example, {bad}")).expect_err(bad);
            assert_eq!(err.entry, bad);
            let message = err.to_string();
            assert!(message.contains(&format!("`{bad}`")), "{message}");
            assert!(message.contains(ALLOWLIST_ENV), "{message}");
            assert!(message.contains("CIDR"), "{message}");
        }
    }

    #[test]
    fn unicode_names_are_stored_as_punycode_like_urls_spell_them() {
        let policy = parse("bücher.example");
        assert_eq!(policy.entries(), [AllowEntry::Host("xn--bcher-kva.example".into())]);
        let url = url::Url::parse("http://BÜCHER.example/").unwrap();
        assert!(policy.entry_for_name(url.host_str().unwrap()).is_some());
    }
}
