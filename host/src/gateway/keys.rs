//! Provider keys: `provider_key` credentials in the vault, else the
//! environment's `HELMDECK_<PROVIDER>_API_KEY`.
//!
//! The vault's keys are unsealed once and kept in memory (wiped on drop);
//! the copy is reloaded when [`Vault::generation`] moves, so adding,
//! rotating or removing a key takes effect on the next call without a
//! restart. A vault key is used only where its ACL admits the caller (token
//! subject, and pack when a pack calls) and its host patterns admit the
//! provider's base URL; when several admit, the most recently changed wins
//! (add the new key, then remove the old one, and calls move over at once).

use crate::vault::{CredentialMeta, Destination, Secret, Vault, matches_target};
use crate::{Error, ErrorCode, Result};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use url::Url;
use zeroize::Zeroizing;

/// Text that must never be printed: wiped on drop, `[REDACTED]` in `Debug`.
#[derive(Clone)]
pub struct SecretText(Arc<Zeroizing<String>>);

impl SecretText {
    /// Wrap `text`.
    pub fn new(text: String) -> SecretText {
        SecretText(Arc::new(Zeroizing::new(text)))
    }

    /// The secret itself, for the one header it goes into.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The key for one call and where it came from.
#[derive(Debug, Clone)]
pub struct ChosenKey {
    pub key: SecretText,
    pub origin: KeyOrigin,
}

/// Where a key came from (shown in listings and audit records, never the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Credential `name` of the vault, with its masked hint.
    Vault { name: String, hint: String },
    /// An environment variable or key file.
    Env(String),
}

/// One unsealed `provider_key` credential.
struct VaultKey {
    meta: CredentialMeta,
    provider: String,
    key: SecretText,
}

struct Loaded {
    generation: u64,
    /// Newest first.
    keys: Vec<VaultKey>,
}

/// Stamp a vault key's `last_used_at` at most this often (a write per call
/// would double the gateway's storage work).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The keys the gateway sends, with hot reload from the vault.
pub struct KeyRing {
    vault: Arc<Vault>,
    loaded: ArcSwap<Loaded>,
    reload: tokio::sync::Mutex<()>,
    touched: Mutex<HashMap<String, Instant>>,
}

/// Who a key is wanted for.
#[derive(Debug, Clone, Copy)]
pub struct KeyFor<'a> {
    pub provider: &'a str,
    /// The token subject the call runs for.
    pub subject: &'a str,
    /// The pack calling, when a pack calls (the REST gateway has none).
    pub pack: Option<&'a str>,
    /// The provider's base URL the key would travel to.
    pub base_url: &'a Url,
}

impl KeyRing {
    /// A ring over `vault`'s `provider_key` credentials (read on first use).
    pub fn new(vault: Arc<Vault>) -> KeyRing {
        KeyRing {
            vault,
            loaded: ArcSwap::from_pointee(Loaded { generation: u64::MAX, keys: Vec::new() }),
            reload: tokio::sync::Mutex::new(()),
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The key to send for `want`: the newest vault key whose ACL and hosts
    /// admit it, else `env`. `Ok(None)` when there is no key at all;
    /// `unauthorized` when vault keys exist for the provider but none admits
    /// this caller or destination (the environment key is not used then:
    /// the operator restricted this provider).
    pub async fn choose(&self, want: KeyFor<'_>, env: Option<&super::config::EnvKey>) -> Result<Option<ChosenKey>> {
        let loaded = self.current().await?;
        let mut found_any = false;
        for entry in loaded.keys.iter().filter(|k| k.provider == want.provider) {
            found_any = true;
            if admits(&entry.meta, want) {
                self.touch(&entry.meta.name);
                let origin = KeyOrigin::Vault { name: entry.meta.name.clone(), hint: entry.meta.hint.clone() };
                return Ok(Some(ChosenKey { key: entry.key.clone(), origin }));
            }
        }
        if found_any {
            return Err(Error::unauthorized(format!(
                "no `provider_key` credential for `{}` admits `{}`{} at `{}`; add them to a key's `subjects`/`packs` \
                 or `hosts` (helmdeck vault add … --kind provider-key)",
                want.provider,
                want.subject,
                want.pack.map(|p| format!(" (pack `{p}`)")).unwrap_or_default(),
                want.base_url.host_str().unwrap_or_default()
            )));
        }
        Ok(env.map(|e| ChosenKey { key: e.key.clone(), origin: KeyOrigin::Env(e.source.clone()) }))
    }

    /// What the vault holds for `provider`, newest first: names and hints only.
    pub async fn describe(&self, provider: &str) -> Result<Vec<(String, String)>> {
        let loaded = self.current().await?;
        Ok(loaded
            .keys
            .iter()
            .filter(|k| k.provider == provider)
            .map(|k| (k.meta.name.clone(), k.meta.hint.clone()))
            .collect())
    }

    async fn current(&self) -> Result<Arc<Loaded>> {
        let loaded = self.loaded.load_full();
        if loaded.generation == self.vault.generation() {
            return Ok(loaded);
        }
        let _one_reload = self.reload.lock().await;
        let loaded = self.loaded.load_full();
        let generation = self.vault.generation();
        if loaded.generation == generation {
            return Ok(loaded);
        }
        let mut keys: Vec<VaultKey> = self
            .vault
            .provider_keys()
            .await?
            .into_iter()
            .filter_map(|(meta, secret)| match &secret {
                Secret::ProviderKey { provider, key } => {
                    Some(VaultKey { meta, provider: provider.clone(), key: SecretText::new(key.clone()) })
                }
                _ => None,
            })
            .collect();
        keys.sort_by_key(|k| std::cmp::Reverse(k.meta.updated_at));
        let fresh = Arc::new(Loaded { generation, keys });
        self.loaded.store(fresh.clone());
        Ok(fresh)
    }

    /// Stamp `last_used_at`, off the call's path and at most every [`TOUCH_EVERY`].
    fn touch(&self, name: &str) {
        let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
        let due = touched.get(name).is_none_or(|at| at.elapsed() >= TOUCH_EVERY);
        if !due {
            return;
        }
        touched.insert(name.to_owned(), Instant::now());
        let (vault, name) = (self.vault.clone(), name.to_owned());
        tokio::spawn(async move {
            if let Err(error) = vault.record_use(&name).await
                && error.code != ErrorCode::NotFound
            {
                tracing::warn!(credential = %name, %error, "could not stamp the provider key's last use");
            }
        });
    }
}

/// A key's ACL and host patterns against one use. `packs` binds packs
/// only: a REST caller has none and is checked against `subjects`.
fn admits(meta: &CredentialMeta, want: KeyFor<'_>) -> bool {
    let subject_ok = meta.subjects.is_empty() || meta.subjects.iter().any(|s| s == want.subject);
    let pack_ok = want.pack.is_none_or(|pack| meta.packs.iter().any(|p| p == "*" || p == pack));
    subject_ok && pack_ok && matches_target(&meta.hosts, &Destination::of_url(want.base_url))
}
