//! A page that holds a credential cannot be read. Masking the plain value
//! in what a page returns is not a boundary: a pack's script can return it
//! base64-encoded, reversed or split into characters, throw it, or a GET
//! login form can put it, URL-encoded, in the next page's address. So the
//! mechanism is custody, not filtering:
//!
//! - **Sealing.** Once `use-credential` has typed a login into a page, the
//!   page is *sealed*: every read (`location`, `content`, `text`, `query`,
//!   `evaluate`, `wait-for` a text or an expression, `cookies`,
//!   `screenshot`, `pdf`) answers `unauthorized`, whatever document the
//!   page shows next (the site's answer to the form echoes it, or carries
//!   it in its URL). Acting on the page stays possible (click, type, press,
//!   select, scroll, and waiting for an element, which says only whether it
//!   exists), without attribute-value selectors (`[value^=a]`, whose match
//!   or miss would answer questions about the page). A `cookies` credential stays in the
//!   session's context, where any page could show it back (a site that
//!   echoes its cookies, framed and screenshotted), so it seals the whole
//!   session for as long as the session lives.
//! - **Unsealing.** A page is unsealed when the pack navigates it to a new
//!   document: the navigation history is then reset (no way back to the
//!   answer page, and the back/forward cache is off in the browser), and
//!   the page must still show the document that navigation loaded. A
//!   sealed tab is never kept for the session's next call.
//! - **Clean pages only.** A credential is typed only into a page the pack
//!   has not run its own script in since it loaded (`evaluate`, a
//!   `wait-for` expression), so no script of the pack's can rewrite the
//!   form's destination or listen to the fields; the windows the
//!   session's pages opened (whose scripts could reach the page through
//!   `opener`) are closed first.

use super::page::SessionPage;
use crate::{Error, Result};
use chromiumoxide::cdp::browser_protocol::network::LoaderId;
use chromiumoxide::cdp::browser_protocol::page::{FrameId, GetFrameTreeParams, ResetNavigationHistoryParams};
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

/// What an operation does with the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// It returns something of the page (refused while sealed).
    Read,
    /// It acts on the page and returns nothing of it.
    Act,
}

impl SessionPage {
    /// The credential whose value the page (or the session's context)
    /// holds, if any.
    pub fn sealed_by(&self) -> Option<String> {
        let page = self.sealed.lock().unwrap_or_else(PoisonError::into_inner).clone();
        page.or_else(|| self.session.sealed_by())
    }

    /// Refuse `access` where it would reveal a credential; `selector` is
    /// the selector an action names.
    pub fn check_access(&self, access: Access, selector: Option<&str>) -> Result<()> {
        let Some(name) = self.sealed_by() else { return Ok(()) };
        match access {
            Access::Read => Err(Error::unauthorized(format!(
                "the page holds credential `{name}`, so it cannot be read; navigate to a new page first \
                 (a credential's session cookies keep the whole session unreadable)"
            ))),
            Access::Act if selector.is_some_and(|s| s.contains('=')) => Err(Error::unauthorized(format!(
                "the page holds credential `{name}`: attribute-value selectors (`[attr=…]`) are refused \
                 until the pack navigates to a new page"
            ))),
            Access::Act => Ok(()),
        }
    }

    /// The page now holds credential `name`.
    pub(super) fn seal(&self, name: &str) {
        *self.sealed.lock().unwrap_or_else(PoisonError::into_inner) = Some(name.to_owned());
    }

    /// The credential sealing the page itself (not its session), if any.
    pub(super) fn page_seal(&self) -> Option<String> {
        self.sealed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Put back what [`SessionPage::page_seal`] said (a use that typed nothing).
    pub(super) fn restore_seal(&self, seal: Option<String>) {
        *self.sealed.lock().unwrap_or_else(PoisonError::into_inner) = seal;
    }

    /// Whether the page itself is sealed: then its tab is not kept for the
    /// next call.
    pub(super) fn is_sealed(&self) -> bool {
        self.page_seal().is_some()
    }

    /// The pack is about to run its own script in the page.
    pub fn mark_scripted(&self) {
        self.scripted.store(true, Ordering::Release);
    }

    /// `unauthorized` when the pack has scripted the page's document.
    pub fn check_unscripted(&self, name: &str) -> Result<()> {
        if self.scripted.load(Ordering::Acquire) {
            return Err(Error::unauthorized(format!(
                "the pack ran its own script in this page, which could redirect or read the form; navigate to the \
                 page again and use credential `{name}` before running scripts"
            )));
        }
        Ok(())
    }

    /// After the pack's navigation loaded the document `loaded` (none for a
    /// same-document navigation): the page no longer shows anything the pack
    /// scripted and, when it was sealed, is unsealed if it still shows that
    /// document, with its history reset so nothing leads back. Returns an
    /// error when it stays sealed.
    pub(super) async fn fresh_document(&self, loaded: Option<&LoaderId>) -> Result<()> {
        let Some(loaded) = loaded else { return self.check_access(Access::Read, None) };
        self.scripted.store(false, Ordering::Release);
        if !self.is_sealed() {
            return Ok(());
        }
        self.exchange("reset the history", self.cdp_page()?.execute(ResetNavigationHistoryParams::default())).await?;
        let (_, current) = self.main_frame().await?;
        if current == *loaded {
            *self.sealed.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        self.check_access(Access::Read, None)
    }

    /// The main frame and the document it shows, from the browser.
    pub(super) async fn main_frame(&self) -> Result<(FrameId, LoaderId)> {
        let tree =
            self.exchange("read the frame tree", self.cdp_page()?.execute(GetFrameTreeParams::default())).await?;
        let frame = tree.result.frame_tree.frame;
        Ok((frame.id, frame.loader_id))
    }
}
