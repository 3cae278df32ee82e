//! The `helmdeck:host/http` capability: outbound HTTP(S) for packs, every
//! hop through the egress guard.

pub mod client;
mod redirect;
mod request;
#[cfg(test)]
mod tests;
