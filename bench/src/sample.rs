//! Taking samples on a noisy, shared machine: untimed warm-up first, then
//! many sequential timed runs, every one checked for success (a benchmark
//! that times an error path measures nothing). Comparisons alternate the
//! two operations so drift in the machine's load hits both alike.

use anyhow::Result;
use std::future::Future;
use std::time::Instant;

/// How many runs to discard and how many to time.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub warmup: usize,
    pub samples: usize,
}

impl Plan {
    /// `samples` timed runs after a warm-up of a tenth as many (at least 100).
    pub fn new(samples: usize) -> Plan {
        Plan { warmup: (samples / 10).max(100), samples }
    }

    /// This plan with the counts multiplied by `scale` (`--scale 0.1` for a quick look).
    pub fn scaled(self, scale: f64) -> Plan {
        let scale = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        Plan { warmup: scale(self.warmup), samples: scale(self.samples) }
    }
}

/// Time `op` per the plan; microseconds per run. The first failure aborts.
pub async fn sample<T, F: Future<Output = Result<T>>>(plan: Plan, mut op: impl FnMut() -> F) -> Result<Vec<f64>> {
    for _ in 0..plan.warmup {
        op().await?;
    }
    let mut out = Vec::with_capacity(plan.samples);
    for _ in 0..plan.samples {
        out.push(timed(&mut op).await?);
    }
    Ok(out)
}

/// Time `a` and `b` alternately per the plan (each gets `plan.samples` runs).
pub async fn sample_alternating<T, U, F, G>(
    plan: Plan,
    mut a: impl FnMut() -> F,
    mut b: impl FnMut() -> G,
) -> Result<(Vec<f64>, Vec<f64>)>
where
    F: Future<Output = Result<T>>,
    G: Future<Output = Result<U>>,
{
    for _ in 0..plan.warmup {
        a().await?;
        b().await?;
    }
    let (mut out_a, mut out_b) = (Vec::with_capacity(plan.samples), Vec::with_capacity(plan.samples));
    for _ in 0..plan.samples {
        out_a.push(timed(&mut a).await?);
        out_b.push(timed(&mut b).await?);
    }
    Ok((out_a, out_b))
}

/// One run, timed from before `op` is called (so work done while building the
/// future counts) to its completion.
async fn timed<T, F: Future<Output = Result<T>>>(op: &mut impl FnMut() -> F) -> Result<f64> {
    let started = Instant::now();
    op().await?;
    Ok(started.elapsed().as_secs_f64() * 1e6)
}
