//! Helmdeck's control plane: a WebAssembly host that runs capability packs
//! (wasm32-wasip2 components) for AI agents, and the REST, MCP and CLI
//! surfaces in front of it.
//!
//! One folder per concern: `engine` (wasmtime), `caps` (the only place side
//! effects happen), `guard` (egress policy), `audit`, `store`, `vault`
//! (sealed credentials), `registry` (installed packs), `marketplace` (signed catalogs), `gateway` (the AI gateway),
//! `dispatch` (one call end to end), `api` (axum
//! routers: REST and MCP), `connect` (MCP client configuration), `cli`. [`app::Helmdeck`] assembles them from a [`config::Config`].

// Module docs link to the private parts they are made of; they resolve with
// `cargo doc --document-private-items`, the documentation for this crate's
// developers.
#![allow(rustdoc::private_intra_doc_links)]

pub mod api;
pub mod app;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod caps;
pub mod cli;
pub mod config;
pub mod connect;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod gateway;
pub mod guard;
pub mod marketplace;
pub mod registry;
pub mod sessions;
pub mod signed_url;
pub mod store;
pub mod vault;

pub use error::{Error, ErrorCode, Result};
