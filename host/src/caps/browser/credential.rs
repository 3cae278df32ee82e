//! `page.use-credential`: vault credentials reach the page through the
//! host, never through the pack. The page's current URL is the destination
//! the vault checks against the credential's host patterns; cookies are set
//! in the session's context, logins typed into the page's form.

use super::page::SessionPage;
use crate::caps::CapsContext;
use crate::engine::wit::host::browser::{Cookie, LoginForm};
use crate::vault::{CredentialUse, Secret};
use crate::{Error, Result};
use helmdeck_marketplace::Capability;

/// Use credential `name` on `page` for the call in `caps`.
pub async fn use_credential(caps: &CapsContext, page: &SessionPage, name: &str, form: Option<LoginForm>) -> Result<()> {
    let here = page.known_url();
    let url = url::Url::parse(&here).ok().filter(|u| matches!(u.scheme(), "http" | "https")).ok_or_else(|| {
        Error::invalid_input(format!(
            "the page shows `{here}`; navigate to the site first: credential `{name}` is checked against the page's host"
        ))
    })?;
    let host = url.host_str().unwrap_or_default();
    let scope = caps.scope(Capability::Browser).credentials;
    let to = crate::vault::Destination::of_url(&url);
    let intent = CredentialUse { name, pack: &caps.call.pack, subject: &caps.call.actor, scope: &scope, to };
    // The secret wipes itself when dropped; the page gets copies.
    let secret = caps.services.vault.use_secret(&intent).await?;
    match (&secret, form) {
        (Secret::Cookies { cookies }, _) => {
            let cookies = cookies
                .iter()
                .map(|c| Cookie {
                    name: c.name.clone(),
                    value: c.value.clone(),
                    domain: if c.domain.is_empty() { host.to_owned() } else { c.domain.clone() },
                    path: c.path.clone(),
                    expires: None,
                    http_only: true,
                    secure: url.scheme() == "https",
                })
                .collect();
            page.set_cookies(cookies).await
        }
        (Secret::Login { username, password, .. }, Some(form)) => {
            page.type_text(&form.username_selector, username).await?;
            page.type_text(&form.password_selector, password).await?;
            match &form.submit_selector {
                Some(submit) => page.click(submit).await,
                None => Ok(()),
            }
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
