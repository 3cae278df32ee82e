//! `page.use-credential`: vault credentials reach the page through the
//! host, never through the pack, and only the page's *current* document
//! decides where they go. The host opens an isolated world (a JavaScript
//! context of its own, which the page's scripts cannot see or tamper with)
//! in the document the main frame shows, reads its URL there, and checks
//! that URL with the vault. A login is then typed in that same world, in
//! one task that first checks the document's URL again: if a script, a
//! refresh or a click has replaced the document meanwhile, the world is gone
//! with it and nothing is typed. Cookies are set for the checked URL's
//! host. Afterwards the page (a cookie jar: the session) is sealed
//! ([`super::seal`]).

use super::page::SessionPage;
use super::scripts;
use crate::caps::CapsContext;
use crate::engine::wit::host::browser::{Cookie, LoginForm};
use crate::vault::{CredentialUse, Destination, Secret};
use crate::{Error, ErrorCode, Result};
use chromiumoxide::cdp::browser_protocol::page::CreateIsolatedWorldParams;
use chromiumoxide::cdp::js_protocol::runtime::{CallArgument, CallFunctionOnParams, ExecutionContextId};
use helmdeck_marketplace::Capability;
use serde_json::Value;

/// Use credential `name` on `page` for the call in `caps`.
pub async fn use_credential(caps: &CapsContext, page: &SessionPage, name: &str, form: Option<LoginForm>) -> Result<()> {
    page.check_unscripted(name)?;
    let world = IsolatedWorld::open(page).await?;
    let here = world.href(page).await?;
    let url = url::Url::parse(&here).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
        Error::invalid_input(format!(
            "the page shows `{here}`; navigate to the site first: credential `{name}` is checked against the page's site"
        ))
    })?;
    let host = url.host_str().unwrap_or_default();
    let scope = caps.scope(Capability::Browser).credentials;
    let to = Destination::of_url(&url);
    let intent = CredentialUse { name, pack: &caps.call.pack, subject: &caps.call.actor, scope: &scope, to };
    // The secret wipes itself when dropped; the page gets copies.
    let secret = caps.services.vault.use_secret(&intent).await?;
    match (&secret, form) {
        (Secret::Cookies { cookies }, _) => {
            let mut jar = Vec::with_capacity(cookies.len());
            for c in cookies {
                let domain = c.domain.trim_start_matches('.').to_ascii_lowercase();
                if !domain.is_empty() && host != domain && !host.ends_with(&format!(".{domain}")) {
                    return Err(Error::unauthorized(format!(
                        "credential `{name}` has a cookie for `{}`, which the page's host `{host}` is not within; \
                         nothing was set",
                        c.domain
                    )));
                }
                jar.push(Cookie {
                    name: c.name.clone(),
                    value: c.value.clone(),
                    domain: if domain.is_empty() { host.to_owned() } else { domain },
                    path: c.path.clone(),
                    expires: None,
                    http_only: true,
                    secure: url.scheme() == "https",
                });
            }
            page.session.seal(name);
            page.set_cookies(jar).await
        }
        (Secret::Login { username, password, .. }, Some(form)) => {
            // A window the session's pages opened could reach this page
            // through `opener` and read the fields.
            page.session.context().close_popups().await;
            let args = [
                Value::from(here.as_str()),
                form.username_selector.as_str().into(),
                form.password_selector.as_str().into(),
                username.as_str().into(),
                password.as_str().into(),
                form.submit_selector.as_deref().map_or(Value::Null, Value::from),
            ];
            // Sealed before typing: a failure of unknown extent leaves it sealed.
            let before = page.page_seal();
            page.seal(name);
            let typed = world.call(page, scripts::FILL_LOGIN, &args).await.and_then(|answer| answer_of(answer, name));
            if let Err(e) = &typed
                && nothing_typed(e)
            {
                page.restore_seal(before);
            }
            typed
        }
        (Secret::Login { .. }, None) => Err(Error::invalid_input(format!(
            "credential `{name}` is a login: give `form` with the username and password selectors"
        ))),
        (other, _) => Err(Error::invalid_input(format!(
            "credential `{name}` is a `{}` credential; the browser takes `cookies` and `login` credentials",
            other.kind().as_str()
        ))),
    }
}

/// Errors after which no field holds anything: the page moved on, or the
/// form was not as the pack said.
fn nothing_typed(e: &Error) -> bool {
    matches!(e.code, ErrorCode::Unauthorized | ErrorCode::NotFound | ErrorCode::InvalidInput)
}

/// Unwrap [`scripts::FILL_LOGIN`]'s `{ok}` / `{err}` answer.
fn answer_of(answer: Value, name: &str) -> Result<()> {
    if answer.get("ok").is_some() {
        return Ok(());
    }
    let message = answer["message"].as_str().unwrap_or("the form could not be filled").to_owned();
    Err(match answer["err"].as_str() {
        Some("moved") => Error::unauthorized(format!("{message}; credential `{name}` was not typed")),
        Some("not_found") => Error::not_found(format!("{message}; nothing was typed")),
        _ => Error::invalid_input(format!("{message}; nothing was typed")),
    })
}

/// A JavaScript context of the host's own in the document the page's main
/// frame showed when it was opened; it goes away with that document.
struct IsolatedWorld(ExecutionContextId);

impl IsolatedWorld {
    async fn open(page: &SessionPage) -> Result<IsolatedWorld> {
        let (frame, _) = page.main_frame().await?;
        let params = CreateIsolatedWorldParams::builder()
            .frame_id(frame)
            .world_name("helmdeck-credential")
            .build()
            .map_err(|e| Error::internal(format!("isolated world parameters: {e}")))?;
        let made = page.exchange("open an isolated world", page.cdp_page()?.execute(params)).await?;
        Ok(IsolatedWorld(made.result.execution_context_id))
    }

    /// The URL of the world's document, read inside it.
    async fn href(&self, page: &SessionPage) -> Result<String> {
        let href = self.call(page, "function () { return location.href; }", &[]).await?;
        Ok(href.as_str().unwrap_or_default().to_owned())
    }

    /// Call `function` with `args` in the world; a world whose document
    /// was replaced is `unauthorized` (the page left the checked site).
    async fn call(&self, page: &SessionPage, function: &str, args: &[Value]) -> Result<Value> {
        let arguments = args.iter().map(|v| CallArgument { value: Some(v.clone()), ..CallArgument::default() });
        let params = CallFunctionOnParams::builder()
            .function_declaration(function)
            .execution_context_id(self.0)
            .arguments(arguments.collect::<Vec<_>>())
            .return_by_value(true)
            .build()
            .map_err(|e| Error::internal(format!("call parameters: {e}")))?;
        let reply = match tokio::time::timeout(super::page::OP_TIMEOUT, page.cdp_page()?.execute(params)).await {
            Ok(Ok(reply)) => reply.result,
            Ok(Err(e)) if e.to_string().contains("context") => {
                return Err(Error::unauthorized(
                    "the page left the document the credential was checked for (a script, a refresh or a click \
                     moved it); nothing was typed",
                ));
            }
            Ok(Err(e)) => return Err(page.session.context().failure("fill the form", e)),
            Err(_) => return Err(Error::new(ErrorCode::Timeout, "the page did not answer in time; nothing was typed")),
        };
        if reply.exception_details.is_some() {
            return Err(Error::internal("the host's form script failed in the page"));
        }
        Ok(reply.result.value.unwrap_or(Value::Null))
    }
}
