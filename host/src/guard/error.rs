//! Why the guard did not hand out a target, and how that maps onto the
//! closed error set at Helmdeck's edges.

use super::policy::ALLOWLIST_ENV;
use super::ranges::Refusal;
use crate::error::{Error, ErrorCode};
use std::fmt;
use std::net::IpAddr;

/// How many refused addresses a denial message lists before "and N more".
const LISTED_REFUSALS: usize = 4;

/// The guard's reasons for not producing a [`super::VettedTarget`].
/// Messages name the host and what to do; they never contain URL paths,
/// queries or userinfo, which may carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The URL's scheme is not `http` or `https`.
    #[error("egress to a `{scheme}:` URL is not allowed; only http and https URLs can be fetched")]
    UnsupportedScheme {
        /// The scheme that was asked for.
        scheme: String,
    },
    /// The host is not a valid host name or IP address.
    #[error("`{host}` is not a valid host name or IP address")]
    InvalidHost {
        /// The host as given.
        host: String,
    },
    /// Every address of the host is in a refused range and the allowlist
    /// opens none of them.
    #[error("{}", DeniedMessage { host, refused })]
    Denied {
        /// The host as written in the URL (a name, or an IP literal).
        host: String,
        /// Each refused address and why; never empty.
        refused: Vec<(IpAddr, Refusal)>,
    },
    /// The name did not resolve.
    #[error("could not resolve `{host}`: {reason}")]
    Resolve {
        /// The name that failed.
        host: String,
        /// What the resolver said.
        reason: String,
    },
}

impl GuardError {
    /// True when policy refused the destination, as opposed to the request
    /// being malformed or DNS failing; audit records use it as the decision.
    pub fn is_denial(&self) -> bool {
        matches!(self, GuardError::Denied { .. } | GuardError::UnsupportedScheme { .. })
    }
}

/// The one conversion from guard errors to the edge error: policy refusals
/// are `egress_denied` (with the refused addresses as details), a malformed
/// host is `invalid_input`, DNS failure is `network_error`.
impl From<GuardError> for Error {
    fn from(err: GuardError) -> Self {
        let message = err.to_string();
        match err {
            GuardError::UnsupportedScheme { .. } => Error::new(ErrorCode::EgressDenied, message),
            GuardError::InvalidHost { .. } => Error::invalid_input(message),
            GuardError::Resolve { .. } => Error::new(ErrorCode::NetworkError, message),
            GuardError::Denied { host, refused } => {
                let refused: Vec<_> = refused
                    .iter()
                    .map(|(ip, why)| serde_json::json!({ "address": ip, "reason": why.as_str() }))
                    .collect();
                Error::new(ErrorCode::EgressDenied, message)
                    .with_details(serde_json::json!({ "host": host, "refused": refused }))
            }
        }
    }
}

/// "egress to `h` denied: ...; add `h` to HELMDECK_EGRESS_ALLOWLIST ...".
struct DeniedMessage<'a> {
    host: &'a str,
    refused: &'a [(IpAddr, Refusal)],
}

impl fmt::Display for DeniedMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The allowlist spells IPv6 without the URL's brackets.
        let entry = self.host.trim_start_matches('[').trim_end_matches(']');
        let literal = entry.parse::<IpAddr>().is_ok();
        write!(f, "egress to `{}` denied: ", self.host)?;
        match (literal, self.refused) {
            (true, [(_, why), ..]) => {
                let article = if why.as_str().starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                write!(f, "it is {article} {why} address")?;
            }
            (_, refused) => {
                f.write_str("it resolves only to refused addresses: ")?;
                for (i, (ip, why)) in refused.iter().take(LISTED_REFUSALS).enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{ip} ({why})")?;
                }
                if refused.len() > LISTED_REFUSALS {
                    write!(f, " and {} more", refused.len() - LISTED_REFUSALS)?;
                }
            }
        }
        write!(f, "; add `{entry}` to {ALLOWLIST_ENV} if it is meant to be reachable")
    }
}
