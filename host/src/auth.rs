//! Bearer tokens: HS256 JWTs signed with a secret from
//! `HELMDECK_JWT_SECRET` or generated on first start into the data
//! directory (mode 0600). The same tokens serve REST and MCP.

use crate::{Error, ErrorCode, Result};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// List packs and tools, read schemas.
    #[serde(rename = "packs:read")]
    PacksRead,
    /// Call tools.
    #[serde(rename = "packs:call")]
    PacksCall,
    /// Read the audit records of the token's own subject.
    #[serde(rename = "audit:read")]
    AuditRead,
    /// Read every subject's audit records; implies `audit:read`.
    #[serde(rename = "audit:all")]
    AuditAll,
    /// Call models through the AI gateway (`/v1/chat/completions`, `/v1/models`).
    #[serde(rename = "llm:call")]
    LlmCall,
    /// Install and remove packs, grant capabilities; implies every other scope.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] =
        [Scope::PacksRead, Scope::PacksCall, Scope::AuditRead, Scope::AuditAll, Scope::LlmCall, Scope::Admin];
    /// What `helmdeck token issue` grants when no `--scope` is given: an agent's
    /// working set, without administration or other subjects' records.
    pub const DEFAULT: [Scope; 4] = [Scope::PacksRead, Scope::PacksCall, Scope::AuditRead, Scope::LlmCall];

    /// The wire name (`packs:call`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PacksRead => "packs:read",
            Scope::PacksCall => "packs:call",
            Scope::AuditRead => "audit:read",
            Scope::AuditAll => "audit:all",
            Scope::LlmCall => "llm:call",
            Scope::Admin => "admin",
        }
    }

    /// What holding this scope allows, in a few words (`token issue --help`).
    pub fn meaning(self) -> &'static str {
        match self {
            Scope::PacksRead => "list packs and tools, read schemas and the caller's own artifacts",
            Scope::PacksCall => "call tools, open sessions",
            Scope::AuditRead => "read the audit records of the token's own calls",
            Scope::AuditAll => "read every subject's audit records",
            Scope::LlmCall => "call models through the AI gateway (/v1/chat/completions, /v1/models)",
            Scope::Admin => "everything: install packs, the vault, every artifact and audit record",
        }
    }

    /// Whether holding `self` grants `other` (`admin` grants every scope,
    /// `audit:all` grants `audit:read`).
    pub fn grants(self, other: Scope) -> bool {
        self == other || self == Scope::Admin || (self == Scope::AuditAll && other == Scope::AuditRead)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown scope `{s}`; use {}", Scope::ALL.map(|s| s.as_str()).join(", ")))
    }
}

/// The claims Helmdeck puts in a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    /// Space-separated scopes, as OAuth writes them.
    scope: String,
    iat: u64,
    exp: u64,
    jti: String,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject: who the audit log says acted.
    pub subject: String,
    pub scopes: BTreeSet<Scope>,
}

impl Principal {
    /// Whether the caller holds `scope`, or a scope that grants it.
    pub fn holds(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|held| held.grants(scope))
    }

    /// `unauthorized` unless the caller [holds](Principal::holds) `scope`.
    pub fn require(&self, scope: Scope) -> Result<()> {
        if self.holds(scope) {
            return Ok(());
        }
        Err(Error::unauthorized(format!(
            "the token of `{}` lacks the `{scope}` scope; issue one with `helmdeck token issue --scope {scope}`",
            self.subject
        )))
    }
}

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// Audit actors Helmdeck itself uses for requests without a subject: a
/// token for one of them would read those records as its own.
pub const RESERVED_SUBJECTS: [&str; 4] = ["anonymous", "signed-link", "system", "helmdeck"];

/// Shortest secret accepted from `HELMDECK_JWT_SECRET`.
const MIN_SECRET_BYTES: usize = 32;

impl TokenKeys {
    /// Keys from `secret` (raw bytes).
    pub fn from_secret(secret: &[u8]) -> Result<TokenKeys> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(Error::invalid_input(format!(
                "HELMDECK_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long"
            )));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // One clock signs and checks on a single machine; expiry is exact.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// Keys from `env_secret` when given, else from the secret file at `path`,
    /// creating it (32 random bytes, hex, mode 0600) on first use.
    pub fn load_or_create(env_secret: Option<&str>, path: &Path) -> Result<TokenKeys> {
        if let Some(secret) = env_secret {
            return TokenKeys::from_secret(secret.as_bytes());
        }
        TokenKeys::from_secret(read_or_create_secret(path, "JWT secret")?.as_bytes())
    }

    /// A token for `subject` with `scopes`, valid for `ttl`.
    pub fn issue(&self, subject: &str, scopes: &BTreeSet<Scope>, ttl: Duration) -> Result<String> {
        if subject.trim().is_empty() {
            return Err(Error::invalid_input("`subject` must not be empty"));
        }
        if RESERVED_SUBJECTS.contains(&subject) {
            return Err(Error::invalid_input(format!(
                "`{subject}` is the audit actor of requests no token vouches for; choose another subject"
            )));
        }
        let now = unix_now();
        let claims = Claims {
            sub: subject.to_owned(),
            scope: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            iat: now,
            exp: now.saturating_add(ttl.as_secs().max(1)),
            jti: uuid::Uuid::now_v7().simple().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("could not sign the token: {e}")))
    }

    /// The caller a token names; `auth_failed` when it is malformed, signed
    /// with another key, or expired.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired; issue a new one with `helmdeck token issue`",
                ErrorKind::InvalidSignature => "the token was not signed by this Helmdeck",
                _ => "the token is not a valid Helmdeck token",
            };
            Error::new(ErrorCode::AuthFailed, why)
        })?;
        let scopes = data.claims.scope.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        Ok(Principal { subject: data.claims.sub, scopes })
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The secret in the file at `path`, creating it on first use (32 random
/// bytes, hex, mode 0600). `what` names the secret in errors.
pub fn read_or_create_secret(path: &Path, what: &str) -> Result<String> {
    let io = |e: std::io::Error| Error::internal(format!("{what} file `{}`: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = hex::encode(rand::random::<[u8; 32]>());
            write_private(path, secret.as_bytes()).map_err(io)?;
            Ok(secret)
        }
        Err(e) => Err(io(e)),
    }
}

/// Write a file readable only by its owner (created with mode 0600, never
/// widened afterwards).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(&[7u8; 32]).unwrap()
    }

    #[test]
    fn issued_tokens_verify_with_their_subject_and_scopes() {
        let scopes: BTreeSet<Scope> = [Scope::PacksCall].into();
        let token = keys().issue("agent-1", &scopes, Duration::from_secs(60)).unwrap();
        let p = keys().verify(&token).unwrap();
        assert_eq!(p.subject, "agent-1");
        assert!(p.require(Scope::PacksCall).is_ok());
        let denied = p.require(Scope::Admin).unwrap_err();
        assert_eq!(denied.code, ErrorCode::Unauthorized);
        assert!(denied.message.contains("--scope admin"), "{}", denied.message);
    }

    #[test]
    fn audit_all_grants_audit_read_and_admin_grants_everything() {
        let auditor = Principal { subject: "a".into(), scopes: [Scope::AuditAll].into() };
        assert!(auditor.holds(Scope::AuditRead) && auditor.holds(Scope::AuditAll));
        assert!(!auditor.holds(Scope::PacksRead));
        let reader = Principal { subject: "r".into(), scopes: Scope::DEFAULT.into() };
        assert!(!reader.holds(Scope::AuditAll), "the default scopes read only the token's own records");
        let admin = Principal { subject: "x".into(), scopes: [Scope::Admin].into() };
        assert!(Scope::ALL.into_iter().all(|s| admin.holds(s)));
    }

    #[test]
    fn tokens_from_another_key_and_garbage_fail_authentication() {
        let other = TokenKeys::from_secret(&[8u8; 32]).unwrap();
        let token = other.issue("x", &Scope::DEFAULT.into(), Duration::from_secs(60)).unwrap();
        for bad in [token.as_str(), "not-a-jwt", ""] {
            assert_eq!(keys().verify(bad).unwrap_err().code, ErrorCode::AuthFailed);
        }
    }

    #[test]
    fn the_actors_of_unauthenticated_requests_are_not_token_subjects() {
        for reserved in RESERVED_SUBJECTS {
            let err = keys().issue(reserved, &Scope::DEFAULT.into(), Duration::from_secs(60)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidInput, "{reserved}");
        }
    }

    #[test]
    fn expired_tokens_are_refused_with_advice() {
        let now = unix_now();
        let claims = Claims { sub: "x".into(), scope: "admin".into(), iat: now - 100, exp: now - 1, jti: "j".into() };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&[7u8; 32]))
                .unwrap();
        let err = keys().verify(&token).unwrap_err();
        assert_eq!(err.code, ErrorCode::AuthFailed);
        assert!(err.message.contains("expired"));
    }

    #[test]
    fn the_generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.secret");
        let first = TokenKeys::load_or_create(None, &path).unwrap();
        let token = first.issue("x", &Scope::DEFAULT.into(), Duration::from_secs(60)).unwrap();
        let again = TokenKeys::load_or_create(None, &path).unwrap();
        assert!(again.verify(&token).is_ok());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(TokenKeys::load_or_create(Some("short"), &path).is_err());
    }
}
