//! The AI gateway's usage counters as stored: one row per provider, model
//! and alias, with calls, errors by code, tokens and a latency histogram.
//! Rows are added to, never rewritten by hand: [`UsageRow::merge`] is the
//! one way counts combine, whatever the backend.

use super::{StoreError, Timestamp};
use std::collections::BTreeMap;

/// Counters of one provider/model reached through one alias (`""` when the
/// model was called by name).
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub provider: String,
    pub model: String,
    pub alias: String,
    /// Attempts made (each fallback step is one).
    pub calls: u64,
    /// Failed attempts by error code (`rate_limited`: 3).
    pub errors: BTreeMap<String, u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub latency: LatencyHistogram,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

impl UsageRow {
    /// An empty row for `provider/model` via `alias`, starting `at`.
    pub fn new(provider: &str, model: &str, alias: &str, at: Timestamp) -> UsageRow {
        UsageRow {
            provider: provider.to_owned(),
            model: model.to_owned(),
            alias: alias.to_owned(),
            calls: 0,
            errors: BTreeMap::new(),
            tokens_in: 0,
            tokens_out: 0,
            latency: LatencyHistogram::default(),
            first_at: at,
            last_at: at,
        }
    }

    /// Add `other`'s counts (same key) to these.
    pub fn merge(&mut self, other: &UsageRow) {
        self.calls += other.calls;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.tokens_in += other.tokens_in;
        self.tokens_out += other.tokens_out;
        self.latency.merge(&other.latency);
        self.first_at = self.first_at.min(other.first_at);
        self.last_at = self.last_at.max(other.last_at);
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.provider.is_empty() || self.model.is_empty() {
            return Err(StoreError::invalid("provider", "a usage row names its provider and model"));
        }
        Ok(())
    }
}

/// Latencies in logarithmic buckets: bucket `i` holds what took at most
/// `100 µs × 2^(i/4)` (and more than the bucket below), so a percentile is
/// exact to within 19 %; the last bucket takes everything longer (about an
/// hour and up).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
}

/// How many buckets there are.
const BUCKETS: usize = 100;

impl LatencyHistogram {
    /// The bucket holding `micros`.
    fn bucket(micros: u64) -> usize {
        if micros <= 100 {
            return 0;
        }
        let steps = 4.0 * (micros as f64 / 100.0).log2();
        (steps.ceil() as usize).min(BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, in microseconds.
    fn bound(i: usize) -> u64 {
        (100.0 * 2f64.powf(i as f64 / 4.0)).round() as u64
    }

    /// Count one latency.
    pub fn record(&mut self, micros: u64) {
        let i = Self::bucket(micros);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
    }

    /// Add `other`'s counts.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// How many latencies were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency (microseconds, a bucket bound) below which a fraction `q`
    /// (0–1) of the counted ones fall; `None` when nothing was counted.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::bound(i));
            }
        }
        None
    }

    /// The stored form: the bucket counts as a JSON array, trailing zeros cut.
    pub fn to_json(&self) -> String {
        let end = self.counts.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
        serde_json::to_string(&self.counts[..end]).unwrap_or_else(|_| "[]".to_owned())
    }

    /// Read [`LatencyHistogram::to_json`] back.
    pub fn from_json(text: &str) -> Option<LatencyHistogram> {
        let counts: Vec<u64> = serde_json::from_str(text).ok()?;
        (counts.len() <= BUCKETS).then_some(LatencyHistogram { counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_buckets_within_their_resolution() {
        let mut h = LatencyHistogram::default();
        assert_eq!(h.percentile(0.5), None);
        for micros in [50, 1_000, 1_000, 1_000, 200_000] {
            h.record(micros);
        }
        assert_eq!(h.percentile(0.2), Some(100));
        let p50 = h.percentile(0.5).unwrap();
        assert!((1_000..=1_190).contains(&p50), "{p50}");
        let p99 = h.percentile(0.99).unwrap();
        assert!((200_000..=238_000).contains(&p99), "{p99}");
        let back = LatencyHistogram::from_json(&h.to_json()).unwrap();
        assert_eq!(back, h);
        let mut merged = back.clone();
        merged.merge(&h);
        assert_eq!(merged.count(), 10);
        h.record(u64::MAX);
        assert_eq!(h.counts.len(), BUCKETS, "the last bucket takes everything longer");
    }
}
