//! Where a credential may be sent: its host patterns, each
//! `[scheme://]host[:port][/path-prefix]`, matched against a [`Destination`]
//! at every use (a request, each redirect hop, a page, a git remote).
//!
//! - `scheme` is `https`, `http` or `ssh`. A pattern without one matches the
//!   encrypted schemes only (`https`, `ssh`): a secret goes over plain
//!   `http://` only when a pattern names `http://` itself (a loopback test
//!   server, a lab). Credentials stored before schemes existed keep their
//!   bare patterns and so keep working over https and ssh, and stop being
//!   sent in the clear.
//! - `host` is a name or address (IPv6 in brackets), `*.suffix` (any host
//!   under it, not the suffix itself) or `*` (any host).
//! - `port`, when given, must equal the destination's port (its scheme's
//!   default when the URL names none); without one any port matches.
//! - `path-prefix` (from the first `/`) must begin the destination's path.

use crate::{Error, Result};

/// Schemes a pattern without a scheme matches: the encrypted ones.
const SECURE_SCHEMES: &[&str] = &["https", "ssh"];
/// Schemes a pattern may name.
const SCHEMES: &[&str] = &["https", "http", "ssh"];

/// Where a credential is about to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    /// `https`, `http` or `ssh`.
    pub scheme: &'a str,
    /// Host as in a URL (IPv6 with or without brackets).
    pub host: &'a str,
    /// The port connected to, when known.
    pub port: Option<u16>,
    /// Path on the server.
    pub path: &'a str,
}

impl<'a> Destination<'a> {
    /// The destination a request to `url` goes to.
    pub fn of_url(url: &'a url::Url) -> Destination<'a> {
        Destination {
            scheme: url.scheme(),
            host: url.host_str().unwrap_or_default(),
            port: url.port_or_known_default(),
            path: url.path(),
        }
    }
}

impl std::fmt::Display for Destination<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// One parsed host pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern<'a> {
    scheme: Option<&'a str>,
    host: String,
    port: Option<u16>,
    path: &'a str,
}

impl<'a> HostPattern<'a> {
    fn parse(text: &'a str) -> std::result::Result<HostPattern<'a>, String> {
        if text.is_empty() || text.chars().any(char::is_whitespace) {
            return Err("is empty or holds whitespace".to_owned());
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) if SCHEMES.contains(&s) => (Some(s), rest),
            Some((s, _)) => return Err(format!("names scheme `{s}`; use https://, http:// or ssh://")),
            None => (None, text),
        };
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (addr, after) = v6.split_once(']').ok_or("has an unclosed `[`")?;
                (addr, after.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() {
            return Err("names no host".to_owned());
        }
        if host.contains(':') && !authority.starts_with('[') {
            return Err("has an IPv6 address outside brackets (`[::1]`) or a second `:`".to_owned());
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("has port `{p}`"))?),
            None => None,
        };
        Ok(HostPattern { scheme, host: host.to_ascii_lowercase(), port, path })
    }

    fn matches(&self, to: &Destination<'_>, host: &str) -> bool {
        let scheme_ok = match self.scheme {
            Some(s) => s == to.scheme,
            None => SECURE_SCHEMES.contains(&to.scheme),
        };
        let host_ok = match self.host.strip_prefix("*.") {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
            None => self.host == "*" || self.host == host,
        };
        let port_ok = self.port.is_none() || self.port == to.port;
        scheme_ok && host_ok && port_ok && to.path.starts_with(self.path)
    }
}

/// Check host patterns before storing them: `invalid_input` naming `hosts`
/// and the pattern otherwise.
pub fn check_patterns(hosts: &[String]) -> Result<()> {
    if hosts.is_empty() {
        return Err(Error::invalid_input(
            "`hosts` must name at least one host pattern where the credential may be used (`*` for any)",
        ));
    }
    for pattern in hosts {
        if let Err(why) = HostPattern::parse(pattern) {
            return Err(Error::invalid_input(format!(
                "`hosts`: `{pattern}` {why}; write `api.example.com` (https and ssh only), `*.example.com`, \
                 `https://host:8443/path/prefix`, or `http://host` to allow plain http"
            )));
        }
    }
    Ok(())
}

/// Whether a credential limited to `patterns` may be sent to `to`. A
/// pattern that does not parse matches nothing.
pub fn matches_target(patterns: &[String], to: &Destination<'_>) -> bool {
    let host = to.host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    patterns.iter().filter_map(|p| HostPattern::parse(p).ok()).any(|p| p.matches(to, host))
}

/// Why `to` is refused for a credential limited to `patterns`, with what to
/// change: a destination the patterns name only without a scheme is a
/// plain-http use that needs an `http://` pattern.
pub fn refusal(name: &str, patterns: &[String], to: &Destination<'_>) -> String {
    if to.scheme == "http" {
        let as_secure = Destination { scheme: "https", ..*to };
        if matches_target(patterns, &as_secure) {
            return format!(
                "credential `{name}` is not sent over plain http to `{}`: its hosts ({}) allow only https and ssh \
                 there; add `http://{}` to its hosts if this destination must be reached without TLS",
                to.host,
                patterns.join(", "),
                to.host
            );
        }
    }
    format!(
        "credential `{name}` may not be sent to `{}` ({to}; it is limited to {}); use it only with those hosts",
        to.host,
        patterns.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to<'a>(scheme: &'a str, host: &'a str, port: Option<u16>, path: &'a str) -> Destination<'a> {
        Destination { scheme, host, port, path }
    }

    fn p(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn host_and_path_patterns_match_exactly_what_they_name() {
        let pats = p(&["api.example.com", "*.corp.test/v1/"]);
        assert!(matches_target(&pats, &to("https", "API.example.com", Some(443), "/anything")));
        assert!(matches_target(&pats, &to("https", "a.corp.test", None, "/v1/users")));
        assert!(!matches_target(&pats, &to("https", "a.corp.test", None, "/v2/users")));
        assert!(!matches_target(&pats, &to("https", "corp.test", None, "/v1/")));
        assert!(!matches_target(&pats, &to("https", "evil-api.example.com", None, "/")));
        assert!(matches_target(&p(&["*"]), &to("https", "anything.test", None, "/")));
    }

    #[test]
    fn a_bare_pattern_means_https_and_ssh_and_plain_http_needs_its_own_pattern() {
        let bare = p(&["git.example.com", "*"]);
        assert!(matches_target(&bare, &to("ssh", "git.example.com", Some(22), "/org/repo.git")));
        assert!(matches_target(&bare, &to("https", "other.test", Some(443), "/")));
        assert!(!matches_target(&bare, &to("http", "git.example.com", Some(80), "/")));
        assert!(!matches_target(&bare, &to("http", "other.test", Some(80), "/")));
        let tls = p(&["https://api.example.com"]);
        assert!(!matches_target(&tls, &to("ssh", "api.example.com", Some(22), "/")), "https:// is https only");
        assert!(!matches_target(&tls, &to("http", "api.example.com", Some(80), "/")));
        let plain = p(&["http://127.0.0.1"]);
        assert!(matches_target(&plain, &to("http", "127.0.0.1", Some(39211), "/")));
        assert!(!matches_target(&plain, &to("https", "127.0.0.1", Some(443), "/")), "http:// is http only");
        let message = refusal("api", &p(&["127.0.0.1"]), &to("http", "127.0.0.1", Some(8080), "/"));
        assert!(message.contains("add `http://127.0.0.1`"), "{message}");
    }

    #[test]
    fn ports_and_ipv6_hosts_are_matched_when_named() {
        let pats = p(&["https://api.example.com:8443/v1/", "http://[::1]:8080"]);
        assert!(matches_target(&pats, &to("https", "api.example.com", Some(8443), "/v1/x")));
        assert!(!matches_target(&pats, &to("https", "api.example.com", Some(443), "/v1/x")));
        assert!(matches_target(&pats, &to("http", "[::1]", Some(8080), "/")));
        assert!(matches_target(&pats, &to("http", "::1", Some(8080), "/")));
        assert!(!matches_target(&pats, &to("http", "::1", Some(8081), "/")));
    }

    #[test]
    fn malformed_patterns_are_refused_naming_the_field() {
        for bad in ["", "ftp://x", "http://", "https://host:99999", "https://host:0", "a b", "http://[::1", "x:port"] {
            let err = check_patterns(&[bad.to_owned()]).unwrap_err();
            assert!(err.message.starts_with("`hosts`"), "{bad}: {}", err.message);
        }
        assert!(check_patterns(&[]).is_err());
        check_patterns(&p(&["api.example.com", "https://*.example.com/org/", "ssh://git.example.com:2222", "*"]))
            .unwrap();
    }
}
