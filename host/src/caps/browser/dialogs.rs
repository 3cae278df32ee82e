//! JavaScript dialogs. With the Page domain enabled, `alert()`, `confirm()`,
//! `prompt()` and a `beforeunload` prompt stall the page until a client
//! answers them over CDP: every later script and navigation on the page would
//! wait for its deadline. Nobody sits in front of a session's browser, so each
//! page answers its own dialogs as they open, the way browsers under
//! automation usually do: alerts and leave-page prompts are accepted (so a
//! navigation can proceed), confirmations and prompts are dismissed (no
//! action is confirmed on the pack's behalf).

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::page::{
    DialogType, EventJavascriptDialogOpening, HandleJavaScriptDialogParams,
};
use futures::StreamExt;

/// Answer every dialog `page` opens, for as long as the page lives.
pub async fn answer_dialogs(page: &Page) -> chromiumoxide::Result<()> {
    let mut opened = page.event_listener::<EventJavascriptDialogOpening>().await?;
    let page = page.clone();
    tokio::spawn(async move {
        while let Some(dialog) = opened.next().await {
            let accept = matches!(dialog.r#type, DialogType::Alert | DialogType::Beforeunload);
            tracing::debug!(kind = ?dialog.r#type, accept, "answered a JavaScript dialog");
            if let Err(e) = page.execute(HandleJavaScriptDialogParams::new(accept)).await {
                tracing::debug!(error = %e, "could not answer a JavaScript dialog");
            }
        }
    });
    Ok(())
}
