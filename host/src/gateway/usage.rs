//! Usage and health: every attempt's outcome, tokens and latency counted in
//! memory per provider, model and alias, and added to the store every
//! [`FLUSH_EVERY`] (and before every read), so the hot path never waits on
//! a write for it. Health (the last outcome per provider, from calls and
//! key tests) lives in memory only: it is about this process's view.

use super::config::ModelRef;
use crate::store::{Store, Timestamp, UsageRow, run_blocking};
use crate::{ErrorCode, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

/// How often the counters gathered in memory are added to the store.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);

/// A provider's last known state.
#[derive(Debug, Clone, Serialize)]
pub struct Health {
    /// `ok` or the error code of the last attempt or test.
    pub last_outcome: String,
    pub last_at: Timestamp,
    /// When it last answered successfully.
    pub last_ok_at: Option<Timestamp>,
}

type Key = (String, String, String);

/// Counters in memory, flushed into the store.
pub struct UsageMeter {
    store: Arc<dyn Store>,
    pending: Mutex<HashMap<Key, UsageRow>>,
    health: Mutex<HashMap<String, Health>>,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy)]
pub struct AttemptCount {
    pub outcome: Option<ErrorCode>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency: Duration,
}

impl UsageMeter {
    /// A meter over `store`, with a task adding its counts to the store every
    /// [`FLUSH_EVERY`] for as long as the meter lives.
    pub fn start(store: Arc<dyn Store>) -> Arc<UsageMeter> {
        let meter = Arc::new(UsageMeter { store, pending: Mutex::default(), health: Mutex::default() });
        let weak: Weak<UsageMeter> = Arc::downgrade(&meter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FLUSH_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(meter) = weak.upgrade() else { return };
                if let Err(error) = meter.flush().await {
                    tracing::warn!(%error, "could not store the gateway's usage counters; they are kept for the next flush");
                }
            }
        });
        meter
    }

    /// Count one attempt at `model` through `alias`.
    pub fn record(&self, model: &ModelRef, alias: Option<&str>, count: AttemptCount) {
        let now = Timestamp::now();
        {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            let key = (model.provider.clone(), model.model.clone(), alias.unwrap_or_default().to_owned());
            let row = pending
                .entry(key)
                .or_insert_with(|| UsageRow::new(&model.provider, &model.model, alias.unwrap_or_default(), now));
            row.calls += 1;
            if let Some(code) = count.outcome {
                *row.errors.entry(code.as_str().to_owned()).or_default() += 1;
            }
            row.tokens_in += count.tokens_in;
            row.tokens_out += count.tokens_out;
            row.latency.record(count.latency.as_micros() as u64);
            row.last_at = now;
        }
        self.note(&model.provider, count.outcome);
    }

    /// Remember `provider`'s latest outcome (a call or a key test).
    pub fn note(&self, provider: &str, outcome: Option<ErrorCode>) {
        let now = Timestamp::now();
        let mut health = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = health.entry(provider.to_owned()).or_insert(Health {
            last_outcome: String::new(),
            last_at: now,
            last_ok_at: None,
        });
        entry.last_outcome = outcome.map_or("ok", ErrorCode::as_str).to_owned();
        entry.last_at = now;
        if outcome.is_none() {
            entry.last_ok_at = Some(now);
        }
    }

    /// `provider`'s last known state; `None` before any call or test.
    pub fn health(&self, provider: &str) -> Option<Health> {
        self.health.lock().unwrap_or_else(PoisonError::into_inner).get(provider).cloned()
    }

    /// Add what was counted since the last flush to the store. On failure
    /// the counts are kept for the next one.
    pub async fn flush(&self) -> Result<()> {
        let rows: Vec<UsageRow> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner)).into_values().collect();
        if rows.is_empty() {
            return Ok(());
        }
        let kept = rows.clone();
        let result = run_blocking(&self.store, move |s| s.add_usage(&rows)).await;
        if result.is_err() {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for row in kept {
                let key = (row.provider.clone(), row.model.clone(), row.alias.clone());
                match pending.get_mut(&key) {
                    Some(newer) => newer.merge(&row),
                    None => {
                        pending.insert(key, row);
                    }
                }
            }
        }
        result
    }

    /// Every row in the store, after a flush.
    pub async fn rows(&self) -> Result<Vec<UsageRow>> {
        self.flush().await?;
        run_blocking(&self.store, |s| s.list_usage()).await
    }
}

/// A row as listings show it, latencies as p50/p90/p99 in milliseconds.
pub fn view(row: &UsageRow) -> serde_json::Value {
    let ms = |q: f64| row.latency.percentile(q).map(|us| us as f64 / 1e3);
    let failed: u64 = row.errors.values().sum();
    serde_json::json!({
        "provider": row.provider,
        "model": row.model,
        "alias": (!row.alias.is_empty()).then_some(&row.alias),
        "calls": row.calls,
        "ok": row.calls.saturating_sub(failed),
        "errors": row.errors,
        "tokens_in": row.tokens_in,
        "tokens_out": row.tokens_out,
        "latency_ms": { "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99) },
        "first_at": row.first_at,
        "last_at": row.last_at,
    })
}
