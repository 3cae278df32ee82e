//! `helmdeck-build`: the project's build steps, shared by `cargo xtask` and
//! the end-to-end test support so that both build exactly the same way:
//! finding the workspace and cargo's target directory, building the
//! `helmdeck` binary, and building pack crates for `wasm32-wasip2` into
//! installable pack directories (component + manifest with its digest).
//!
//! Everything here runs `cargo` as a child process and blocks until it ends.
//! It never installs anything (the wasm target, system packages): that is
//! `cargo xtask setup`'s job.

mod error;
mod packs;
mod workspace;

pub use error::BuildError;
pub use packs::{PACK_PROFILE, PACK_TARGET, PackCrate, assemble};
pub use workspace::{Progress, Workspace};
