//! Cookies of a page's context, in the WIT record shape.

use super::page::SessionPage;
use crate::engine::wit::host::browser::Cookie;
use crate::{Error, Result};
use chromiumoxide::cdp::browser_protocol::network::{CookieParam, GetCookiesParams, SetCookiesParams, TimeSinceEpoch};

impl SessionPage {
    /// Cookies visible to the page's current URL.
    pub async fn cookies(&self) -> Result<Vec<Cookie>> {
        let found = self.exchange("read cookies", self.cdp_page()?.execute(GetCookiesParams::default())).await?;
        Ok(found
            .result
            .cookies
            .into_iter()
            .map(|c| Cookie {
                name: c.name,
                value: c.value,
                domain: c.domain,
                path: c.path,
                expires: (!c.session && c.expires > 0.0).then_some(c.expires),
                http_only: c.http_only,
                secure: c.secure,
            })
            .collect())
    }

    /// Set cookies in the page's context. A cookie without a domain is set
    /// for the page's current URL, which must then be an http(s) page.
    pub async fn set_cookies(&self, cookies: Vec<Cookie>) -> Result<()> {
        let here = self.known_url();
        let mut params = Vec::with_capacity(cookies.len());
        for c in cookies {
            if c.name.is_empty() {
                return Err(Error::invalid_input("every cookie needs a `name`"));
            }
            let url = if c.domain.is_empty() {
                if !here.starts_with("http") {
                    return Err(Error::invalid_input(format!(
                        "cookie `{}` has no `domain` and the page shows no http(s) URL; give a domain or navigate first",
                        c.name
                    )));
                }
                Some(here.clone())
            } else {
                None
            };
            params.push(CookieParam {
                name: c.name,
                value: c.value,
                url,
                domain: (!c.domain.is_empty()).then_some(c.domain),
                path: Some(if c.path.is_empty() { "/".to_owned() } else { c.path }),
                secure: Some(c.secure),
                http_only: Some(c.http_only),
                expires: c.expires.map(TimeSinceEpoch::new),
                ..CookieParam::new("", "")
            });
        }
        self.exchange("set cookies", self.cdp_page()?.execute(SetCookiesParams::new(params))).await.map(drop)
    }
}
