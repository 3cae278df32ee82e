//! The credential vault: secrets sealed with AES-256-GCM in the store, the
//! key outside it, values handed only to capabilities at the boundary.
//!
//! Packs name credentials; they never hold one. A use is allowed when the
//! credential's host/path patterns match the destination, the pack is on
//! its ACL (and the token subject, when the credential names subjects),
//! and the pack's manifest scope lists the name. Every value the vault
//! holds is registered with the audit [`Redactor`], so it is masked in
//! every audit record and in responses handed back to packs.
//!
//! What must not live here: protocol code (HTTP substitution, git
//! credentials), which belongs to the capabilities in `caps/`.

mod cipher;
mod credential;
pub mod pattern;
pub mod placeholder;

pub use cipher::{KeyError, VAULT_KEY_ENV, VaultKey};
pub use credential::{CredentialInput, CredentialKind, CredentialMeta, Secret};
pub use pattern::{Destination, matches_target};

use crate::audit::Redactor;
use crate::store::{Store, StoredCredential, Timestamp, run_blocking};
use crate::{Error, ErrorCode, Result};
use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Where the vault key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `HELMDECK_VAULT_KEY`.
    Env,
    /// The key file in the data directory.
    File(PathBuf),
}

impl KeySource {
    fn describe(&self) -> String {
        match self {
            KeySource::Env => VAULT_KEY_ENV.to_owned(),
            KeySource::File(path) => format!("the key file `{}`", path.display()),
        }
    }
}

/// One intended use of a credential, checked against its scope and ACLs.
#[derive(Debug, Clone)]
pub struct CredentialUse<'a> {
    pub name: &'a str,
    /// The pack asking.
    pub pack: &'a str,
    /// The token subject the pack runs for.
    pub subject: &'a str,
    /// The credential names the pack's manifest scope lists (`*` for any).
    pub scope: &'a [String],
    /// Where the secret would go (scheme, host, port, path).
    pub to: Destination<'a>,
}

/// Changes to an existing credential (`PUT`); absent fields stay as they are.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialUpdate {
    pub description: Option<String>,
    pub hosts: Option<Vec<String>>,
    pub packs: Option<Vec<String>>,
    pub subjects: Option<Vec<String>>,
    /// A new secret of the credential's kind (or of `kind`, when given).
    pub secret: Option<serde_json::Value>,
    pub kind: Option<CredentialKind>,
}

/// The vault of one data directory.
pub struct Vault {
    store: Arc<dyn Store>,
    key: ArcSwap<VaultKey>,
    source: KeySource,
    redactor: Redactor,
    /// Bumped by every change to a credential, so holders of unsealed copies
    /// (the AI gateway's provider keys) can tell theirs went stale.
    generation: AtomicU64,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Vault {
    /// Open the vault: take the key from `env_key` or the key file at
    /// `key_file` (creating one on the very first start), prove it opens
    /// the vault, and register every stored value with `redactor`.
    ///
    /// A wrong or missing key fails with `auth_failed` before anything is
    /// written: no key file is created and no row touched.
    pub async fn open(
        store: Arc<dyn Store>,
        env_key: Option<&str>,
        key_file: &Path,
        redactor: Redactor,
    ) -> Result<Vault> {
        let check = run_blocking(&store, |s| s.vault_key_check()).await?;
        let (key, source) = load_key(env_key, key_file, check.as_ref())?;
        let source_name = source.describe();
        match check {
            Some(check) if !key.opens(&check) => {
                return Err(Error::new(ErrorCode::AuthFailed, KeyError::Mismatch { source_name }.to_string()));
            }
            Some(_) => {}
            None => {
                let check = key.key_check().map_err(key_error)?;
                if let KeySource::File(path) = &source
                    && !path.exists()
                {
                    key.write_new_file(path).map_err(key_error)?;
                }
                run_blocking(&store, move |s| s.put_vault_key_check(&check)).await?;
            }
        }
        let vault = Vault { store, key: ArcSwap::from_pointee(key), source, redactor, generation: AtomicU64::new(0) };
        for stored in run_blocking(&vault.store, |s| s.list_credentials()).await? {
            vault.register(&vault.unseal(&stored)?)?;
        }
        Ok(vault)
    }

    /// Add a credential; `invalid_input` naming the field when the input is
    /// unusable, `invalid_input` too when the name is taken (use `update`).
    pub async fn add(&self, input: CredentialInput) -> Result<CredentialMeta> {
        credential::check_name(&input.name)?;
        credential::check_scope(&input.hosts, &input.packs)?;
        let secret = Secret::from_parts(input.kind, input.secret)?;
        let key = input.name.clone();
        if run_blocking(&self.store, move |s| s.list_credentials()).await?.iter().any(|c| c.name == key) {
            return Err(Error::invalid_input(format!(
                "a credential named `{}` exists; change it with PUT /api/v1/vault/credentials/{} or remove it first",
                input.name, input.name
            )));
        }
        let now = Timestamp::now();
        let sealed = self.seal(&secret, &input.name)?;
        let stored = StoredCredential {
            name: input.name,
            kind: secret.kind().as_str().to_owned(),
            description: input.description,
            hosts: input.hosts,
            packs: input.packs,
            subjects: input.subjects,
            hint: secret.hint(),
            sealed,
            created_at: now,
            updated_at: now,
            last_used_at: None,
        };
        self.save(stored, &secret).await
    }

    /// Change credential `name`; `not_found` when there is none.
    pub async fn update(&self, name: &str, update: CredentialUpdate) -> Result<CredentialMeta> {
        let mut stored = self.stored(name).await?;
        let current = self.unseal(&stored)?;
        let secret = match (update.secret, update.kind) {
            (Some(fields), kind) => Secret::from_parts(kind.unwrap_or(current.kind()), fields)?,
            (None, Some(kind)) if kind != current.kind() => {
                return Err(Error::invalid_input("changing `kind` needs a new `secret` of that kind"));
            }
            (None, _) => current,
        };
        stored.description = update.description.unwrap_or(stored.description);
        stored.hosts = update.hosts.unwrap_or(stored.hosts);
        stored.packs = update.packs.unwrap_or(stored.packs);
        stored.subjects = update.subjects.unwrap_or(stored.subjects);
        credential::check_scope(&stored.hosts, &stored.packs)?;
        stored.kind = secret.kind().as_str().to_owned();
        stored.hint = secret.hint();
        stored.sealed = self.seal(&secret, name)?;
        stored.updated_at = Timestamp::now();
        self.save(stored, &secret).await
    }

    /// Replace the secret of `name` with `secret` (an OAuth refresh), keeping the rest.
    pub async fn replace_secret(&self, name: &str, secret: &Secret) -> Result<()> {
        let mut stored = self.stored(name).await?;
        stored.sealed = self.seal(secret, name)?;
        stored.hint = secret.hint();
        stored.updated_at = Timestamp::now();
        self.save(stored, secret).await.map(|_| ())
    }

    /// Every credential's metadata, by name.
    pub async fn list(&self) -> Result<Vec<CredentialMeta>> {
        let stored = run_blocking(&self.store, |s| s.list_credentials()).await?;
        stored.iter().map(meta).collect()
    }

    /// Credential `name`'s metadata.
    pub async fn get(&self, name: &str) -> Result<CredentialMeta> {
        meta(&self.stored(name).await?)
    }

    /// Remove credential `name`; `not_found` when there is none.
    pub async fn remove(&self, name: &str) -> Result<()> {
        let key = name.to_owned();
        let removed = run_blocking(&self.store, move |s| s.delete_credential(&key)).await?;
        self.generation.fetch_add(1, Ordering::Release);
        if removed { Ok(()) } else { Err(not_found(name)) }
    }

    /// A number that changes whenever a credential is added, changed or
    /// removed: compare it with the one read when a copy was made.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every `provider_key` credential with its secret, unsealed, for the AI
    /// gateway (which checks each one's ACL and host patterns itself before
    /// sending it). Read [`Vault::generation`] before calling, to know when
    /// the copy goes stale.
    pub async fn provider_keys(&self) -> Result<Vec<(CredentialMeta, Secret)>> {
        let stored = run_blocking(&self.store, |s| s.list_credentials()).await?;
        let kind = CredentialKind::ProviderKey.as_str();
        stored.iter().filter(|c| c.kind == kind).map(|c| Ok((meta(c)?, self.unseal(c)?))).collect()
    }

    /// Stamp `last_used_at` of credential `name` (a use the caller checked
    /// and audited itself).
    pub async fn record_use(&self, name: &str) -> Result<()> {
        let key = name.to_owned();
        run_blocking(&self.store, move |s| s.touch_credential(&key, Timestamp::now())).await
    }

    /// The credentials `pack` (running for `subject`, with manifest scope
    /// `scope`) may use: what the `vault` interface shows a pack.
    pub async fn visible_to(&self, pack: &str, subject: &str, scope: &[String]) -> Result<Vec<CredentialMeta>> {
        let all = self.list().await?;
        Ok(all.into_iter().filter(|c| acl_allows(c, pack, subject) && scope_allows(scope, &c.name)).collect())
    }

    /// Check `intent` against the credential's patterns and ACLs, record the
    /// use, and hand back the secret. `not_found` for an unknown name,
    /// `unauthorized` naming what to change otherwise.
    pub async fn use_secret(&self, intent: &CredentialUse<'_>) -> Result<Secret> {
        let stored = self.stored(intent.name).await?;
        let info = meta(&stored)?;
        let name = intent.name;
        if !scope_allows(intent.scope, name) {
            return Err(Error::unauthorized(format!(
                "pack `{}` does not list credential `{name}` in its manifest; add it under `credentials:` of the capability",
                intent.pack
            )));
        }
        if !acl_allows(&info, intent.pack, intent.subject) {
            return Err(Error::unauthorized(format!(
                "credential `{name}` is not available to pack `{}` for `{}`; add them to its `packs`/`subjects` \
                 (helmdeck vault add … --pack {})",
                intent.pack, intent.subject, intent.pack
            )));
        }
        if !matches_target(&info.hosts, &intent.to) {
            return Err(Error::unauthorized(pattern::refusal(name, &info.hosts, &intent.to)));
        }
        let secret = self.unseal(&stored)?;
        let key = name.to_owned();
        run_blocking(&self.store, move |s| s.touch_credential(&key, Timestamp::now())).await?;
        Ok(secret)
    }

    /// Re-encrypt every credential under a fresh key in one transaction and
    /// make the new key current. With a key file, the file is replaced
    /// (through `vault.key.next`, so an interrupted rotation is finished at
    /// the next start); with `HELMDECK_VAULT_KEY`, the caller must hand the
    /// returned key to the operator.
    pub async fn rotate(&self) -> Result<VaultKey> {
        let next = VaultKey::generate();
        let stored = run_blocking(&self.store, |s| s.list_credentials()).await?;
        let mut resealed = Vec::with_capacity(stored.len());
        for mut credential in stored {
            let plain = self.key.load().open(&credential.sealed, credential.name.as_bytes()).map_err(key_error)?;
            credential.sealed = next.seal(plain.as_slice(), credential.name.as_bytes()).map_err(key_error)?;
            resealed.push(credential);
        }
        let check = next.key_check().map_err(key_error)?;
        let pending = match &self.source {
            KeySource::File(path) => {
                let pending = next_key_path(path);
                let _ = std::fs::remove_file(&pending);
                next.write_new_file(&pending).map_err(key_error)?;
                Some((pending, path.clone()))
            }
            KeySource::Env => None,
        };
        run_blocking(&self.store, move |s| s.rotate_vault(&check, &resealed)).await?;
        if let Some((pending, path)) = pending {
            std::fs::rename(&pending, &path)
                .map_err(|e| Error::internal(format!("cannot replace the vault key file `{}`: {e}", path.display())))?;
        }
        let returned = VaultKey::parse(&next.to_hex(), "the new key").map_err(key_error)?;
        self.key.store(Arc::new(next));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(returned)
    }

    /// `text` with every value the vault holds masked: for messages from
    /// libraries (libgit2, a server) that might quote one.
    pub fn mask(&self, text: &str) -> String {
        self.redactor.mask_registered_text(text)
    }

    /// [`Vault::mask`] for bytes (a response body), in UTF-8 and UTF-16.
    pub fn mask_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        self.redactor.mask_registered(bytes).into_owned()
    }

    /// How many bytes past a cut a body must be read so that a secret
    /// straddling the cut can be masked whole ([`Vault::mask_cut`]).
    pub fn mask_lookahead(&self) -> usize {
        self.redactor.longest_form()
    }

    /// `bytes` masked, then cut to at most `limit` bytes. `complete` says
    /// whether `bytes` is the whole body; when it is not, an end that is
    /// the start of a secret (cut by the read) is dropped first, so no
    /// prefix of a secret survives either cut.
    pub fn mask_cut(&self, bytes: &[u8], limit: usize, complete: bool) -> Vec<u8> {
        let mut masked = self.mask_bytes(bytes);
        if !complete {
            masked.truncate(masked.len() - self.redactor.partial_tail(&masked));
        }
        masked.truncate(limit);
        masked
    }

    /// Where the key came from.
    pub fn key_source(&self) -> &KeySource {
        &self.source
    }

    async fn stored(&self, name: &str) -> Result<StoredCredential> {
        let key = name.to_owned();
        run_blocking(&self.store, move |s| s.get_credential(&key)).await.map_err(|e| match e.code {
            ErrorCode::NotFound => not_found(name),
            _ => e,
        })
    }

    async fn save(&self, stored: StoredCredential, secret: &Secret) -> Result<CredentialMeta> {
        self.register(secret)?;
        let info = meta(&stored)?;
        run_blocking(&self.store, move |s| s.put_credential(&stored)).await?;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(info)
    }

    fn seal(&self, secret: &Secret, name: &str) -> Result<crate::store::SealedBlob> {
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(secret).map_err(|e| Error::internal(format!("cannot encode a secret: {e}")))?,
        );
        self.key.load().seal(&plain, name.as_bytes()).map_err(key_error)
    }

    fn unseal(&self, stored: &StoredCredential) -> Result<Secret> {
        let plain = self.key.load().open(&stored.sealed, stored.name.as_bytes()).map_err(|_| {
            Error::internal(format!(
                "credential `{}` cannot be decrypted; it was changed outside Helmdeck, re-add it",
                stored.name
            ))
        })?;
        serde_json::from_slice(&plain)
            .map_err(|_| Error::internal(format!("credential `{}` holds an unreadable secret; re-add it", stored.name)))
    }

    fn register(&self, secret: &Secret) -> Result<()> {
        secret.redactable_values().iter().try_for_each(|v| self.redactor.register(v))
    }
}

/// The key from the environment, or the key file (finishing an interrupted
/// rotation), or a new one when the vault has never been opened.
fn load_key(
    env_key: Option<&str>,
    key_file: &Path,
    check: Option<&crate::store::SealedBlob>,
) -> Result<(VaultKey, KeySource)> {
    if let Some(text) = env_key {
        let key = VaultKey::parse(text, VAULT_KEY_ENV).map_err(|e| Error::invalid_input(e.to_string()))?;
        return Ok((key, KeySource::Env));
    }
    let source = KeySource::File(key_file.to_path_buf());
    let current = VaultKey::read_file(key_file).map_err(key_error)?;
    let pending_path = next_key_path(key_file);
    if let (Some(check), Some(pending)) = (check, VaultKey::read_file(&pending_path).ok().flatten())
        && pending.opens(check)
        && !current.as_ref().is_some_and(|k| k.opens(check))
    {
        std::fs::rename(&pending_path, key_file)
            .map_err(|e| Error::internal(format!("cannot finish the interrupted key rotation: {e}")))?;
        return Ok((pending, source));
    }
    match (current, check) {
        (Some(key), _) => Ok((key, source)),
        (None, None) => Ok((VaultKey::generate(), source)),
        (None, Some(_)) => Err(Error::new(
            ErrorCode::AuthFailed,
            format!(
                "the vault holds sealed data but its key file `{}` is missing; restore it or set {VAULT_KEY_ENV}. \
                 Nothing was changed",
                key_file.display()
            ),
        )),
    }
}

fn next_key_path(key_file: &Path) -> PathBuf {
    key_file.with_extension("key.next")
}

fn meta(stored: &StoredCredential) -> Result<CredentialMeta> {
    let kind = CredentialKind::parse(&stored.kind).ok_or_else(|| {
        Error::internal(format!("credential `{}` has an unknown kind `{}`", stored.name, stored.kind))
    })?;
    Ok(CredentialMeta {
        name: stored.name.clone(),
        kind,
        description: stored.description.clone(),
        hosts: stored.hosts.clone(),
        packs: stored.packs.clone(),
        subjects: stored.subjects.clone(),
        hint: stored.hint.clone(),
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        last_used_at: stored.last_used_at,
    })
}

fn acl_allows(meta: &CredentialMeta, pack: &str, subject: &str) -> bool {
    meta.packs.iter().any(|p| p == "*" || p == pack)
        && (meta.subjects.is_empty() || meta.subjects.iter().any(|s| s == subject))
}

fn scope_allows(scope: &[String], name: &str) -> bool {
    scope.iter().any(|n| n == "*" || n == name)
}

fn not_found(name: &str) -> Error {
    Error::not_found(format!("no credential `{name}` in the vault; list them with GET /api/v1/vault/credentials"))
}

fn key_error(e: KeyError) -> Error {
    Error::internal(e.to_string())
}

#[cfg(test)]
mod tests;
