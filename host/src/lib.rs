//! Helmdeck's control plane: a WebAssembly host that runs capability packs
//! (wasm32-wasip2 components) for AI agents, and the REST, MCP and CLI
//! surfaces in front of it.
//!
//! One folder per concern: `engine` (wasmtime), `caps` (the only place side
//! effects happen), `guard` (egress policy), `audit`, `store`, `registry`
//! (installed packs), `api` (axum routers), `cli`.

pub mod audit;
pub mod error;
pub mod store;

pub use error::{Error, ErrorCode, Result};
