//! Host-side bindings for the `helmdeck:pack/pack` world, generated from
//! `wit/`. Every import is async: capabilities do I/O (HTTP, files, CDP)
//! without blocking the runtime, and a pack's calls into them are awaited.

wasmtime::component::bindgen!({
    path: ["../wit/host", "../wit/pack"],
    world: "helmdeck:pack/pack",
    imports: { default: async },
    exports: { default: async },
    with: { "helmdeck:host/browser.page": crate::caps::browser::PageHandle },
});

pub use self::helmdeck::host::types::{Error as WitError, ErrorCode as WitErrorCode};

impl From<crate::Error> for WitError {
    fn from(e: crate::Error) -> Self {
        WitError {
            code: e.code.into(),
            message: e.message,
            retry_after_ms: e.retry_after_ms,
            details: e.details.map(|d| d.to_string()),
        }
    }
}

impl From<WitError> for crate::Error {
    fn from(e: WitError) -> Self {
        crate::Error {
            code: e.code.into(),
            message: e.message,
            // A pack's details are JSON by contract; keep non-JSON as a string.
            details: e.details.map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
            retry_after_ms: e.retry_after_ms,
        }
    }
}

impl From<crate::ErrorCode> for WitErrorCode {
    fn from(code: crate::ErrorCode) -> Self {
        use crate::ErrorCode as C;
        match code {
            C::InvalidInput => WitErrorCode::InvalidInput,
            C::Unauthorized => WitErrorCode::Unauthorized,
            C::AuthFailed => WitErrorCode::AuthFailed,
            C::NotFound => WitErrorCode::NotFound,
            C::RateLimited => WitErrorCode::RateLimited,
            C::Timeout => WitErrorCode::Timeout,
            C::NetworkError => WitErrorCode::NetworkError,
            C::EgressDenied => WitErrorCode::EgressDenied,
            C::SchemaMismatch => WitErrorCode::SchemaMismatch,
            C::SessionUnavailable => WitErrorCode::SessionUnavailable,
            C::ResourceExhausted => WitErrorCode::ResourceExhausted,
            C::InternalError => WitErrorCode::InternalError,
        }
    }
}

impl From<WitErrorCode> for crate::ErrorCode {
    fn from(code: WitErrorCode) -> Self {
        use crate::ErrorCode as C;
        match code {
            WitErrorCode::InvalidInput => C::InvalidInput,
            WitErrorCode::Unauthorized => C::Unauthorized,
            WitErrorCode::AuthFailed => C::AuthFailed,
            WitErrorCode::NotFound => C::NotFound,
            WitErrorCode::RateLimited => C::RateLimited,
            WitErrorCode::Timeout => C::Timeout,
            WitErrorCode::NetworkError => C::NetworkError,
            WitErrorCode::EgressDenied => C::EgressDenied,
            WitErrorCode::SchemaMismatch => C::SchemaMismatch,
            WitErrorCode::SessionUnavailable => C::SessionUnavailable,
            WitErrorCode::ResourceExhausted => C::ResourceExhausted,
            WitErrorCode::InternalError => C::InternalError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_survives_the_wit_boundary() {
        for code in crate::ErrorCode::ALL {
            let wit: WitErrorCode = code.into();
            assert_eq!(crate::ErrorCode::from(wit), code);
        }
    }
}
