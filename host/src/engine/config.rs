//! Building the process-wide wasmtime `Engine`: pooling allocation where the
//! address space allows it, epoch interruption, copy-on-write memory images.

use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Engine-wide sizing. Per-pack limits come from manifests and are clamped
/// to these maxima.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How many pack instances may be alive at once (concurrent calls plus
    /// loads). Sizes the pooling allocator; calls beyond it get
    /// `resource_exhausted`.
    pub max_instances: u32,
    /// Upper bound on any pack's linear memory, in MiB.
    pub max_memory_mb: u32,
    /// Upper bound on any pack's wall-clock time per call.
    pub max_timeout: Duration,
    /// Memory per call when the manifest says nothing, in MiB.
    pub default_memory_mb: u32,
    /// Time per call when the manifest says nothing.
    pub default_timeout: Duration,
    /// How often the epoch ticks; a running pack yields to the scheduler (and
    /// notices cancellation or its deadline) at this granularity.
    pub epoch_tick: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: 128,
            max_memory_mb: 1024,
            max_timeout: Duration::from_secs(600),
            default_memory_mb: 128,
            default_timeout: Duration::from_secs(30),
            epoch_tick: Duration::from_millis(10),
        }
    }
}

/// Which allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Pre-reserved slots: fastest instantiation.
    Pooling,
    /// mmap per instance: used when the pool cannot be reserved (for example
    /// under a small `ulimit -v`).
    OnDemand,
}

/// Build the engine, preferring the pooling allocator and falling back to
/// on-demand allocation when the pool's address space cannot be reserved.
pub fn build_engine(cfg: &EngineConfig) -> wasmtime::Result<(Engine, AllocatorKind)> {
    match Engine::new(&base_config(Some(pooling(cfg)))) {
        Ok(engine) => Ok((engine, AllocatorKind::Pooling)),
        Err(e) => {
            tracing::warn!(error = %e, "pooling allocator unavailable; falling back to on-demand allocation");
            Ok((Engine::new(&base_config(None))?, AllocatorKind::OnDemand))
        }
    }
}

fn base_config(pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.memory_init_cow(true);
    // Deep recursion in a pack traps instead of taking the host down.
    config.max_wasm_stack(1 << 20);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn pooling(cfg: &EngineConfig) -> PoolingAllocationConfig {
    let n = cfg.max_instances;
    let mut pool = PoolingAllocationConfig::new();
    // A Rust wasip2 component is a handful of core instances (the program,
    // shims, fix-ups) with one or two memories and tables.
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .total_stacks(n)
        .max_core_instances_per_component(16)
        .max_memories_per_component(2)
        .max_tables_per_component(4)
        .table_elements(100_000)
        .max_memory_size(cfg.max_memory_mb as usize * (1 << 20));
    pool
}
