//! Shared support for Helmdeck's end-to-end tests, which drive the real
//! `helmdeck` binary: every test under `tests/tests/` and every later one
//! (browser, MCP, marketplace, git) builds on these pieces rather than
//! copying them.
//!
//! - [`prebuilt`]: the `helmdeck` binary and the packs (built-in and
//!   fixtures under `tests/fixtures/`), built once per test run;
//! - [`server`]: [`TestServer`], a real `helmdeck serve` on a free port with
//!   its own data directory and an admin token;
//! - [`cli`]: the real command line against a data directory;
//! - [`api`]: REST answers and the error-shape checks;
//! - [`http_fixture`]: [`HttpFixture`], an HTTP server on 127.0.0.1 for
//!   packs to reach;
//! - [`dns`]: [`dns::DnsRecorder`], a DNS server that records every name it
//!   is asked about, for a server started with its `resolv.conf`;
//! - [`endpoints`]: where a running server, its proxies and its browsers'
//!   DevTools listen, read from `/proc`;
//! - [`git_servers`]: `sshd` and `git http-backend` remotes, key pairs and a
//!   seeded bare repository (the code-edit loop);
//! - [`live_server`], [`loopback_http`]: a server with a REST transcript and
//!   a std-only CGI/echo server, used by the vault and code-loop tests;
//! - [`rebinding_dns`]: a DNS server that answers a name differently the
//!   second time, and a server that resolves through it;
//! - [`mcp_support`]: the MCP tests' server and the official Python MCP SDK client;
//! - [`procs`]: the machine's processes read from `/proc` (users, groups,
//!   sessions), independently of the code under test.
//! - [`fake_llm`]: fake model providers on 127.0.0.1, one per wire format
//!   (OpenAI, Anthropic, Gemini, Ollama), for the AI gateway's tests.
//!
//! A plain `cargo test -p helmdeck-tests` (or `cargo nextest run -p
//! helmdeck-tests`) is enough: what the tests need is built on first use.
//! Tests are independent: each has its own data directory and ports.

pub mod api;
pub mod browser;
pub mod cli;
pub mod dns;
pub mod endpoints;
pub mod fake_llm;
pub mod git_servers;
pub mod http_fixture;
pub mod live_server;
pub mod loopback_http;
pub mod marketplace;
pub mod marketplace_bench;
pub mod mcp_support;
pub mod prebuilt;
pub mod procs;
pub mod rebinding_dns;
pub mod server;
pub mod site;

pub use api::ApiResponse;
pub use cli::{CliOutput, Helmdeck};
pub use http_fixture::HttpFixture;
pub use prebuilt::{BuiltPack, builtin_pack, fixture_pack, helmdeck_bin};
pub use server::{DataDir, TestServer};

/// Poll `check` until it is true or 20 s pass: for a state the server
/// reaches on its own (a browser started, a record written), not a timing.
pub async fn wait_until<F, Fut>(check: F) -> anyhow::Result<bool>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..200 {
        if check().await? {
            return Ok(true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(false)
}
