//! The precompiled-component cache: compile once at install, deserialize in
//! well under a millisecond at every later load.
//!
//! Entries are keyed by the component's SHA-256 and the engine's
//! compatibility hash, so a wasmtime upgrade or a different CPU feature set
//! misses the cache instead of loading incompatible code. The directory
//! must be writable only by Helmdeck: deserializing trusts its contents.

use helmdeck_marketplace::Digest;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled components live (`<data-dir>/cache/components`).
#[derive(Debug, Clone)]
pub struct CompiledCache {
    dir: PathBuf,
    engine_key: String,
}

/// Whether a load found a cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialized from the cache.
    Hit,
    /// Compiled now (and stored for next time).
    Compiled,
}

impl CompiledCache {
    /// A cache in `dir` for components compiled by `engine`.
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        CompiledCache { dir: dir.into(), engine_key: format!("{:016x}", hasher.finish()) }
    }

    /// The component for `wasm` (whose digest the caller has verified),
    /// from the cache or compiled now. Blocking and CPU-heavy on a miss:
    /// call it off the async runtime.
    pub fn load(&self, engine: &Engine, digest: &Digest, wasm: &[u8]) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.path(digest);
        if path.exists() {
            // SAFETY: the file was written by `precompile_component` of an engine
            // with the same compatibility hash (it is in the file name) into a
            // directory only Helmdeck writes; wasmtime re-checks compatibility.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, CacheOutcome::Hit)),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "discarding unusable cache entry"),
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        self.store(&path, &compiled);
        // SAFETY: `compiled` was produced by this engine just now.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, CacheOutcome::Compiled))
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// Write atomically (temp file + rename) so a crash never leaves a torn
    /// entry; a failed write only costs a recompile next time.
    fn store(&self, path: &Path, bytes: &[u8]) {
        let result = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, path)
        });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not store the compiled component");
        }
    }
}
