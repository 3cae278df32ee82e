//! Records of refused unauthenticated requests, bounded.
//!
//! Anyone who can reach the port can send requests without a token (or with
//! a bad one, or a bad signed link); recording each of them in full would
//! let them grow the audit log as fast as they can send. Instead time is cut
//! into windows ([`SamplingConfig::window`], 60 s by default) and each source
//! address (an IPv6 address counts by its /64) gets [`SamplingConfig::burst`]
//! full records per window, [`MAX_FULL_PER_WINDOW`] in all. Past that the
//! refusals are only counted, and when the window closes one summary record
//! per source and actor says how many were suppressed, on which routes and
//! with which outcomes (`details.suppressed`, `details.routes`,
//! `details.outcomes`). More than [`MAX_SOURCES`] sources in one window
//! share the summary of source `other`. So a window adds at most
//! `MAX_FULL_PER_WINDOW + MAX_SOURCES + 1` records however many requests
//! arrive, and every refused request is still counted.
//!
//! A window's summaries are written by the first refusal after it closed,
//! by [`AuditLog::sweep`](super::AuditLog::sweep) (every window while
//! `serve` runs) and at shutdown; a killed server loses the counts of its
//! last window.

use super::{AuditEvent, AuditKind, Decision, Outcome};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most sources tracked separately in one window; the rest share `other`.
pub const MAX_SOURCES: usize = 1024;
/// Most refusals recorded in full in one window, over every source.
pub const MAX_FULL_PER_WINDOW: u32 = 200;
/// Most distinct routes a summary lists; the rest are counted under `other`.
const MAX_ROUTES: usize = 32;

/// How refused unauthenticated requests are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplingConfig {
    /// The length of a window (`audit_unauthenticated_window_secs`).
    pub window: Duration,
    /// Refusals recorded in full per source and window
    /// (`audit_unauthenticated_burst`); later ones are counted.
    pub burst: u32,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig { window: Duration::from_secs(60), burst: 20 }
    }
}

/// The source a refusal is counted under: the peer's IP address, an IPv6
/// address by its /64 (one host usually holds a whole /64), `unknown`
/// when the connection's address is not known.
pub fn source_of(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => "unknown".to_owned(),
    }
}

/// Decides which refusals are recorded and keeps count of the others.
#[derive(Debug)]
pub struct Sampler {
    config: SamplingConfig,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    full: u32,
    /// By (actor, source).
    counts: HashMap<(String, String), Count>,
}

#[derive(Debug, Default)]
struct Count {
    full: u32,
    suppressed: u64,
    routes: BTreeMap<String, u64>,
    outcomes: BTreeMap<&'static str, u64>,
}

impl Sampler {
    /// A sampler whose first window starts now.
    pub fn new(config: SamplingConfig) -> Sampler {
        let window = Window { started: Instant::now(), full: 0, counts: HashMap::new() };
        let config = SamplingConfig { burst: config.burst, window: config.window.max(MIN_WINDOW) };
        Sampler { config, window: window.into() }
    }

    /// The window length in use.
    pub fn window(&self) -> Duration {
        self.config.window
    }

    /// Account for one refusal of `event` from `source`. Returns the
    /// summaries of a window that closed before it (to write first) and
    /// `event` itself when it is to be recorded in full.
    pub fn admit(&self, source: &str, event: AuditEvent) -> (Vec<AuditEvent>, Option<AuditEvent>) {
        self.admit_at(Instant::now(), source, event)
    }

    fn admit_at(&self, now: Instant, source: &str, event: AuditEvent) -> (Vec<AuditEvent>, Option<AuditEvent>) {
        let mut window = self.lock();
        let closed = if now.duration_since(window.started) >= self.config.window {
            window.close(now, self.config.window)
        } else {
            Vec::new()
        };
        let mut key = (event.actor.clone(), source.to_owned());
        if !window.counts.contains_key(&key) && window.counts.len() >= MAX_SOURCES {
            key.1 = "other".to_owned();
        }
        let full_left = window.full < MAX_FULL_PER_WINDOW;
        let count = window.counts.entry(key).or_default();
        if count.full < self.config.burst && full_left {
            count.full += 1;
            window.full += 1;
            return (closed, Some(event));
        }
        count.suppressed += 1;
        let route = event.capability.clone().unwrap_or_default();
        let route =
            if count.routes.contains_key(&route) || count.routes.len() < MAX_ROUTES { route } else { "other".into() };
        *count.routes.entry(route).or_default() += 1;
        *count.outcomes.entry(event.outcome.as_str()).or_default() += 1;
        (closed, None)
    }

    /// Close the current window now if it is over (`all`: whether or not)
    /// and return its summaries.
    pub fn flush(&self, all: bool) -> Vec<AuditEvent> {
        let now = Instant::now();
        let mut window = self.lock();
        if all || now.duration_since(window.started) >= self.config.window {
            return window.close(now, self.config.window);
        }
        Vec::new()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        // The counters stay consistent under a panic elsewhere: keep using them.
        self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Shortest window accepted (a zero window would record nothing in full).
const MIN_WINDOW: Duration = Duration::from_secs(1);

impl Window {
    /// The summaries of this window; a new window starts at `now`.
    fn close(&mut self, now: Instant, length: Duration) -> Vec<AuditEvent> {
        let counts = std::mem::take(&mut self.counts);
        self.started = now;
        self.full = 0;
        let mut summaries: Vec<AuditEvent> = counts
            .into_iter()
            .filter(|(_, c)| c.suppressed > 0)
            .map(|((actor, source), c)| summary(actor, source, c, length))
            .collect();
        summaries.sort_by(|a, b| a.target.cmp(&b.target));
        summaries
    }
}

/// The record standing for the suppressed refusals of one source.
fn summary(actor: String, source: String, count: Count, window: Duration) -> AuditEvent {
    let outcome = count
        .outcomes
        .iter()
        .max_by_key(|(_, n)| **n)
        .and_then(|(code, _)| Outcome::parse(code))
        .unwrap_or(Outcome::Error(crate::ErrorCode::AuthFailed));
    let mut event = AuditEvent::new(AuditKind::Api, actor);
    event.capability = Some(SUMMARY_CAPABILITY.to_owned());
    event.target = Some(source.clone());
    event.decision = Decision::Deny;
    event.outcome = outcome;
    event.details = Some(serde_json::json!({
        "suppressed": count.suppressed,
        "recorded_in_full": count.full,
        "source": source,
        "window_secs": window.as_secs(),
        "routes": count.routes,
        "outcomes": count.outcomes,
    }));
    event
}

/// The `capability` of a summary record.
pub const SUMMARY_CAPABILITY: &str = "unauthenticated requests (suppressed)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn refusal(route: &str) -> AuditEvent {
        let mut event = AuditEvent::new(AuditKind::Api, "anonymous");
        event.capability = Some(route.to_owned());
        event.outcome = Outcome::Error(ErrorCode::AuthFailed);
        event.decision = Decision::Deny;
        event
    }

    #[test]
    fn a_source_gets_its_burst_in_full_then_one_summary_counting_the_rest() {
        let sampler = Sampler::new(SamplingConfig { window: Duration::from_secs(60), burst: 3 });
        let start = Instant::now();
        let mut full = 0;
        for n in 0..1000 {
            let route = if n % 2 == 0 { "GET /api/v1/packs" } else { "POST /mcp" };
            let (closed, kept) = sampler.admit_at(start, "10.0.0.1", refusal(route));
            assert!(closed.is_empty());
            full += usize::from(kept.is_some());
        }
        assert_eq!(full, 3);
        // Another source has its own burst.
        assert!(sampler.admit_at(start, "10.0.0.2", refusal("GET /")).1.is_some());
        let (closed, kept) = sampler.admit_at(start + Duration::from_secs(61), "10.0.0.1", refusal("GET /"));
        assert!(kept.is_some(), "a new window starts with a new burst");
        assert_eq!(closed.len(), 1, "only the source with suppressed refusals is summarised");
        let details = closed[0].details.as_ref().unwrap();
        assert_eq!(details["suppressed"], 997);
        assert_eq!(details["routes"]["GET /api/v1/packs"], 498);
        assert_eq!(details["outcomes"]["auth_failed"], 997);
        assert_eq!(closed[0].target.as_deref(), Some("10.0.0.1"));
        assert_eq!((closed[0].decision, closed[0].outcome), (Decision::Deny, Outcome::Error(ErrorCode::AuthFailed)));
    }

    #[test]
    fn many_sources_share_one_summary_and_the_full_records_have_a_ceiling() {
        let sampler = Sampler::new(SamplingConfig { window: Duration::from_secs(60), burst: 20 });
        let start = Instant::now();
        let mut full = 0u32;
        for n in 0..(MAX_SOURCES as u32 * 3) {
            full += u32::from(sampler.admit_at(start, &format!("src-{n}"), refusal("GET /")).1.is_some());
        }
        assert_eq!(full, MAX_FULL_PER_WINDOW);
        let summaries = sampler.flush(true);
        assert!(summaries.len() <= MAX_SOURCES + 1, "{}", summaries.len());
        let counted: u64 = summaries.iter().map(|s| s.details.as_ref().unwrap()["suppressed"].as_u64().unwrap()).sum();
        assert_eq!(counted + u64::from(full), u64::from(MAX_SOURCES as u32 * 3));
        assert!(summaries.iter().any(|s| s.target.as_deref() == Some("other")));
        assert!(sampler.flush(true).is_empty(), "a flushed window is not summarised twice");
    }

    #[test]
    fn ipv6_sources_count_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(source_of(Some(a)), source_of(Some(b)));
        assert_eq!(source_of(Some("::ffff:127.0.0.1".parse().unwrap())), "127.0.0.1");
        assert_eq!(source_of(None), "unknown");
    }
}
