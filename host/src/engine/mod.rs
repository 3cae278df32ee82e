//! The wasmtime engine that runs packs: one process-wide `Engine`, compiled
//! components cached by digest, least-privilege linking, and a fresh `Store`
//! per call with a memory cap, an epoch deadline and a wall-clock timeout.
//!
//! Nothing here knows about REST, MCP or the registry; it turns a component
//! plus grants into something callable, and a call into a typed outcome.

mod bindings;
mod cache;
mod config;
mod imports;
mod state;
mod ticker;

pub(crate) use bindings::helmdeck as wit;
pub use cache::{CacheOutcome, CompiledCache};
pub use config::{AllocatorKind, EngineConfig};
pub use imports::{HOST_WIT_VERSION, ImportError, ImportSet};
pub use state::{CallState, CapturedLog, GUEST_LOG_CAPACITY};

use crate::caps::{self, CapsContext};
use crate::{Error, ErrorCode};
use bindings::PackPre;
use helmdeck_marketplace::{Capability, Digest, Limits};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

/// A component linked for one pack, ready to instantiate per call.
pub type LinkedPack = PackPre<CallState>;

/// The effective limits of one pack's calls (manifest values clamped to the
/// engine's maxima).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Linear memory cap in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline per call.
    pub timeout: Duration,
}

/// What one invocation produced: the pack's own result plus what it printed.
#[derive(Debug)]
pub struct Invocation {
    /// The pack's JSON output, or the error it (or the host) reported.
    pub result: Result<String, Error>,
    /// The guest's stdout.
    pub stdout: CapturedLog,
    /// The guest's stderr (a panic message lands here).
    pub stderr: CapturedLog,
}

/// Which export to run.
#[derive(Debug, Clone, Copy)]
pub enum Operation<'a> {
    /// `describe()`.
    Describe,
    /// `call(tool, input)`.
    Call { tool: &'a str, input: &'a str },
}

/// Why a component cannot be linked for a pack.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// An import no pack may have, or a contract version mismatch.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The component imports a capability the pack was not granted.
    #[error(
        "the component imports `helmdeck:host/{capability}@{HOST_WIT_VERSION}`, but the pack is not granted \
         `{capability}`; request it under `capabilities:` in helmdeck-pack.yaml and grant it at install"
    )]
    NotGranted { capability: Capability },
    /// A granted capability this host version does not implement yet.
    #[error("capability `{0}` is not available in this Helmdeck version")]
    Unavailable(Capability),
    /// wasmtime refused the link (type mismatch of an import).
    #[error("the component cannot be linked: {0}")]
    Wasmtime(String),
}

impl From<LinkError> for Error {
    fn from(e: LinkError) -> Self {
        let code = match e {
            LinkError::Wasmtime(_) => ErrorCode::InvalidInput,
            LinkError::Unavailable(_) => ErrorCode::InvalidInput,
            _ => ErrorCode::Unauthorized,
        };
        Error::new(code, e.to_string())
    }
}

/// The process-wide engine.
pub struct PackEngine {
    engine: Engine,
    config: EngineConfig,
    allocator: AllocatorKind,
    cache: CompiledCache,
}

impl PackEngine {
    /// Build the engine and start its epoch ticker; compiled components are
    /// cached under `cache_dir`.
    pub fn new(config: EngineConfig, cache_dir: impl Into<PathBuf>) -> crate::Result<PackEngine> {
        let (engine, allocator) = config::build_engine(&config)
            .map_err(|e| Error::internal(format!("the WebAssembly engine could not start: {e}")))?;
        ticker::start(&engine, config.epoch_tick);
        let cache = CompiledCache::new(cache_dir, &engine);
        Ok(PackEngine { engine, config, allocator, cache })
    }

    /// Which allocator is in use.
    pub fn allocator(&self) -> AllocatorKind {
        self.allocator
    }

    /// The wasmtime engine (for benchmarks and tools that compile directly).
    pub fn wasmtime(&self) -> &Engine {
        &self.engine
    }

    /// Compile `wasm` (whose digest the caller verified) or load it from the
    /// cache. CPU-heavy on a miss: runs on the blocking pool.
    pub async fn compile(&self, digest: Digest, wasm: Vec<u8>) -> crate::Result<(Component, CacheOutcome)> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        tokio::task::spawn_blocking(move || cache.load(&engine, &digest, &wasm))
            .await
            .map_err(|e| Error::internal(format!("compilation task failed: {e}")))?
            .map_err(|e| Error::invalid_input(format!("the component is not a valid WebAssembly component: {e:#}")))
    }

    /// Link `component` with WASI (no ambient authority) and exactly the
    /// capabilities in `grants`. Refuses a component importing anything else.
    pub fn link(&self, component: &Component, grants: &BTreeSet<Capability>) -> Result<LinkedPack, LinkError> {
        let imports = imports::inspect(&self.engine, component)?;
        if let Some(capability) = imports.capabilities.iter().find(|c| !grants.contains(c)) {
            return Err(LinkError::NotGranted { capability: *capability });
        }
        let mut linker: Linker<CallState> = Linker::new(&self.engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| LinkError::Wasmtime(e.to_string()))?;
        caps::add_always_linked(&mut linker)?;
        for cap in grants {
            caps::add_to_linker(*cap, &mut linker)?;
        }
        let pre = linker.instantiate_pre(component).map_err(|e| LinkError::Wasmtime(format!("{e:#}")))?;
        PackPre::new(pre).map_err(|e| LinkError::Wasmtime(format!("{e:#}")))
    }

    /// The limits a manifest asks for, clamped to the engine's maxima.
    pub fn limits(&self, requested: &Limits) -> CallLimits {
        let mb = requested.memory_mb.unwrap_or(self.config.default_memory_mb).min(self.config.max_memory_mb);
        let timeout = requested
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.config.default_timeout)
            .min(self.config.max_timeout);
        CallLimits { memory_bytes: mb as usize * (1 << 20), timeout }
    }

    /// Instantiate `pack` in a fresh store and run `op` under `limits`.
    /// Dropping the returned future cancels the call at the next epoch tick.
    pub async fn invoke(
        &self,
        pack: &LinkedPack,
        limits: CallLimits,
        caps: CapsContext,
        op: Operation<'_>,
    ) -> Invocation {
        let (state, stdout, stderr) = CallState::new(caps, limits.memory_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));

        let run = async {
            let instance = pack.instantiate_async(&mut store).await.map_err(Failure::Instantiate)?;
            let handler = instance.helmdeck_pack_handler();
            match op {
                Operation::Describe => handler.call_describe(&mut store).await.map(Ok),
                Operation::Call { tool, input } => handler.call_call(&mut store, tool, input).await,
            }
            .map_err(Failure::Trap)
        };
        let outcome = tokio::time::timeout(limits.timeout, run).await;
        let memory_hit = store.data().limiter.hit;
        let result = match outcome {
            Ok(Ok(Ok(output))) => Ok(output),
            Ok(Ok(Err(pack_error))) => Err(Error::from(pack_error)),
            Ok(Err(failure)) => Err(failure.into_error(memory_hit, limits, &stderr.captured())),
            Err(_elapsed) => Err(Error::new(
                ErrorCode::Timeout,
                format!(
                    "the pack ran past its {} ms limit and was stopped (limits.timeout_ms in helmdeck-pack.yaml)",
                    limits.timeout.as_millis()
                ),
            )),
        };
        Invocation { result, stdout: stdout.captured(), stderr: stderr.captured() }
    }
}

/// A call that did not return normally.
enum Failure {
    Instantiate(wasmtime::Error),
    Trap(wasmtime::Error),
}

impl Failure {
    fn into_error(self, memory_hit: bool, limits: CallLimits, stderr: &CapturedLog) -> Error {
        if memory_hit {
            return Error::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the pack needed more than its {} MiB memory limit (limits.memory_mb in helmdeck-pack.yaml)",
                    limits.memory_bytes >> 20
                ),
            );
        }
        match self {
            Failure::Instantiate(e) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                Error::new(ErrorCode::ResourceExhausted, "too many pack calls are running at once; retry shortly")
                    .with_retry_after_ms(100)
            }
            Failure::Instantiate(e) => Error::internal(format!("the pack could not be instantiated: {e:#}")),
            // The engine's wasm call stack (`max_wasm_stack`) ran out: a
            // limit the pack hit, like memory, not a fault of the host.
            Failure::Trap(e) if matches!(e.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::StackOverflow)) => {
                Error::new(
                    ErrorCode::ResourceExhausted,
                    "the pack ran out of stack (its calls nested deeper than the engine's wasm stack allows)",
                )
            }
            Failure::Trap(e) => {
                let last_words = stderr.text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                let trap =
                    e.downcast_ref::<wasmtime::Trap>().map(|t| t.to_string()).unwrap_or_else(|| format!("{e:#}"));
                let mut message = format!("the pack crashed: {trap}");
                if !last_words.is_empty() {
                    message.push_str(&format!(" (its last output: {last_words})"));
                }
                Error::internal(message)
            }
        }
    }
}
