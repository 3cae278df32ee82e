//! The benchmark groups. A group is one function from the [`Context`] to
//! report [`Entry`]s; [`ALL`] lists them in the order they run.
//!
//! # Adding a benchmark
//!
//! 1. Write `groups/<name>.rs` with `pub fn run(ctx: &Context) -> Result<Vec<Entry>>`.
//!    Build what it needs from the context ([`Context::in_process`] for Helmdeck opened
//!    in this process, a fresh [`DataDir`] with the built-in packs, a runtime, the
//!    release binary), take samples with
//!    [`sample`](crate::sample::sample) (or `sample_alternating` to compare with a
//!    baseline in the same run), check that every sampled operation succeeded, and
//!    turn the samples into entries with [`Entry::new`], adding `.against(&baseline)`,
//!    `.target(…)` and `.context(…)` where they apply.
//! 2. Add one line to [`ALL`].
//!
//! The report format does not change: a new benchmark is new entries.
//! Entry names are `group.what` and stay stable, since runs are compared by name.

mod audit;
mod engine;
mod gateway;
mod idle;
mod rest;

use crate::fixture::DataDir;
use crate::report::Entry;
use crate::sample::Plan;
use anyhow::Result;
use helmdeck::app::Helmdeck;
use std::path::PathBuf;
use std::sync::Arc;

/// One group of benchmarks.
pub struct Group {
    /// What `--only` selects it by.
    pub name: &'static str,
    pub run: fn(&Context) -> Result<Vec<Entry>>,
}

/// Every group, in run order.
pub const ALL: &[Group] = &[
    Group { name: "engine", run: engine::run },
    Group { name: "audit", run: audit::run },
    Group { name: "rest", run: rest::run },
    Group { name: "idle", run: idle::run },
    Group { name: "gateway", run: gateway::run },
];

/// What every group may use.
pub struct Context {
    /// The `helmdeck` binary (a release build) for installs and process-level measurements.
    pub helmdeck: PathBuf,
    /// The built pack directories (`target/packs/<name>/`).
    pub packs: Vec<PathBuf>,
    /// Multiplies every sample count.
    pub scale: f64,
}

impl Context {
    /// `samples` timed runs (scaled) after a warm-up.
    pub fn plan(&self, samples: usize) -> Plan {
        Plan::new(samples).scaled(self.scale)
    }

    /// A runtime like `helmdeck serve`'s (multi-threaded, one worker per core).
    /// A group owns its runtime, so whatever it spawned stops with it.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
    }

    /// Run `work` on a runtime of its own against Helmdeck opened in this
    /// process on a fresh data directory holding the built-in packs.
    pub fn in_process<T>(&self, work: impl AsyncFnOnce(Arc<Helmdeck>) -> Result<T>) -> Result<T> {
        let data = DataDir::with_packs(&self.helmdeck, &self.packs)?;
        self.runtime()?.block_on(async { work(data.open().await?).await })
    }
}
