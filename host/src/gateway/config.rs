//! What the gateway is configured with: the providers (wire format, base
//! URL, listed models, an environment key), the aliases and the fallback
//! chains. Built from the `[gateway]` section of the TOML file and the
//! `HELMDECK_<PROVIDER>_*` environment variables, which win over the file.
//!
//! Provider keys from the environment live here (wiped on drop, never
//! printed); keys in the vault are [`super::keys`]' business.

use super::keys::SecretText;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The wire formats the gateway speaks to providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wire {
    /// OpenAI chat completions (also DeepSeek, OpenRouter, Groq, Mistral).
    Openai,
    /// Anthropic Messages.
    Anthropic,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// Ollama `/api/chat`.
    Ollama,
}

impl Wire {
    /// The name in configuration and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::Openai => "openai",
            Wire::Anthropic => "anthropic",
            Wire::Gemini => "gemini",
            Wire::Ollama => "ollama",
        }
    }
}

/// The providers every Helmdeck knows: name, wire format, default base URL,
/// and whether calls need a key.
pub const BUILTIN_PROVIDERS: [(&str, Wire, &str, bool); 8] = [
    ("openai", Wire::Openai, "https://api.openai.com/v1", true),
    ("anthropic", Wire::Anthropic, "https://api.anthropic.com", true),
    ("gemini", Wire::Gemini, "https://generativelanguage.googleapis.com", true),
    ("ollama", Wire::Ollama, "http://127.0.0.1:11434", false),
    ("deepseek", Wire::Openai, "https://api.deepseek.com", true),
    ("openrouter", Wire::Openai, "https://openrouter.ai/api/v1", true),
    ("groq", Wire::Openai, "https://api.groq.com/openai/v1", true),
    ("mistral", Wire::Openai, "https://api.mistral.ai/v1", true),
];

/// Default per-attempt deadline: a long non-streamed answer takes a while.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(120);

/// One provider as configured.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub wire: Wire,
    /// Where its API lives (`https://api.openai.com/v1`); passes the egress guard on every call.
    pub base_url: Url,
    /// The models listed by `/v1/models` (any model name may be called).
    pub models: Vec<String>,
    /// The key from `HELMDECK_<P>_API_KEY` or `_API_KEY_FILE` (or the file's `api_key_file`).
    pub env_key: Option<EnvKey>,
    /// Whether calls fail without a key (`false` for a local Ollama).
    pub needs_key: bool,
    /// Set explicitly (environment or file) rather than only known by default.
    pub configured: bool,
}

/// A key that came from the environment or a key file.
#[derive(Clone)]
pub struct EnvKey {
    /// Where it came from (`HELMDECK_OPENAI_API_KEY`), for listings and audit records.
    pub source: String,
    pub key: SecretText,
}

impl fmt::Debug for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvKey({}, [REDACTED])", self.source)
    }
}

/// A model at a provider: `provider/model`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl ModelRef {
    /// Split `provider/model` at the first `/` (model names may hold more).
    pub fn parse(text: &str) -> Option<ModelRef> {
        let (provider, model) = text.split_once('/')?;
        (!provider.is_empty() && !model.is_empty())
            .then(|| ModelRef { provider: provider.to_owned(), model: model.to_owned() })
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// What makes a chain try its next model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// The provider said `429` (or Anthropic's `529` overloaded).
    RateLimited,
    /// The attempt ran past its deadline.
    Timeout,
    /// Any other failure of the provider: unreachable, a server error, a
    /// refused key, an unknown model, an unreadable answer. Never a request
    /// the client got wrong (`invalid_input`) nor a policy refusal
    /// (`unauthorized`, `egress_denied`), which every provider would share.
    Error,
}

impl Trigger {
    /// Whether an attempt that failed with `code` should fall back.
    pub fn fires_on(self, code: crate::ErrorCode) -> bool {
        use crate::ErrorCode::*;
        match self {
            Trigger::RateLimited => code == RateLimited,
            Trigger::Timeout => code == Timeout,
            Trigger::Error => !matches!(code, RateLimited | Timeout | InvalidInput | Unauthorized | EgressDenied),
        }
    }
}

/// An alias or a model's chain: what to try, in order, and when to move on.
#[derive(Debug, Clone)]
pub struct Route {
    /// The primary first, then the fallbacks.
    pub targets: Vec<ModelRef>,
    pub fallback_on: Vec<Trigger>,
    /// Deadline of each attempt (for a stream: until its first output).
    pub attempt_timeout: Duration,
}

/// The gateway's whole configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub providers: BTreeMap<String, ProviderSettings>,
    /// `default`, `vision`, `fast`, ...: names without a `/`.
    pub aliases: BTreeMap<String, Route>,
    /// Fallbacks of a `provider/model` called by name.
    pub chains: BTreeMap<ModelRef, Route>,
    /// Deadline of an attempt whose route sets none.
    pub attempt_timeout: Duration,
    /// Triggers of a route that names none.
    pub fallback_on: Vec<Trigger>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig::resolve(GatewayFile::default(), &[]).unwrap_or_else(|e| unreachable!("defaults resolve: {e}"))
    }
}

/// The `[gateway]` section of the configuration file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayFile {
    /// Default per-attempt deadline in milliseconds (120000).
    pub attempt_timeout_ms: Option<u64>,
    /// Default triggers (all three).
    pub fallback_on: Option<Vec<Trigger>>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasFile>,
    /// Keyed by `provider/model`.
    #[serde(default)]
    pub fallbacks: BTreeMap<String, ChainFile>,
}

/// `[gateway.providers.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    /// Required for a provider Helmdeck does not know (an OpenAI-compatible one: `openai`).
    pub wire: Option<Wire>,
    pub base_url: Option<String>,
    pub models: Option<Vec<String>>,
    /// A file holding the key (keys themselves never go in this file).
    pub api_key_file: Option<PathBuf>,
}

/// `[gateway.aliases.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasFile {
    pub primary: String,
    #[serde(default)]
    pub fallbacks: Vec<String>,
    pub fallback_on: Option<Vec<Trigger>>,
    pub attempt_timeout_ms: Option<u64>,
}

/// `[gateway.fallbacks."provider/model"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainFile {
    pub fallbacks: Vec<String>,
    pub fallback_on: Option<Vec<Trigger>>,
    pub attempt_timeout_ms: Option<u64>,
}

/// The environment variable `HELMDECK_<PROVIDER>_<what>`.
pub fn env_name(provider: &str, what: &str) -> String {
    format!("HELMDECK_{}_{what}", provider.to_ascii_uppercase().replace('-', "_"))
}

impl GatewayConfig {
    /// Combine the file's section with `env` (name, value pairs; only
    /// `HELMDECK_<PROVIDER>_API_KEY`, `_API_KEY_FILE`, `_BASE_URL` and
    /// `_MODELS` are read). Errors are `invalid_input` naming the key or variable.
    pub fn resolve(file: GatewayFile, env: &[(String, String)]) -> Result<GatewayConfig> {
        let var = |name: &str| env.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.trim());
        let mut providers = BTreeMap::new();
        let known = BUILTIN_PROVIDERS.iter().map(|(name, ..)| *name).chain(file.providers.keys().map(String::as_str));
        let names: std::collections::BTreeSet<&str> = known.collect();
        for name in names {
            check_provider_name(name)?;
            let builtin = BUILTIN_PROVIDERS.iter().find(|(n, ..)| *n == name);
            let section = file.providers.get(name).cloned().unwrap_or_default();
            let wire = match (section.wire, builtin) {
                (Some(wire), _) => wire,
                (None, Some((_, wire, ..))) => *wire,
                (None, None) => {
                    return Err(Error::invalid_input(format!(
                        "[gateway.providers.{name}]: Helmdeck does not know `{name}`; set `wire` (openai, anthropic, gemini or ollama)"
                    )));
                }
            };
            let url_var = env_name(name, "BASE_URL");
            let (base_text, base_what) = match (var(&url_var), &section.base_url, builtin) {
                (Some(v), _, _) => (v.to_owned(), url_var.clone()),
                (None, Some(v), _) => (v.clone(), format!("[gateway.providers.{name}] base_url")),
                (None, None, Some((_, _, default, _))) => ((*default).to_owned(), "the default base URL".to_owned()),
                (None, None, None) => {
                    return Err(Error::invalid_input(format!("[gateway.providers.{name}]: set `base_url`")));
                }
            };
            let base_url = parse_base(&base_text, &base_what)?;
            let models_var = env_name(name, "MODELS");
            let models = match var(&models_var) {
                Some(list) => list.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_owned).collect(),
                None => section.models.clone().unwrap_or_default(),
            };
            let env_key = env_key(name, &var, section.api_key_file.as_ref())?;
            let configured = file.providers.contains_key(name)
                || var(&url_var).is_some()
                || var(&models_var).is_some()
                || env_key.is_some();
            let needs_key = builtin.map(|(.., needs)| *needs).unwrap_or(true);
            let settings =
                ProviderSettings { name: name.to_owned(), wire, base_url, models, env_key, needs_key, configured };
            providers.insert(name.to_owned(), settings);
        }
        let attempt_timeout =
            millis(file.attempt_timeout_ms, "[gateway] attempt_timeout_ms")?.unwrap_or(DEFAULT_ATTEMPT_TIMEOUT);
        let fallback_on =
            file.fallback_on.clone().unwrap_or_else(|| vec![Trigger::RateLimited, Trigger::Timeout, Trigger::Error]);
        let route = |what: &str, targets: Vec<&str>, on: &Option<Vec<Trigger>>, ms: Option<u64>| -> Result<Route> {
            let targets = targets.into_iter().map(|t| model_ref(t, &providers, what)).collect::<Result<Vec<_>>>()?;
            Ok(Route {
                targets,
                fallback_on: on.clone().unwrap_or_else(|| fallback_on.clone()),
                attempt_timeout: millis(ms, &format!("{what} attempt_timeout_ms"))?.unwrap_or(attempt_timeout),
            })
        };
        let mut aliases = BTreeMap::new();
        for (name, alias) in &file.aliases {
            let what = format!("[gateway.aliases.{name}]");
            if name.is_empty() || name.contains('/') {
                return Err(Error::invalid_input(format!(
                    "{what}: an alias name has no `/` (`provider/model` names a model)"
                )));
            }
            let targets = std::iter::once(alias.primary.as_str()).chain(alias.fallbacks.iter().map(String::as_str));
            aliases
                .insert(name.clone(), route(&what, targets.collect(), &alias.fallback_on, alias.attempt_timeout_ms)?);
        }
        let mut chains = BTreeMap::new();
        for (name, chain) in &file.fallbacks {
            let what = format!("[gateway.fallbacks.\"{name}\"]");
            let primary = model_ref(name, &providers, &what)?;
            let targets = std::iter::once(name.as_str()).chain(chain.fallbacks.iter().map(String::as_str));
            chains.insert(primary, route(&what, targets.collect(), &chain.fallback_on, chain.attempt_timeout_ms)?);
        }
        Ok(GatewayConfig { providers, aliases, chains, attempt_timeout, fallback_on })
    }

    /// What `name` (an alias or `provider/model`) routes to; `not_found`
    /// naming what exists otherwise.
    pub fn route(&self, name: &str) -> Result<(Option<&str>, Route)> {
        if let Some((alias, route)) = self.aliases.get_key_value(name) {
            return Ok((Some(alias.as_str()), route.clone()));
        }
        let Some(model) = ModelRef::parse(name) else {
            return Err(Error::not_found(format!(
                "model `{name}` is neither an alias nor `provider/model`; GET /v1/models lists them"
            )));
        };
        if !self.providers.contains_key(&model.provider) {
            return Err(Error::not_found(format!(
                "no provider `{}`; use one of {}",
                model.provider,
                self.providers.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let route = self.chains.get(&model).cloned().unwrap_or_else(|| Route {
            targets: vec![model],
            fallback_on: self.fallback_on.clone(),
            attempt_timeout: self.attempt_timeout,
        });
        Ok((None, route))
    }
}

fn check_provider_name(name: &str) -> Result<()> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "[gateway.providers.{name}]: provider names are lower-case letters, digits and `-`"
        )))
    }
}

fn parse_base(text: &str, what: &str) -> Result<Url> {
    let url = Url::parse(text.trim_end_matches('/'))
        .map_err(|e| Error::invalid_input(format!("{what}: `{text}` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_input(format!(
            "{what}: a base URL is http(s) without credentials; keys go in the vault or HELMDECK_<PROVIDER>_API_KEY"
        )));
    }
    Ok(url)
}

fn env_key<'a>(
    name: &str,
    var: &impl Fn(&str) -> Option<&'a str>,
    file_key: Option<&PathBuf>,
) -> Result<Option<EnvKey>> {
    let key_var = env_name(name, "API_KEY");
    if let Some(key) = var(&key_var) {
        return Ok(Some(EnvKey { source: key_var, key: SecretText::new(key.to_owned()) }));
    }
    let file_var = env_name(name, "API_KEY_FILE");
    let (path, source) = match (var(&file_var), file_key) {
        (Some(path), _) => (PathBuf::from(path), file_var),
        (None, Some(path)) => (path.clone(), format!("[gateway.providers.{name}] api_key_file")),
        (None, None) => return Ok(None),
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::invalid_input(format!("{source}: cannot read `{}`: {e}", path.display())))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(Error::invalid_input(format!("{source}: `{}` is empty", path.display())));
    }
    Ok(Some(EnvKey { source: format!("{source} ({})", path.display()), key: SecretText::new(key.to_owned()) }))
}

fn model_ref(text: &str, providers: &BTreeMap<String, ProviderSettings>, what: &str) -> Result<ModelRef> {
    let model = ModelRef::parse(text)
        .ok_or_else(|| Error::invalid_input(format!("{what}: `{text}` is not `provider/model`")))?;
    if !providers.contains_key(&model.provider) {
        return Err(Error::invalid_input(format!(
            "{what}: `{text}` names provider `{}`, which is not configured; add [gateway.providers.{}] with `wire` and `base_url`",
            model.provider, model.provider
        )));
    }
    Ok(model)
}

fn millis(ms: Option<u64>, what: &str) -> Result<Option<Duration>> {
    match ms {
        Some(0) => Err(Error::invalid_input(format!("{what} must be more than zero"))),
        Some(ms) => Ok(Some(Duration::from_millis(ms))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_environment_wins_over_the_file_and_aliases_become_routes() {
        let file: GatewayFile = toml::from_str(
            r#"
            attempt_timeout_ms = 5000
            [providers.openai]
            base_url = "https://file.example/v1"
            models = ["gpt-a"]
            [providers.local]
            wire = "openai"
            base_url = "http://10.0.0.5:8000/v1"
            [aliases.default]
            primary = "openai/gpt-a"
            fallbacks = ["anthropic/claude-b", "local/llama"]
            fallback_on = ["rate_limited"]
            [fallbacks."openai/gpt-a"]
            fallbacks = ["local/llama"]
            attempt_timeout_ms = 900
            "#,
        )
        .unwrap();
        let config = GatewayConfig::resolve(
            file,
            &env(&[
                ("HELMDECK_OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
                ("HELMDECK_OPENAI_MODELS", "gpt-x, gpt-y"),
                ("HELMDECK_OPENAI_API_KEY", "sk-env-1234567890"),
            ]),
        )
        .unwrap();
        let openai = &config.providers["openai"];
        assert_eq!(openai.base_url.as_str(), "http://127.0.0.1:9/v1");
        assert_eq!(openai.models, ["gpt-x", "gpt-y"]);
        assert_eq!(openai.env_key.as_ref().unwrap().source, "HELMDECK_OPENAI_API_KEY");
        assert!(!format!("{openai:?}").contains("sk-env"), "keys never print");
        assert!(config.providers["local"].configured && !config.providers["groq"].configured);
        let (alias, route) = config.route("default").unwrap();
        assert_eq!(alias, Some("default"));
        let names: Vec<String> = route.targets.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["openai/gpt-a", "anthropic/claude-b", "local/llama"]);
        assert_eq!(route.fallback_on, [Trigger::RateLimited]);
        assert_eq!(route.attempt_timeout, Duration::from_secs(5));
        let (_, chain) = config.route("openai/gpt-a").unwrap();
        assert_eq!(chain.targets.len(), 2);
        assert_eq!(chain.attempt_timeout, Duration::from_millis(900));
        let (_, plain) = config.route("mistral/small/latest").unwrap();
        assert_eq!(plain.targets[0].model, "small/latest");
        assert_eq!(config.route("nope").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(config.route("nobody/model").unwrap_err().code, ErrorCode::NotFound);
    }

    #[test]
    fn bad_configuration_is_named() {
        let bad =
            |toml_text: &str| GatewayConfig::resolve(toml::from_str(toml_text).unwrap(), &[]).unwrap_err().message;
        assert!(bad("[providers.custom]\nbase_url = 'http://x.test'").contains("set `wire`"));
        assert!(bad("[aliases.fast]\nprimary = 'gpt'").contains("not `provider/model`"));
        assert!(bad("[aliases.fast]\nprimary = 'acme/gpt'").contains("not configured"));
        assert!(bad("[providers.openai]\nbase_url = 'https://u:p@x.test'").contains("without credentials"));
        assert!(toml::from_str::<GatewayFile>("[aliases.x]\nprimary = 'a/b'\nfallback_on = ['sometimes']").is_err());
    }

    #[test]
    fn triggers_never_fire_on_the_clients_mistakes_or_policy() {
        use ErrorCode::*;
        assert!(Trigger::Error.fires_on(NetworkError) && Trigger::Error.fires_on(AuthFailed));
        assert!(!Trigger::Error.fires_on(InvalidInput) && !Trigger::Error.fires_on(EgressDenied));
        assert!(!Trigger::Error.fires_on(RateLimited) && Trigger::RateLimited.fires_on(RateLimited));
        assert!(Trigger::Timeout.fires_on(Timeout) && !Trigger::Timeout.fires_on(NetworkError));
    }
}
