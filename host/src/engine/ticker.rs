//! The epoch ticker: a thread that advances the engine's epoch at a fixed
//! interval, so running packs periodically yield to the async runtime. That
//! yield is what lets deadlines and cancellation stop a pack stuck in a loop.

use std::time::Duration;
use wasmtime::Engine;

/// Start the ticker. It holds only a weak reference and exits once the
/// engine is dropped.
pub fn start(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("helmdeck-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(tick);
        }
    });
    if let Err(e) = spawned {
        // Without a ticker packs still run but cannot be interrupted; say so loudly.
        tracing::error!(error = %e, "could not start the epoch ticker; pack timeouts will not interrupt busy loops");
    }
}
