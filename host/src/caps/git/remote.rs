//! Remotes: normalising what a pack writes (`owner/repo`, https, ssh URLs,
//! scp-style addresses) into one [`Remote`], and the libgit2 callbacks that
//! hand it a credential. The callbacks answer only for the exact URL the
//! host connects to, only once per connection attempt (libgit2 asks again
//! after a rejection, up to 15 times over HTTP), pin the SSH host key, and
//! stop at the deadline.

use crate::vault::Secret;
use crate::{Error, Result};
use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;
use url::Url;

/// Transport of a remote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ssh,
    Http,
}

/// A remote as the host records and reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    /// The normalised URL (never with a password).
    pub url: String,
    pub transport: Transport,
    /// Host as in a URL authority (IPv6 in brackets).
    pub host: String,
    pub port: u16,
    /// Path on the server, for credential path patterns.
    pub path: String,
    /// The SSH user named in the address, if any.
    pub user: Option<String>,
    /// Written `user@host:path` (relative to the user's home), not `ssh://`.
    scp: bool,
}

impl Remote {
    /// Parse `text`: `owner/repo` (GitHub), `https://` / `http://`,
    /// `ssh://[user@]host[:port]/path`, or `[user@]host:path`.
    pub fn parse(text: &str) -> Result<Remote> {
        let text = text.trim();
        // The text may hold a credential pasted by mistake: never echo it.
        let bad = |why: &str| Error::invalid_input(format!("`url` {why}"));
        if is_owner_repo(text) {
            let repo = text.trim_end_matches(".git");
            return Remote::parse(&format!("https://github.com/{repo}.git"));
        }
        if let Some((user_host, path)) = scp_parts(text) {
            let (user, host) = match user_host.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_owned()), h),
                None => (None, user_host),
            };
            let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.".contains(c));
            let path_ok = !path.is_empty() && !path.starts_with(':') && !path.chars().any(char::is_whitespace);
            if !host_ok || !path_ok {
                return Err(bad("is not a usable scp-style address; write `user@host:path/repo.git`"));
            }
            return Ok(Remote {
                url: text.to_owned(),
                transport: Transport::Ssh,
                host: host.to_ascii_lowercase(),
                port: 22,
                path: path.to_owned(),
                user,
                scp: true,
            });
        }
        let url = Url::parse(text).map_err(|e| bad(&format!("is not a repository address ({e})")))?;
        let transport = match url.scheme() {
            "https" | "http" => Transport::Http,
            "ssh" => Transport::Ssh,
            other => {
                return Err(bad(&format!(
                    "uses `{other}`; use `owner/repo`, an https URL or an SSH address (`ssh://` or `user@host:path`)"
                )));
            }
        };
        if url.password().is_some() || (transport == Transport::Http && !url.username().is_empty()) {
            return Err(bad("must not carry credentials; name a vault credential in `credential` instead"));
        }
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("has no host"))?;
        let port = url.port_or_known_default().unwrap_or(22);
        let user = Some(url.username().to_owned()).filter(|u| !u.is_empty());
        Ok(Remote {
            url: url.to_string(),
            transport,
            host: host.to_ascii_lowercase(),
            port,
            path: url.path().to_owned(),
            user,
            scp: false,
        })
    }

    /// The repository's name: the last path segment without `.git`.
    pub fn name(&self) -> String {
        let last = self.path.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or_default();
        let name = last.trim_end_matches(".git");
        if name.is_empty() { "repo".to_owned() } else { name.to_owned() }
    }

    /// The URL to hand libgit2: for SSH, the host is replaced by the address
    /// the egress guard vetted (the pinned host key proves who answers), so
    /// a name that re-resolves elsewhere gets nowhere. HTTP keeps the name
    /// (TLS needs it).
    pub fn connect_url(&self, vetted: Option<std::net::IpAddr>) -> String {
        let Some(ip) = vetted.filter(|_| self.transport == Transport::Ssh) else {
            return self.url.clone();
        };
        let host = match ip {
            std::net::IpAddr::V4(v4) => v4.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        };
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        if self.scp {
            format!("{user}{host}:{}", self.path)
        } else {
            format!("ssh://{user}{host}:{}{}", self.port, self.path)
        }
    }

    /// `host:port`, the key of recorded host keys.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn is_owner_repo(text: &str) -> bool {
    let parts: Vec<&str> = text.split('/').collect();
    parts.len() == 2
        && !text.contains(':')
        && parts.iter().all(|p| {
            !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// `[user@]host:path` without a scheme (a `:` before any `/`).
fn scp_parts(text: &str) -> Option<(&str, &str)> {
    if text.contains("://") {
        return None;
    }
    let (before, after) = text.split_once(':')?;
    (!before.contains('/') && !before.is_empty()).then_some((before, after))
}

/// How the host answers libgit2's questions during one connection attempt.
pub struct Authenticator {
    /// The exact URL libgit2 was given; anything else gets no credential.
    pub expected_url: String,
    pub secret: Option<Secret>,
    /// The key the server must present: pinned by the credential, or
    /// recorded in the session on first use.
    pub host_key: HostKeyPolicy,
    pub deadline: Instant,
    /// Set when a callback refused (URL mismatch, second credential request,
    /// host key mismatch, deadline), so the caller can say why.
    pub refusal: Rc<Cell<Option<Refusal>>>,
}

/// Why a callback stopped the operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// libgit2 asked for credentials for a URL other than the remote's.
    UnexpectedUrl,
    /// The remote rejected the credential (libgit2 asked again).
    Rejected,
    /// The credential cannot authenticate this transport.
    WrongKind,
    /// The server's host key differs from the pinned or recorded one.
    HostKey,
    /// The deadline passed.
    Deadline,
}

/// Where the expected SSH host key comes from.
pub enum HostKeyPolicy {
    /// The credential names the key.
    Pinned(Vec<u8>),
    /// Accept a new host once and record it in the session; later
    /// connections must present the same key.
    Recorded { file: PathBuf, authority: String },
}

impl Authenticator {
    /// Callbacks enforcing this authenticator.
    pub fn callbacks<'a>(&'a self) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        // Counts answers that carried the secret: a second request means the
        // remote rejected it, and one wrong key must not become 15 attempts.
        let answered = Cell::new(0u32);
        callbacks
            .credentials(move |url, user_from_url, allowed| self.credential(url, user_from_url, allowed, &answered));
        callbacks.certificate_check(move |cert, _host| {
            let Some(hostkey) = cert.as_hostkey().and_then(|h| h.hostkey()) else {
                // TLS: libgit2 verifies the certificate chain as usual.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            if self.host_key_matches(hostkey) {
                Ok(CertificateCheckStatus::CertificateOk)
            } else {
                self.refuse(Refusal::HostKey)
            }
        });
        callbacks.transfer_progress(move |_| !self.expired());
        callbacks.sideband_progress(move |_| !self.expired());
        callbacks
    }

    fn credential(
        &self,
        url: &str,
        user_from_url: Option<&str>,
        allowed: CredentialType,
        answered: &Cell<u32>,
    ) -> Result<Cred, git2::Error> {
        if self.expired() {
            return self.refuse(Refusal::Deadline);
        }
        if url != self.expected_url {
            return self.refuse(Refusal::UnexpectedUrl);
        }
        let secret = match &self.secret {
            Some(secret) => secret,
            None => return self.refuse(Refusal::Rejected),
        };
        // The SSH handshake asks for the user name first, then the key.
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(&ssh_user(secret, user_from_url));
        }
        if answered.get() > 0 {
            return self.refuse(Refusal::Rejected);
        }
        answered.set(1);
        match secret {
            Secret::SshKey { private_key, passphrase, .. } if allowed.contains(CredentialType::SSH_KEY) => {
                Cred::ssh_key_from_memory(&ssh_user(secret, user_from_url), None, private_key, passphrase.as_deref())
            }
            _ if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) => match http_login(secret) {
                Some((user, pass)) => Cred::userpass_plaintext(&user, &pass),
                None => self.refuse(Refusal::WrongKind),
            },
            _ => self.refuse(Refusal::WrongKind),
        }
    }

    fn host_key_matches(&self, presented: &[u8]) -> bool {
        match &self.host_key {
            HostKeyPolicy::Pinned(expected) => expected.as_slice() == presented,
            HostKeyPolicy::Recorded { file, authority } => known_hosts::check_or_record(file, authority, presented),
        }
    }

    fn expired(&self) -> bool {
        let over = Instant::now() >= self.deadline;
        if over {
            self.refusal.set(Some(Refusal::Deadline));
        }
        over
    }

    fn refuse<T>(&self, why: Refusal) -> Result<T, git2::Error> {
        self.refusal.set(Some(why));
        Err(git2::Error::from_str("refused by helmdeck"))
    }
}

fn ssh_user(secret: &Secret, from_url: Option<&str>) -> String {
    match (from_url, secret) {
        (Some(user), _) if !user.is_empty() => user.to_owned(),
        (_, Secret::SshKey { username: Some(user), .. }) => user.clone(),
        _ => "git".to_owned(),
    }
}

/// User and password git sends over HTTP for `secret`.
fn http_login(secret: &Secret) -> Option<(String, String)> {
    match secret {
        Secret::ApiKey { token, username } => {
            Some((username.clone().unwrap_or_else(|| "x-access-token".to_owned()), token.clone()))
        }
        Secret::Basic { username, password } | Secret::Login { username, password, .. } => {
            Some((username.clone(), password.clone()))
        }
        Secret::Oauth { access_token: Some(token), .. } => Some(("oauth2".to_owned(), token.clone())),
        _ => None,
    }
}

/// The raw key blob of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn parse_host_key(line: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    let mut fields = line.split_whitespace();
    let blob = match (fields.next(), fields.next()) {
        (Some(kind), Some(blob)) if kind.starts_with("ssh-") || kind.starts_with("ecdsa-") => blob,
        (Some(blob), None) => blob,
        _ => "",
    };
    base64::engine::general_purpose::STANDARD.decode(blob).map_err(|_| {
        Error::invalid_input("the credential's `host_key` is not an OpenSSH public key (`ssh-ed25519 AAAA…`)")
    })
}

/// Host keys a session has seen, in its private directory.
mod known_hosts {
    use base64::Engine as _;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// Whether `presented` is the key recorded for `authority`, recording it
    /// when none is (trust on first use within the session).
    pub fn check_or_record(file: &Path, authority: &str, presented: &[u8]) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut known: BTreeMap<String, String> =
            std::fs::read(file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        match known.get(authority) {
            Some(recorded) => b64.decode(recorded).is_ok_and(|k| k == presented),
            None => {
                known.insert(authority.to_owned(), b64.encode(presented));
                serde_json::to_vec(&known).is_ok_and(|bytes| std::fs::write(file, bytes).is_ok())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_form_normalises_to_one_remote() {
        let gh = Remote::parse("octo/hello-world").unwrap();
        assert_eq!(
            (gh.url.as_str(), gh.transport, gh.port),
            ("https://github.com/octo/hello-world.git", Transport::Http, 443)
        );
        assert_eq!(gh.name(), "hello-world");
        let ssh = Remote::parse("ssh://root@127.0.0.1:2222/srv/app.git").unwrap();
        assert_eq!(
            (ssh.host.as_str(), ssh.port, ssh.user.as_deref(), ssh.name()),
            ("127.0.0.1", 2222, Some("root"), "app".into())
        );
        let scp = Remote::parse("git@Example.com:team/tool.git").unwrap();
        assert_eq!(
            (scp.transport, scp.host.as_str(), scp.port, scp.path.as_str()),
            (Transport::Ssh, "example.com", 22, "team/tool.git")
        );
        assert_eq!(scp.connect_url(Some("10.1.2.3".parse().unwrap())), "git@10.1.2.3:team/tool.git");
        assert_eq!(ssh.connect_url(Some("::1".parse().unwrap())), "ssh://root@[::1]:2222/srv/app.git");
        let http = Remote::parse("http://127.0.0.1:8080/repo.git").unwrap();
        assert_eq!(http.connect_url(Some("127.0.0.1".parse().unwrap())), "http://127.0.0.1:8080/repo.git");
    }

    #[test]
    fn credentials_in_urls_and_other_schemes_are_refused() {
        for bad in
            ["https://user:tok@host/r.git", "https://tok@host/r.git", "file:///etc", "ext::sh -c id", "git://host/r"]
        {
            let err = Remote::parse(bad).unwrap_err();
            assert_eq!(err.code, crate::ErrorCode::InvalidInput, "{bad}");
            assert!(!err.message.contains("tok@"), "{}", err.message);
        }
    }
}
