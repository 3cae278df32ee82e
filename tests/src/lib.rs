//! Shared support for Helmdeck's end-to-end tests, which drive the real
//! `helmdeck` binary against real servers on 127.0.0.1.
//!
//! - [`live_server`]: the binary and packs built once per test process, a
//!   data directory with the packs installed, `helmdeck serve` on a free
//!   port, REST calls with a transcript of every answer;
//! - [`git_servers`]: `sshd` and `git http-backend` remotes, key pairs and a
//!   seeded bare repository;
//! - [`loopback_http`]: a small std-only HTTP server (CGI and echo fixtures).

pub mod git_servers;
pub mod live_server;
pub mod loopback_http;
