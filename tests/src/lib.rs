//! Shared support for Helmdeck's end-to-end tests, which drive the real
//! `helmdeck` binary, real packs and independent clients.

pub mod mcp_support;
