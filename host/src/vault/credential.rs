//! What a credential is: its kind and secret payload, where it may be used
//! (host/path patterns), who may use it (packs, token subjects), and the
//! metadata shown to people and packs (never the value).

use crate::store::Timestamp;
use crate::{Error, Result};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The kinds of credential the vault holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A website login: username and password (injected by the browser capability).
    Login,
    /// Browser session cookies.
    Cookies,
    /// An API key or bearer token.
    ApiKey,
    /// An OAuth client with a refresh token; the access token is refreshed on use.
    Oauth,
    /// An SSH private key (git over SSH).
    SshKey,
    /// HTTP basic authentication.
    Basic,
    /// An AI provider's API key: used only by the AI gateway, never written
    /// into a pack's request.
    ProviderKey,
}

impl CredentialKind {
    /// The stored and wire name (`api_key`).
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Login => "login",
            CredentialKind::Cookies => "cookies",
            CredentialKind::ApiKey => "api_key",
            CredentialKind::Oauth => "oauth",
            CredentialKind::SshKey => "ssh_key",
            CredentialKind::Basic => "basic",
            CredentialKind::ProviderKey => "provider_key",
        }
    }

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<CredentialKind> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

/// One browser cookie of a `cookies` credential.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".to_owned()
}

/// A secret payload, tagged by kind: `{"kind": "api_key", "secret": {"token": "…"}}`.
/// Wiped from memory when dropped; its `Debug` never prints values.
#[derive(Clone, PartialEq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(tag = "kind", content = "secret", rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// `${vault:NAME}` is the password; `.username` and `.password` select fields.
    Login {
        username: String,
        password: String,
        #[serde(default)]
        login_url: Option<String>,
    },
    /// `${vault:NAME}` is a `Cookie` header value (`a=1; b=2`).
    Cookies { cookies: Vec<Cookie> },
    /// `${vault:NAME}` is the token. `username` is what git sends with it over HTTP
    /// (default `x-access-token`).
    ApiKey {
        token: String,
        #[serde(default)]
        username: Option<String>,
    },
    /// `${vault:NAME}` is a current access token, refreshed through `token_url` when
    /// missing or about to expire.
    Oauth {
        client_id: String,
        client_secret: String,
        token_url: String,
        refresh_token: String,
        #[serde(default)]
        access_token: Option<String>,
        /// Unix seconds when `access_token` expires.
        #[serde(default)]
        expires_at: Option<i64>,
    },
    /// Used only by git over SSH; never substituted into text.
    SshKey {
        /// OpenSSH or PEM private key.
        private_key: String,
        #[serde(default)]
        passphrase: Option<String>,
        /// SSH user when the URL names none (default `git`).
        #[serde(default)]
        username: Option<String>,
        /// The server's public host key (`ssh-ed25519 AAAA…`); when set, any
        /// other key is refused. When absent, the first key seen in a
        /// session is recorded and later connections must match it.
        #[serde(default)]
        host_key: Option<String>,
    },
    /// `${vault:NAME}` is base64 of `username:password`, ready for `Authorization: Basic`.
    Basic { username: String, password: String },
    /// The key the AI gateway sends to `provider`; never substituted into text.
    ProviderKey {
        /// The provider it authenticates to (`openai`, `anthropic`, `gemini`, ...).
        provider: String,
        key: String,
    },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, [REDACTED])", self.kind().as_str())
    }
}

impl Secret {
    /// Build a secret of `kind` from its JSON fields; errors name the field
    /// but never repeat a value.
    pub fn from_parts(kind: CredentialKind, fields: serde_json::Value) -> Result<Secret> {
        let tagged = serde_json::json!({ "kind": kind.as_str(), "secret": fields });
        let secret: Secret = serde_json::from_value(tagged).map_err(|e| {
            Error::invalid_input(format!(
                "`secret` does not fit a `{}` credential: {}",
                kind.as_str(),
                without_values(&e)
            ))
        })?;
        secret.validate()?;
        Ok(secret)
    }

    /// Which kind this is.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Secret::Login { .. } => CredentialKind::Login,
            Secret::Cookies { .. } => CredentialKind::Cookies,
            Secret::ApiKey { .. } => CredentialKind::ApiKey,
            Secret::Oauth { .. } => CredentialKind::Oauth,
            Secret::SshKey { .. } => CredentialKind::SshKey,
            Secret::Basic { .. } => CredentialKind::Basic,
            Secret::ProviderKey { .. } => CredentialKind::ProviderKey,
        }
    }

    fn validate(&self) -> Result<()> {
        let empty = |field: &str| Error::invalid_input(format!("`secret.{field}` must not be empty"));
        match self {
            Secret::Login { password, .. } | Secret::Basic { password, .. } if password.is_empty() => {
                Err(empty("password"))
            }
            Secret::Cookies { cookies } if cookies.is_empty() => Err(empty("cookies")),
            Secret::ApiKey { token, .. } if token.is_empty() => Err(empty("token")),
            Secret::ProviderKey { key, .. } if key.trim().is_empty() => Err(empty("key")),
            Secret::ProviderKey { provider, .. }
                if provider.is_empty()
                    || !provider
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') =>
            {
                Err(Error::invalid_input(
                    "`secret.provider` must name a provider in lower case (`openai`, `anthropic`, `gemini`, ...)",
                ))
            }
            Secret::Oauth { refresh_token, .. } if refresh_token.is_empty() => Err(empty("refresh_token")),
            Secret::SshKey { private_key, .. } if !private_key.contains("PRIVATE KEY") => Err(Error::invalid_input(
                "`secret.private_key` must be an OpenSSH or PEM private key (`-----BEGIN ... PRIVATE KEY-----`)",
            )),
            _ => Ok(()),
        }
    }

    /// The text `${vault:NAME}` (no field) stands for; `None` for an SSH key
    /// and for an OAuth credential without a current token.
    pub fn primary(&self) -> Option<String> {
        match self {
            Secret::Login { password, .. } => Some(password.clone()),
            Secret::Cookies { cookies } => {
                Some(cookies.iter().map(|c| format!("{}={}", c.name, c.value)).collect::<Vec<_>>().join("; "))
            }
            Secret::ApiKey { token, .. } => Some(token.clone()),
            Secret::Oauth { access_token, .. } => access_token.clone(),
            Secret::SshKey { .. } | Secret::ProviderKey { .. } => None,
            Secret::Basic { username, password } => {
                Some(base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")))
            }
        }
    }

    /// The text `${vault:NAME.field}` stands for.
    pub fn field(&self, field: &str) -> Option<String> {
        match (self, field) {
            (Secret::Login { username, .. } | Secret::Basic { username, .. }, "username") => Some(username.clone()),
            (Secret::Login { password, .. } | Secret::Basic { password, .. }, "password") => Some(password.clone()),
            (Secret::ApiKey { token, .. }, "token") => Some(token.clone()),
            (Secret::Oauth { access_token, .. }, "access_token") => access_token.clone(),
            (Secret::Cookies { cookies }, name) => cookies.iter().find(|c| c.name == name).map(|c| c.value.clone()),
            _ => None,
        }
    }

    /// Every value that must never appear in a log, an audit record or a
    /// response: the secrets themselves, derived forms (base64 of basic
    /// credentials, cookie headers) and each long line of a private key.
    pub fn redactable_values(&self) -> Vec<String> {
        let mut values: Vec<String> = self.primary().into_iter().collect();
        match self {
            Secret::Login { password, .. } | Secret::Basic { password, .. } => values.push(password.clone()),
            Secret::Cookies { cookies } => values.extend(cookies.iter().map(|c| c.value.clone())),
            Secret::ApiKey { token, .. } => values.push(token.clone()),
            Secret::Oauth { client_secret, refresh_token, access_token, .. } => {
                values.extend([client_secret.clone(), refresh_token.clone()]);
                values.extend(access_token.clone());
            }
            Secret::ProviderKey { key, .. } => values.push(key.clone()),
            Secret::SshKey { private_key, passphrase, .. } => {
                values.push(private_key.clone());
                values.push(private_key.trim().to_owned());
                values.extend(passphrase.clone());
                values.extend(
                    private_key
                        .lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                        .map(str::to_owned),
                );
            }
        }
        // A value sent in a URL or a form body (a GET login form) appears
        // encoded there, and so in the proxy's audit records.
        let encoded: Vec<String> = values
            .iter()
            .flat_map(|v| {
                let form: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
                [form.replace('+', "%20"), form]
            })
            .filter(|e| !values.contains(e))
            .collect();
        values.extend(encoded);
        values.sort();
        values.dedup();
        // Very short values would mask ordinary text everywhere.
        values.retain(|v| v.len() >= 4);
        values
    }

    /// A hint for people: enough to tell credentials apart, never enough
    /// to use one.
    pub fn hint(&self) -> String {
        let tail = |s: &str| {
            let chars: Vec<char> = s.chars().collect();
            if chars.len() >= 20 {
                format!("…{}", chars[chars.len() - 4..].iter().collect::<String>())
            } else {
                "…".to_owned()
            }
        };
        match self {
            Secret::Login { username, .. } => format!("login for {username}"),
            Secret::Cookies { cookies } => format!("{} cookies", cookies.len()),
            Secret::ApiKey { token, .. } => format!("token {}", tail(token)),
            Secret::Oauth { client_id, .. } => format!("oauth client {client_id}"),
            Secret::SshKey { private_key, .. } => {
                let kind = private_key.lines().next().unwrap_or_default().trim_matches('-').trim();
                format!("ssh key ({})", kind.to_ascii_lowercase())
            }
            Secret::Basic { username, .. } => format!("basic for {username}"),
            Secret::ProviderKey { provider, key } => format!("{provider} key {}", last_four(key)),
        }
    }
}

/// `…` and the last four characters of a provider key, enough to tell two
/// keys apart in a listing; only `…` for a key too short to spare four.
fn last_four(key: &str) -> String {
    let chars: Vec<char> = key.trim().chars().collect();
    if chars.len() >= 16 {
        format!("…{}", chars[chars.len() - 4..].iter().collect::<String>())
    } else {
        "…".to_owned()
    }
}

/// What an operator sends to add or replace a credential (`POST /api/v1/vault/credentials`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialInput {
    /// Letters, digits, `-`, `_` and `.`-free: 1-64 characters.
    pub name: String,
    pub kind: CredentialKind,
    #[serde(default)]
    pub description: String,
    /// Host patterns, `[scheme://]host[:port][/path-prefix]`: `api.example.com`
    /// and `*.example.com` (https and ssh only), `https://git.example.com/org/`,
    /// `http://127.0.0.1` (plain http must be named); `*` for any host. See
    /// [`super::pattern`].
    pub hosts: Vec<String>,
    /// Packs that may use it; `*` for any.
    pub packs: Vec<String>,
    /// Token subjects that may use it; empty for any.
    #[serde(default)]
    pub subjects: Vec<String>,
    /// The secret's fields, by kind (see [`Secret`]).
    pub secret: serde_json::Value,
}

/// What anyone but the host sees of a credential.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialMeta {
    pub name: String,
    pub kind: CredentialKind,
    pub description: String,
    pub hosts: Vec<String>,
    pub packs: Vec<String>,
    pub subjects: Vec<String>,
    /// A masked hint (`token …x7Qz`), never the value.
    pub hint: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

/// serde names fields and types, but an "invalid type" message quotes the
/// value it got (`invalid type: string "hunter2"`): keep only the kind.
fn without_values(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match (text.find("invalid type: "), text.find(", expected")) {
        (Some(start), Some(end)) if start < end => {
            let found = text[start + 14..end].split_whitespace().next().unwrap_or("value");
            format!("{}invalid type: {found}{}", &text[..start], &text[end..])
        }
        _ if text.contains("invalid value") => "a field has an invalid value".to_owned(),
        _ => text,
    }
}

/// Check a credential name: 1-64 of `[A-Za-z0-9_-]`, so it cannot collide
/// with the `${vault:NAME.field}` syntax.
pub fn check_name(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "`name` `{}` must be 1-64 letters, digits, `-` or `_`",
            name.chars().take(64).collect::<String>().escape_debug()
        )))
    }
}

/// Check host patterns and ACL lists before storing them.
pub fn check_scope(hosts: &[String], packs: &[String]) -> Result<()> {
    super::pattern::check_patterns(hosts)?;
    if packs.is_empty() {
        return Err(Error::invalid_input(
            "`packs` must name at least one pack allowed to use the credential (`*` for any)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_checked_by_kind_and_never_echoed() {
        let err = Secret::from_parts(CredentialKind::ApiKey, json!({"tokn": "s3cr3t-value"})).unwrap_err();
        assert!(err.message.contains("tokn") && !err.message.contains("s3cr3t-value"), "{}", err.message);
        let basic =
            Secret::from_parts(CredentialKind::Basic, json!({"username": "ada", "password": "pw-12345"})).unwrap();
        assert_eq!(basic.primary().unwrap(), "YWRhOnB3LTEyMzQ1");
        assert!(basic.redactable_values().contains(&"YWRhOnB3LTEyMzQ1".to_owned()));
        assert!(!format!("{basic:?}").contains("pw-12345"));
        assert_eq!(basic.hint(), "basic for ada");
        assert!(Secret::from_parts(CredentialKind::SshKey, json!({"private_key": "nope"})).is_err());
        let key = "sk-test-0123456789abcdefWXYZ";
        let provider =
            Secret::from_parts(CredentialKind::ProviderKey, json!({"provider": "openai", "key": key})).unwrap();
        assert_eq!(provider.hint(), "openai key …WXYZ");
        assert_eq!(provider.primary(), None, "provider keys are never substituted into a pack's request");
        assert!(provider.redactable_values().contains(&key.to_owned()));
        let err =
            Secret::from_parts(CredentialKind::ProviderKey, json!({"provider": "Open AI", "key": key})).unwrap_err();
        assert!(err.message.contains("secret.provider") && !err.message.contains(key), "{}", err.message);
        let err = Secret::from_parts(CredentialKind::Cookies, json!({"cookies": "sid=hunter2"})).unwrap_err();
        assert!(!err.message.contains("hunter2") && err.message.contains("invalid type: string"), "{}", err.message);
    }
}
