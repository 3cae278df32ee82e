#[doc(hidden)]
pub mod bindings;
