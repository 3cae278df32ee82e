//! The benchmark report: one [`Entry`] per measured quantity, whatever the
//! group that produced it, plus the [`Machine`] it ran on. The format is
//! fixed; a new benchmark adds entries, never fields.
//!
//! ```json
//! {
//!   "format": 1,
//!   "machine": { "cpu": "AMD EPYC", "cores": 2, "kernel": "6.1.0", "load_average": "0.52 0.80 0.91",
//!                "git_commit": "…", "git_dirty": false,
//!                "time": "2026-05-01T10:00:00Z", "profile": "release" },
//!   "benchmarks": [
//!     { "group": "rest", "name": "rest.helmdeck", "description": "…", "unit": "us", "samples": 5000,
//!       "p50": 412.0, "p90": 480.2, "p99": 690.1, "mean": 430.7, "min": 350.3, "max": 2210.9,
//!       "baseline": { "name": "rest.native", "p50": 95.0, "p50_delta": 317.0, "p50_ratio": 4.34 },
//!       "target": { "statistic": "p50_over_baseline", "max": 300.0, "value": 317.0, "met": false },
//!       "context": { "tool": "text.stats" } }
//!   ]
//! }
//! ```

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Bumped only if an existing field changes meaning.
pub const FORMAT: u32 = 1;

/// The whole report written to `target/bench/report.json`.
#[derive(Debug, Serialize)]
pub struct Report {
    pub format: u32,
    pub machine: Machine,
    pub benchmarks: Vec<Entry>,
}

/// Where and from what the figures were taken.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    /// 1, 5 and 15 minute load averages when the run started: other work on a
    /// shared machine shows here and in the spread of the figures.
    pub load_average: String,
    pub git_commit: String,
    /// The work tree had uncommitted changes: the figures are not exactly `git_commit`'s.
    pub git_dirty: bool,
    /// When the run started (RFC 3339, UTC).
    pub time: String,
    /// `release`, or `debug` when someone ran the bench unoptimised (figures then mean little).
    pub profile: String,
}

/// What an entry measures in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Unit {
    /// Microseconds per operation.
    #[serde(rename = "us")]
    Micros,
    /// Kibibytes.
    #[serde(rename = "KiB")]
    KiB,
}

impl Unit {
    fn symbol(self) -> &'static str {
        match self {
            Unit::Micros => "µs",
            Unit::KiB => "KiB",
        }
    }
}

/// One measured quantity: its distribution, how it compares with a baseline
/// measured in the same run, and whether it meets its target.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// The group that produced it (`engine`, `rest`, `idle`, …).
    pub group: String,
    /// Stable, unique name (`engine.invoke`): what scripts compare across runs.
    pub name: String,
    /// What exactly was measured, in a sentence.
    pub description: String,
    pub unit: Unit,
    pub samples: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Comparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetCheck>,
    /// Conditions worth knowing when reading the figure (allocator, input size, …).
    pub context: BTreeMap<String, String>,
}

/// This entry against a baseline entry of the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub name: String,
    /// The baseline's median.
    pub p50: f64,
    /// This median minus the baseline's: the overhead.
    pub p50_delta: f64,
    /// This median over the baseline's.
    pub p50_ratio: f64,
}

/// A goal an entry must stay under.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The median itself.
    P50 { max: f64 },
    /// The median minus the baseline's median (set a baseline first).
    P50OverBaseline { max: f64 },
    /// The 99th percentile itself (a latency under load).
    P99 { max: f64 },
}

/// A target and how the run fared against it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// `p50`, `p99` or `p50_over_baseline`.
    pub statistic: &'static str,
    pub max: f64,
    /// The figure compared with `max`.
    pub value: f64,
    pub met: bool,
}

impl Entry {
    /// An entry summarising `samples` (at least one).
    pub fn new(group: &str, name: &str, description: &str, unit: Unit, samples: &[f64]) -> Entry {
        let stats = Stats::of(samples);
        Entry {
            group: group.to_owned(),
            name: name.to_owned(),
            description: description.to_owned(),
            unit,
            samples: samples.len(),
            p50: stats.percentile(50.0),
            p90: stats.percentile(90.0),
            p99: stats.percentile(99.0),
            mean: stats.mean(),
            min: stats.percentile(0.0),
            max: stats.percentile(100.0),
            baseline: None,
            target: None,
            context: BTreeMap::new(),
        }
    }

    /// Compare with `baseline`, measured in the same run.
    pub fn against(mut self, baseline: &Entry) -> Entry {
        self.baseline = Some(Comparison {
            name: baseline.name.clone(),
            p50: baseline.p50,
            p50_delta: thousandths(self.p50 - baseline.p50),
            p50_ratio: thousandths(self.p50 / baseline.p50),
        });
        self
    }

    /// Check `target`. A [`Target::P50OverBaseline`] without a baseline is
    /// reported as missed, never silently as met.
    pub fn target(mut self, target: Target) -> Entry {
        let (statistic, max, value) = match target {
            Target::P50 { max } => ("p50", max, self.p50),
            Target::P99 { max } => ("p99", max, self.p99),
            Target::P50OverBaseline { max } => {
                ("p50_over_baseline", max, self.baseline.as_ref().map_or(f64::INFINITY, |b| b.p50_delta))
            }
        };
        self.target = Some(TargetCheck { statistic, max, value, met: value <= max });
        self
    }

    /// Record a condition of the measurement.
    pub fn context(mut self, key: &str, value: impl ToString) -> Entry {
        self.context.insert(key.to_owned(), value.to_string());
        self
    }
}

/// Sorted samples.
struct Stats(Vec<f64>);

impl Stats {
    fn of(samples: &[f64]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Stats(sorted)
    }

    /// Nearest-rank percentile (`0` is the minimum, `100` the maximum).
    fn percentile(&self, p: f64) -> f64 {
        let n = self.0.len();
        if n == 0 {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        thousandths(self.0[rank.clamp(1, n) - 1])
    }

    fn mean(&self) -> f64 {
        thousandths(self.0.iter().sum::<f64>() / self.0.len() as f64)
    }
}

/// Figures are kept to a thousandth of their unit (a nanosecond for `us`):
/// finer digits are float noise, not measurement.
fn thousandths(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    /// The summary table printed after a run.
    pub fn table(&self) -> String {
        let m = &self.machine;
        let dirty = if m.git_dirty { " (dirty)" } else { "" };
        let mut out = format!(
            "{} · {} cores · Linux {} · load {} · {}{} · {} build · {}\n\n",
            m.cpu,
            m.cores,
            m.kernel,
            m.load_average,
            short(&m.git_commit),
            dirty,
            m.profile,
            m.time
        );
        let _ = writeln!(
            out,
            "{:<20} {:>4} {:>7} {:>10} {:>10} {:>10} {:>10}  {:<28} target",
            "benchmark", "unit", "samples", "p50", "p90", "p99", "mean", "vs baseline (p50)"
        );
        for e in &self.benchmarks {
            let baseline = e
                .baseline
                .as_ref()
                .map_or(String::new(), |b| format!("{:+.1} ({:.2}x {})", b.p50_delta, b.p50_ratio, b.name));
            let target = e.target.as_ref().map_or(String::from("-"), |t| {
                let verdict = if t.met { "met" } else { "MISSED" };
                format!("{} {:.1} ≤ {:.1}: {verdict}", t.statistic, t.value, t.max)
            });
            let _ = writeln!(
                out,
                "{:<20} {:>4} {:>7} {:>10.1} {:>10.1} {:>10.1} {:>10.1}  {:<28} {}",
                e.name,
                e.unit.symbol(),
                e.samples,
                e.p50,
                e.p90,
                e.p99,
                e.mean,
                baseline,
                target
            );
        }
        out
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).rev().collect();
        let e = Entry::new("g", "n", "d", Unit::Micros, &samples);
        assert_eq!((e.p50, e.p90, e.p99, e.min, e.max), (50.0, 90.0, 99.0, 1.0, 100.0));
        assert_eq!(e.mean, 50.5);
        assert_eq!(e.samples, 100);
    }

    #[test]
    fn a_target_over_the_baseline_uses_the_median_difference() {
        let native = Entry::new("rest", "native", "d", Unit::Micros, &[100.0, 100.0, 100.0]);
        let ours = Entry::new("rest", "ours", "d", Unit::Micros, &[350.0, 400.0, 450.0]).against(&native);
        let met = ours.clone().target(Target::P50OverBaseline { max: 300.0 });
        let missed = ours.target(Target::P50OverBaseline { max: 250.0 });
        assert_eq!(met.baseline.as_ref().map(|b| (b.p50_delta, b.p50_ratio)), Some((300.0, 4.0)));
        assert!(met.target.is_some_and(|t| t.met && t.value == 300.0));
        assert!(missed.target.is_some_and(|t| !t.met));
    }

    #[test]
    fn a_target_over_a_missing_baseline_is_missed() {
        let e = Entry::new("g", "n", "d", Unit::Micros, &[1.0]).target(Target::P50OverBaseline { max: 300.0 });
        assert!(e.target.is_some_and(|t| !t.met));
    }
}
