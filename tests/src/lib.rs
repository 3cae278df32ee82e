//! Shared support for Helmdeck's end-to-end tests, which drive the real
//! `helmdeck` binary, real HTTP servers on 127.0.0.1 and real pack builds.

pub mod marketplace;
pub mod marketplace_bench;
