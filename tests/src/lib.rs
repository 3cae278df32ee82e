//! Shared test support and end-to-end tests for Helmdeck.
//!
//! `browser` and `site` support the browser tests (`tests/browser.rs`):
//! the real `helmdeck serve` with the browser packs, and the fixture site.

pub mod browser;
pub mod site;
