//! Capabilities: one module per `helmdeck:host` WIT interface, and the only
//! place the host performs side effects on a pack's behalf. Each consults
//! the guard before reaching the network and reports what it did for audit.

pub mod http;
