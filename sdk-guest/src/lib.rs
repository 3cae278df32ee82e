//! `helmdeck-sdk`: write a Helmdeck capability pack in plain Rust.
//!
//! A pack is a crate built with `cargo build --target wasm32-wasip2`: input and
//! output types derive `serde` + `schemars`, each tool is one function, and one
//! [`pack!`] invocation generates `describe`, the JSON glue and the component
//! export. Capabilities have idiomatic wrappers here (`http`, `artifacts`,
//! `browser`, `fs`, `git`, `exec`, `vault`); a component imports only the capabilities
//! its code calls, and the host refuses it unless its manifest requests them.
//! [`progress`] needs no capability.
//!
//! ```ignore
//! use helmdeck_sdk::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Input { /** The URL to read. */ url: String }
//!
//! #[derive(Serialize, JsonSchema)]
//! struct Output { status: u16 }
//!
//! helmdeck_sdk::pack! {
//!     name: "probe";
//!     /// Report the HTTP status of a URL.
//!     fn status(input: Input) -> ToolResult<Output> {
//!         Ok(Output { status: http::Request::get(&input.url).send()?.status })
//!     }
//! }
//! ```

#[doc(hidden)]
pub mod bindings;

pub mod artifacts;
pub mod browser;
mod describe;
mod error;
pub mod exec;
pub mod fs;
pub mod git;
pub mod http;
mod pack;
pub mod progress;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod vault;

pub use describe::{PackDescription, ToolDescription};
pub use error::{ErrorCode, ToolError, ToolResult};
pub use pack::{PackDefinition, ToolReturn};
#[doc(hidden)]
pub use pack::{dispatch as __dispatch, unknown_tool as __unknown_tool};

/// Re-exported for convenience; a pack still depends on `serde` (with
/// `derive`) and `schemars` itself, because their derive macros name those
/// crates directly.
pub use schemars;
pub use serde;
pub use serde_json;

/// Everything a pack usually needs: `use helmdeck_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::{PackDefinition, ToolError, ToolResult, artifacts, browser, exec, fs, git, http, progress, vault};
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}
