//! The session of one call: the one it named, or an ephemeral one made on
//! first use by a capability that needs a session (and closed after).

use super::{LiveSession, SessionSpec, Sessions};
use crate::Result;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Held in the call's capability context.
pub struct SessionSlot {
    sessions: Sessions,
    owner: String,
    named: Option<Arc<LiveSession>>,
    ephemeral: OnceCell<Arc<LiveSession>>,
}

impl SessionSlot {
    /// A slot for a call by `owner`, bound to `named` when the call named a session.
    pub fn new(sessions: Sessions, owner: &str, named: Option<Arc<LiveSession>>) -> SessionSlot {
        SessionSlot { sessions, owner: owner.to_owned(), named, ephemeral: OnceCell::new() }
    }

    /// The call's session, creating an ephemeral one on first use.
    pub async fn get(&self) -> Result<Arc<LiveSession>> {
        if let Some(s) = &self.named {
            return Ok(s.clone());
        }
        self.ephemeral
            .get_or_try_init(|| self.sessions.create(SessionSpec::default(), &self.owner, true))
            .await
            .cloned()
    }

    /// The id of the session in use, if any was named or made.
    pub fn id(&self) -> Option<String> {
        self.named.as_ref().or(self.ephemeral.get()).map(|s| s.id.clone())
    }

    /// End of the call: close the ephemeral session, if one was made.
    pub async fn release(&self) -> Result<()> {
        match self.ephemeral.get() {
            Some(s) => self.sessions.close(&s.id, "call finished").await,
            None => Ok(()),
        }
    }
}
