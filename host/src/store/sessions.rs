//! The session record: what the store keeps about a session.

use super::{StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// Whether a session can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Active,
    Closed,
}

impl SessionState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Active => "active",
            SessionState::Closed => "closed",
        }
    }

    /// Parse a stored name.
    pub fn parse(name: &str) -> Option<SessionState> {
        match name {
            "active" => Some(SessionState::Active),
            "closed" => Some(SessionState::Closed),
            _ => None,
        }
    }
}

/// One session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Opaque identifier (`_session_id` in tool inputs).
    pub id: String,
    /// The token subject that created it; only it may use the session.
    pub owner: String,
    pub state: SessionState,
    /// Made for a single call and closed after it.
    pub ephemeral: bool,
    /// The options it was created with (JSON of `sessions::SessionSpec`).
    pub spec: serde_json::Value,
    /// Calls made in it so far.
    pub tasks: u32,
    pub created_at: Timestamp,
    /// When the watchdog closes it.
    pub expires_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// Why it closed (`deleted`, `expired`, `task limit`, `host restarted`, ...).
    pub close_reason: Option<String>,
}

impl SessionRecord {
    /// Refuse a record that could not be read back.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.id.is_empty() {
            return Err(StoreError::invalid("id", "a session needs a non-empty id"));
        }
        if self.owner.is_empty() {
            return Err(StoreError::invalid("owner", "a session needs an owner"));
        }
        Ok(())
    }
}
