//! The AI gateway: one OpenAI-compatible chat API over many providers.
//!
//! [`Gateway::chat`] takes an OpenAI chat request naming an alias or a
//! `provider/model`, resolves it to a route (the primary and its
//! fallbacks, [`config`]), and tries each model in turn: a key from the
//! vault or the environment ([`keys`]), the request in the provider's wire
//! format ([`adapters`]), sent through the host's guarded HTTP client
//! ([`transport`]), the answer translated back. A failure that matches the
//! route's triggers moves on to the next model; a stream moves on only
//! before any output reached the caller ([`stream`]). Every call leaves one
//! audit record ([`record`]) and its attempts are counted ([`usage`]).
//!
//! The REST face (`/v1/chat/completions`, `/v1/models`) lives in
//! `api::openai`; a pack's `llm` capability calls the same [`Gateway::chat`]
//! with [`Caller::allowed_models`] and [`Caller::max_output_tokens`] set
//! from its grant. What must not live here: HTTP routing, the pack ABI.

pub mod adapters;
pub mod chat;
pub mod config;
pub mod keys;
mod record;
mod stream;
pub mod transport;
pub mod usage;

pub use chat::{ChatChunk, ChatRequest, ChatResponse};
pub use config::{GatewayConfig, ModelRef};
pub use stream::AnswerStream;

use crate::audit::{AuditKind, AuditLog, Redactor};
use crate::caps::http::client::GuardedHttpClient;
use crate::store::Store;
use crate::vault::Vault;
use crate::{Error, ErrorCode, Result};
use adapters::{Upstream, for_wire};
use config::{ProviderSettings, Route};
use keys::{ChosenKey, KeyFor, KeyOrigin, KeyRing};
use record::{AttemptLog, CallRecord};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use stream::{Finish, Live};
use transport::Transport;
use usage::{AttemptCount, UsageMeter};

/// Who is calling and within which limits.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token subject the call runs for.
    pub subject: String,
    /// The pack calling through the `llm` capability; `None` over REST.
    pub pack: Option<String>,
    /// The id the audit record carries (a pack call's id, or a fresh one).
    pub call_id: String,
    /// What the record names as the operation (`POST /v1/chat/completions`).
    pub via: String,
    pub kind: AuditKind,
    /// Aliases and `provider/model` names this caller may ask for; `None` for any.
    pub allowed_models: Option<Vec<String>>,
    /// A cap on output tokens per call (a pack's budget); `None` for none.
    pub max_output_tokens: Option<u32>,
    /// Size of the request as received, for the record.
    pub request_bytes: u64,
}

impl Caller {
    /// A REST caller: `subject`, recorded as `via`, no model or token limits.
    pub fn rest(subject: &str, via: &str, request_bytes: u64) -> Caller {
        Caller {
            subject: subject.to_owned(),
            pack: None,
            call_id: uuid::Uuid::now_v7().to_string(),
            via: via.to_owned(),
            kind: AuditKind::Api,
            allowed_models: None,
            max_output_tokens: None,
            request_bytes,
        }
    }
}

/// What [`Gateway::chat`] hands back.
pub enum Reply {
    /// The whole answer, its `model` the answering `provider/model`.
    Complete(Answer),
    /// A stream committed to one model.
    Stream(AnswerStream),
}

/// A whole answer and who gave it.
#[derive(Debug)]
pub struct Answer {
    pub response: ChatResponse,
    pub answered_by: ModelRef,
}

/// A provider as listings show it: never a key, only where one comes from.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub name: String,
    pub wire: &'static str,
    pub base_url: String,
    pub models: Vec<String>,
    pub configured: bool,
    /// `vault`, `env`, `none`, or `not_needed`.
    pub key: &'static str,
    /// Vault credentials for it (name and masked hint), newest first, or the variable it came from.
    pub key_sources: Vec<String>,
    /// `unknown` (nothing tried since start), `ok`, or the last error code.
    pub health: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<crate::store::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ok_at: Option<crate::store::Timestamp>,
}

/// What a key test found.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeResult {
    pub provider: String,
    pub ok: bool,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}

/// The gateway of one Helmdeck.
pub struct Gateway {
    config: GatewayConfig,
    transport: Transport,
    keys: KeyRing,
    usage: Arc<UsageMeter>,
    audit: AuditLog,
}

impl Gateway {
    /// A gateway over `config`, sending through `http`, with keys from
    /// `vault` and counters in `store`. Environment keys are registered with
    /// `redactor`, so they are masked wherever vault values are.
    pub fn new(
        config: GatewayConfig,
        http: GuardedHttpClient,
        vault: Arc<Vault>,
        store: Arc<dyn Store>,
        audit: AuditLog,
        redactor: Redactor,
    ) -> Result<Gateway> {
        for provider in config.providers.values() {
            if let Some(env) = &provider.env_key {
                redactor.register(env.key.expose())?;
            }
        }
        Ok(Gateway {
            config,
            transport: Transport::new(http, redactor),
            keys: KeyRing::new(vault),
            usage: UsageMeter::start(store),
            audit,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The usage counters.
    pub fn usage(&self) -> &Arc<UsageMeter> {
        &self.usage
    }

    /// Answer `request` for `caller`: the first model of its route that
    /// answers, falling back on the route's triggers. Errors are from the
    /// closed set: `not_found` (no such model or alias), `unauthorized`
    /// (not a model this caller may use, or no vault key admits it),
    /// `auth_failed` (no key, or the provider refused it), `rate_limited`
    /// (with `retry_after_ms`), `timeout`, `egress_denied`, `network_error`,
    /// `invalid_input` naming the field. Every call, failed ones included,
    /// is audited before this returns (a stream's at its end).
    pub async fn chat(&self, caller: &Caller, request: ChatRequest) -> Result<Reply> {
        let mut record = CallRecord::new(caller, &request.model, request.streams());
        let result = self.run(caller, request, &mut record).await;
        match result {
            Ok(Outcome::Whole(answer, bytes_out)) => {
                record.bytes_out = bytes_out;
                self.audit.record(record.event(Ok(()), None)).await?;
                Ok(Reply::Complete(answer))
            }
            Ok(Outcome::Streaming(stream)) => Ok(Reply::Stream(stream)),
            Err(error) => {
                let error = match error.details {
                    None if !record.attempts().as_array().is_some_and(Vec::is_empty) => {
                        error.clone().with_details(serde_json::json!({ "attempts": record.attempts() }))
                    }
                    _ => error,
                };
                self.audit.record(record.event(Err(&error), None)).await?;
                Err(error)
            }
        }
    }

    async fn run(&self, caller: &Caller, mut request: ChatRequest, record: &mut CallRecord) -> Result<Outcome> {
        self.admit(caller, &mut request)?;
        let (alias, route) = self.config.route(&request.model)?;
        record.alias = alias.map(str::to_owned);
        let mut last = None;
        for (i, target) in route.targets.iter().enumerate() {
            let mut log = AttemptLog::new(target.clone());
            let attempt =
                tokio::time::timeout(route.attempt_timeout, self.attempt(caller, target, &request, &mut log, &route));
            let result = attempt.await.unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorCode::Timeout,
                    format!(
                        "provider `{}` did not answer within {} ms; raise attempt_timeout_ms or configure a fallback",
                        target.provider,
                        route.attempt_timeout.as_millis()
                    ),
                ))
            });
            match result {
                Ok(Attempted::Whole(response, usage)) => {
                    let count = AttemptCount {
                        outcome: None,
                        tokens_in: usage.prompt_tokens,
                        tokens_out: usage.completion_tokens,
                        latency: log.started.elapsed(),
                    };
                    self.usage.record(target, record.alias.as_deref(), count);
                    record.attempt(&log, None);
                    record.answered = Some(target.clone());
                    record.tokens = (usage.prompt_tokens, usage.completion_tokens);
                    let bytes = serde_json::to_vec(&response).map(|b| b.len() as u64).unwrap_or(0);
                    return Ok(Outcome::Whole(Answer { response, answered_by: target.clone() }, bytes));
                }
                Ok(Attempted::Streaming(live)) => {
                    record.answered = Some(target.clone());
                    let finish = Finish {
                        audit: self.audit.clone(),
                        usage: self.usage.clone(),
                        record: std::mem::replace(record, CallRecord::new(caller, "", true)),
                        attempt: log,
                    };
                    let wants_usage = request.wants_stream_usage();
                    return Ok(Outcome::Streaming(AnswerStream::new(live, target.clone(), wants_usage, finish)));
                }
                Err(error) => {
                    let count = AttemptCount {
                        outcome: Some(error.code),
                        tokens_in: 0,
                        tokens_out: 0,
                        latency: log.started.elapsed(),
                    };
                    self.usage.record(target, record.alias.as_deref(), count);
                    record.attempt(&log, Some(&error));
                    let more = i + 1 < route.targets.len();
                    let fires = route.fallback_on.iter().any(|t| t.fires_on(error.code));
                    if !(more && fires) {
                        return Err(error);
                    }
                    tracing::info!(model = %target, code = %error.code, "gateway attempt failed; falling back");
                    last = Some(error);
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::internal("a route without models")))
    }

    /// The caller's limits: the models it may use, the output it may ask for.
    fn admit(&self, caller: &Caller, request: &mut ChatRequest) -> Result<()> {
        if request.messages.is_empty() {
            return Err(Error::invalid_input("`messages` must hold at least one message"));
        }
        if let Some(allowed) = &caller.allowed_models
            && !allowed.iter().any(|m| m == &request.model)
        {
            return Err(Error::unauthorized(format!(
                "model `{}` is not granted to this caller; it may use {}",
                request.model,
                allowed.join(", ")
            )));
        }
        if let Some(budget) = caller.max_output_tokens {
            let limit = request.output_limit().map_or(budget, |asked| asked.min(budget));
            if request.max_completion_tokens.is_some() || request.max_tokens.is_none() {
                request.max_completion_tokens = Some(limit);
            }
            if request.max_tokens.is_some() {
                request.max_tokens = Some(limit);
            }
        }
        Ok(())
    }

    async fn attempt(
        &self,
        caller: &Caller,
        target: &ModelRef,
        request: &ChatRequest,
        log: &mut AttemptLog,
        route: &Route,
    ) -> Result<Attempted> {
        let provider = self.provider(&target.provider)?;
        let key = self.key(caller, provider).await?;
        log.origin = key.as_ref().map(|k| k.origin.clone());
        let adapter = for_wire(provider.wire);
        let up = Upstream { provider, model: &target.model, key: key.as_ref().map(|k| k.key.expose()) };
        let stream = request.streams();
        let wire = adapter.chat(up, request, stream)?;
        let response = self.transport.send(&provider.name, adapter, wire, &mut log.egress).await?;
        if !stream {
            let body = self.transport.body(&provider.name, response).await?;
            let mut answer = adapter.answer(&body).map_err(|e| self.transport.about(&provider.name, e))?;
            answer.model = target.to_string();
            if answer.id.is_empty() {
                answer.id = format!("chatcmpl-{}", uuid::Uuid::now_v7().simple());
            }
            if answer.created == 0 {
                answer.created = chat::unix_now();
            }
            let usage = answer.usage.clone().unwrap_or_default();
            return Ok(Attempted::Whole(answer, usage));
        }
        let frames = self.transport.frames(&provider.name, response, adapter.framing());
        let mut live = Live::new(&provider.name, frames, adapter.decoder(), route.attempt_timeout);
        live.first_output().await?;
        Ok(Attempted::Streaming(live))
    }

    fn provider(&self, name: &str) -> Result<&ProviderSettings> {
        self.config.providers.get(name).ok_or_else(|| Error::not_found(format!("no provider `{name}`")))
    }

    async fn key(&self, caller: &Caller, provider: &ProviderSettings) -> Result<Option<ChosenKey>> {
        let want = KeyFor {
            provider: &provider.name,
            subject: &caller.subject,
            pack: caller.pack.as_deref(),
            base_url: &provider.base_url,
        };
        let key = self.keys.choose(want, provider.env_key.as_ref()).await?;
        if key.is_none() && provider.needs_key {
            return Err(Error::new(
                ErrorCode::AuthFailed,
                format!(
                    "no key for provider `{0}`: add one with `helmdeck vault add {0}-key --kind provider-key --host {1} \
                     --pack '*' --field provider={0} --from-stdin key`, or set {2}",
                    provider.name,
                    provider.base_url.host_str().unwrap_or("*"),
                    config::env_name(&provider.name, "API_KEY")
                ),
            ));
        }
        Ok(key)
    }

    /// Every provider with its models, where its key comes from and its health.
    pub async fn providers(&self) -> Result<Vec<ProviderView>> {
        let mut out = Vec::new();
        for provider in self.config.providers.values() {
            let vault = self.keys.describe(&provider.name).await?;
            let (key, key_sources) = match (&vault[..], &provider.env_key) {
                ([_, ..], _) => ("vault", vault.iter().map(|(name, hint)| format!("vault:{name} ({hint})")).collect()),
                ([], Some(env)) => ("env", vec![env.source.clone()]),
                ([], None) if !provider.needs_key => ("not_needed", Vec::new()),
                ([], None) => ("none", Vec::new()),
            };
            let health = self.usage.health(&provider.name);
            out.push(ProviderView {
                name: provider.name.clone(),
                wire: provider.wire.as_str(),
                base_url: provider.base_url.to_string(),
                models: provider.models.clone(),
                configured: provider.configured || key == "vault",
                key,
                key_sources,
                health: health.as_ref().map_or_else(|| "unknown".to_owned(), |h| h.last_outcome.clone()),
                last_checked_at: health.as_ref().map(|h| h.last_at),
                last_ok_at: health.and_then(|h| h.last_ok_at),
            });
        }
        Ok(out)
    }

    /// The models `/v1/models` lists: every alias, then each usable
    /// provider's configured models as `provider/model`.
    pub async fn models(&self) -> Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> =
            self.config.aliases.keys().map(|alias| (alias.clone(), "helmdeck".to_owned())).collect();
        for view in self.providers().await? {
            if view.configured || view.key != "none" && view.key != "not_needed" {
                out.extend(view.models.iter().map(|m| (format!("{}/{m}", view.name), view.name.clone())));
            }
        }
        Ok(out)
    }

    /// Check `provider`'s key with its cheapest authenticated call (its
    /// model listing), for `subject`. The outcome is the provider's health
    /// from then on; a failure is in the result, not an error, so a listing
    /// of tests can show every provider.
    pub async fn probe(&self, subject: &str, provider: &str) -> Result<ProbeResult> {
        let settings = self.provider(provider)?;
        let started = std::time::Instant::now();
        let caller = Caller::rest(subject, "provider test", 0);
        let mut key_from = None;
        let result: Result<()> = async {
            let key = self.key(&caller, settings).await?;
            key_from = key.as_ref().map(|k| match &k.origin {
                KeyOrigin::Vault { name, .. } => format!("vault:{name}"),
                KeyOrigin::Env(source) => source.clone(),
            });
            let adapter = for_wire(settings.wire);
            let up = Upstream { provider: settings, model: "", key: key.as_ref().map(|k| k.key.expose()) };
            let mut egress = None;
            let send = self.transport.send(&settings.name, adapter, adapter.probe(up)?, &mut egress);
            let response = tokio::time::timeout(PROBE_TIMEOUT, send).await.map_err(|_| {
                Error::new(ErrorCode::Timeout, format!("provider `{provider}` did not answer within {PROBE_TIMEOUT:?}"))
            })??;
            self.transport.body(&settings.name, response).await.map(|_| ())
        }
        .await;
        self.usage.note(provider, result.as_ref().err().map(|e| e.code));
        Ok(ProbeResult {
            provider: provider.to_owned(),
            ok: result.is_ok(),
            latency_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
            key_from,
            error: result.err(),
        })
    }
}

/// How long a key test waits.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

enum Attempted {
    Whole(ChatResponse, chat::Usage),
    Streaming(Live),
}

enum Outcome {
    Whole(Answer, u64),
    Streaming(AnswerStream),
}

#[cfg(test)]
mod tests;
