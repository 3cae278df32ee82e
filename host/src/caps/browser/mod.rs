//! `helmdeck:host/browser`: real Chromium pages for packs. A `page`
//! resource lives in the call's resource table (the same table WASI uses,
//! reached through [`BrowserView`], which pairs it with the call's
//! [`CapsContext`]); its browser context belongs to the call's session
//! ([`session`]), and its traffic goes through the session's guarded proxy
//! ([`proxy`]). Every method is audited as `browser.<method>` with the page
//! URL. Vault credentials reach pages only through `use-credential`
//! ([`credential`]), only into the page's current document on the
//! credential's site; a page holding one cannot be read until the pack
//! navigates it to a fresh document ([`seal`]). Text a page hands back has
//! vault values masked besides.

mod capture;
mod cookies;
mod credential;
mod dialogs;
mod page;
pub mod proxy;
mod scripts;
mod seal;
mod session;

pub use page::SessionPage;
pub use session::{BrowserService, SessionBrowser};

use super::{CapabilityAudit, CapsContext};
use crate::engine::CallState;
use crate::engine::wit::host::browser::{
    Cookie, Host, HostPage, Image, ImageFormat, LoginForm, NavigateOptions, Navigation, PaperFormat, PdfOptions,
    ScreenshotOptions, Viewport, WaitCondition, WaitUntil,
};
use crate::engine::wit::host::types::Error as WitError;
use crate::{Error, ErrorCode, Result};
use capture::{Paper, Shot};
use seal::Access;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{HasData, Resource, ResourceTable};

/// What the browser capability sees of a call: its context and its
/// resource table.
pub struct BrowserView<'a> {
    pub caps: &'a mut CapsContext,
    pub table: &'a mut ResourceTable,
}

/// A page as the guest's resource table holds it (shared with the
/// operation running on it, so no borrow of the table spans an await).
pub struct PageHandle(pub Arc<SessionPage>);

/// One page operation in progress: its start and its audit record (written
/// by [`BrowserView::finish`], or by the call's cleanup if the operation is
/// cut off with its call, which also closes the page).
struct Operation {
    started: Instant,
    record: CapabilityAudit,
}

impl Operation {
    /// Operation `method` of `caps`'s call on `page`, showing `url`, starting now.
    fn start(caps: &CapsContext, method: &str, page: &SessionPage, url: String) -> Operation {
        let started = Instant::now();
        page.started();
        Operation { started, record: CapabilityAudit::start(caps, &format!("browser.{method}"), Some(url), started) }
    }

    /// The operation on `page` ran to its end: its record, to write.
    fn ended(self, page: &SessionPage) -> CapabilityAudit {
        page.ended();
        self.record
    }
}

/// The [`HasData`] marker that links `browser` with a [`BrowserView`].
pub struct BrowserData;

impl HasData for BrowserData {
    type Data<'a> = BrowserView<'a>;
}

/// The linker getter for [`BrowserData`].
pub fn view(state: &mut CallState) -> BrowserView<'_> {
    BrowserView { caps: &mut state.caps, table: &mut state.table }
}

impl Host for BrowserView<'_> {}

impl BrowserView<'_> {
    /// The page behind `page`.
    fn handle(&self, page: &Resource<PageHandle>) -> Result<Arc<SessionPage>, WitError> {
        let handle = self.table.get(page).map_err(|e| Error::internal(format!("unknown page handle: {e}")))?;
        Ok(handle.0.clone())
    }

    /// Start operation `method` on `page`: the page, blank if an earlier
    /// call left it showing its document, and the operation for
    /// [`BrowserView::finish`]. `access` (with the `selector` an action
    /// names) is refused on a page that holds a credential. A failure here
    /// is audited as the operation's.
    async fn begin(
        &mut self,
        method: &'static str,
        page: &Resource<PageHandle>,
        access: Access,
        selector: Option<&str>,
    ) -> Result<(Arc<SessionPage>, Operation), WitError> {
        let p = self.handle(page)?;
        let op = Operation::start(self.caps, method, &p, p.known_url());
        let ready = match p.settle().await {
            Ok(()) => p.check_access(access, selector),
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            return self.finish(op, &p, Err(e)).await;
        }
        Ok((p, op))
    }

    /// `text` with every vault value masked.
    fn mask(&self, text: &str) -> String {
        self.caps.services.vault.mask(text)
    }

    /// Write one audit record `browser.<method>` with the page's URL
    /// (after the operation, so a navigation records where it landed).
    async fn finish<T>(&mut self, op: Operation, page: &SessionPage, result: Result<T>) -> Result<T, WitError> {
        self.finish_naming(op, page, result, None).await
    }

    /// [`BrowserView::finish`], with `name` (what the operation used) under
    /// `details.name`.
    async fn finish_naming<T>(
        &mut self,
        op: Operation,
        page: &SessionPage,
        result: Result<T>,
        name: Option<&str>,
    ) -> Result<T, WitError> {
        // Windows the page opened beyond the session's cap were closed meanwhile: say so.
        let result = match (result, page.session.context().page_overflow()) {
            (Ok(_), Some(overflow)) => Err(overflow),
            (result, _) => result,
        };
        let mut entry = op.ended(page);
        entry.target = Some(page.known_url());
        if let Err(e) = &result {
            entry = entry.failed(e);
        }
        if let Some(name) = name {
            entry.details.get_or_insert_with(|| serde_json::json!({}))["name"] = name.into();
        }
        self.caps.audit(entry).await?;
        result.map_err(Into::into)
    }
}

/// Check a URL a pack wants to open: absolute `http(s)` only, past the guard.
async fn vet_url(service: &BrowserService, raw: &str) -> Result<url::Url> {
    let url =
        url::Url::parse(raw).map_err(|e| Error::invalid_input(format!("`url` `{raw}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::invalid_input(format!(
            "`url` must be an http:// or https:// URL; `{}:` URLs cannot be opened",
            url.scheme()
        )));
    }
    service.guard().vet(&url).await?;
    Ok(url)
}

fn wait_time(ms: Option<u32>) -> Duration {
    ms.map_or(page::DEFAULT_WAIT, |ms| Duration::from_millis(u64::from(ms.max(1)))).min(page::MAX_WAIT)
}

impl HostPage for BrowserView<'_> {
    async fn open(&mut self) -> Result<Resource<PageHandle>, WitError> {
        let started = Instant::now();
        let mut entry = CapabilityAudit::start(self.caps, "browser.open", Some("about:blank".to_owned()), started);
        let opened = async {
            let session = self.caps.session.get().await?;
            let browser = self.caps.services.browser.attach(&session, &self.caps.call).await?;
            SessionPage::open(browser, self.caps.call.cleanup.clone()).await
        }
        .await;
        if let Err(e) = &opened {
            entry = entry.failed(e);
        }
        entry.details = Some(serde_json::json!({ "session": self.caps.session.id() }));
        self.caps.audit(entry).await?;
        let handle = opened?;
        self.table
            .push(PageHandle(Arc::new(handle)))
            .map_err(|e| Error::new(ErrorCode::ResourceExhausted, format!("too many pages: {e}")).into())
    }

    async fn navigate(
        &mut self,
        page: Resource<PageHandle>,
        url: String,
        options: NavigateOptions,
    ) -> Result<Navigation, WitError> {
        let service = self.caps.services.browser.clone();
        let p = self.handle(&page)?;
        let op = Operation::start(self.caps, "navigate", &p, url.clone());
        let checked = vet_url(&service, &url).await;
        let target = match checked {
            Ok(u) => u,
            Err(e) => {
                self.caps.audit(op.ended(&p).failed(&e)).await?;
                return Err(e.into());
            }
        };
        let idle = options.wait_until == WaitUntil::NetworkIdle;
        let timeout = wait_time(options.timeout_ms);
        // A navigation replaces whatever an earlier call left on the page.
        let result = p.navigate(&target, idle, options.selector.as_deref(), timeout).await;
        let landed = self.finish(op, &p, result).await?;
        Ok(Navigation { url: landed.url, status: landed.status, title: landed.title })
    }

    async fn location(&mut self, page: Resource<PageHandle>) -> Result<Navigation, WitError> {
        let (p, op) = self.begin("location", &page, Access::Read, None).await?;
        let result = p.location().await;
        let at = self.finish(op, &p, result).await?;
        Ok(Navigation { url: at.url, status: None, title: at.title })
    }

    async fn screenshot(&mut self, page: Resource<PageHandle>, options: ScreenshotOptions) -> Result<Image, WitError> {
        let shot = Shot {
            format: match options.format {
                ImageFormat::Png => capture::ImageFormat::Png,
                ImageFormat::Jpeg => capture::ImageFormat::Jpeg,
                ImageFormat::Webp => capture::ImageFormat::Webp,
            },
            quality: options.quality,
            full_page: options.full_page,
            selector: options.selector.as_deref(),
        };
        let (p, op) = self.begin("screenshot", &page, Access::Read, None).await?;
        let result = capture::screenshot(&p, &shot).await;
        let image = self.finish(op, &p, result).await?;
        Ok(Image { data: image.data, width: image.width, height: image.height })
    }

    async fn content(&mut self, page: Resource<PageHandle>) -> Result<String, WitError> {
        let (p, op) = self.begin("content", &page, Access::Read, None).await?;
        let result = p.content().await.map(|t| self.mask(&t));
        self.finish(op, &p, result).await
    }

    async fn text(&mut self, page: Resource<PageHandle>) -> Result<String, WitError> {
        let (p, op) = self.begin("text", &page, Access::Read, None).await?;
        let result = p.text().await.map(|t| self.mask(&t));
        self.finish(op, &p, result).await
    }

    async fn query(
        &mut self,
        page: Resource<PageHandle>,
        selector: String,
        attribute: Option<String>,
    ) -> Result<Vec<String>, WitError> {
        let (p, op) = self.begin("query", &page, Access::Read, None).await?;
        let result = p.query(&selector, attribute.as_deref()).await.map(|l| l.iter().map(|t| self.mask(t)).collect());
        self.finish(op, &p, result).await
    }

    async fn evaluate(&mut self, page: Resource<PageHandle>, expression: String) -> Result<String, WitError> {
        let (p, op) = self.begin("evaluate", &page, Access::Read, None).await?;
        p.mark_scripted();
        let result = p.evaluate_value(&expression).await.map(|v| self.mask(&v.to_string()));
        // A thrown error's message is the page's text too.
        let result = result.map_err(|e| Error { message: self.mask(&e.message), ..e });
        self.finish(op, &p, result).await
    }

    async fn click(&mut self, page: Resource<PageHandle>, selector: String) -> Result<(), WitError> {
        let (p, op) = self.begin("click", &page, Access::Act, Some(&selector)).await?;
        let result = p.click(&selector).await;
        self.finish(op, &p, result).await
    }

    async fn type_text(&mut self, page: Resource<PageHandle>, selector: String, text: String) -> Result<(), WitError> {
        let (p, op) = self.begin("type_text", &page, Access::Act, Some(&selector)).await?;
        let result = p.type_text(&selector, &text).await;
        self.finish(op, &p, result).await
    }

    async fn press(&mut self, page: Resource<PageHandle>, key: String) -> Result<(), WitError> {
        let (p, op) = self.begin("press", &page, Access::Act, None).await?;
        let result = p.press(&key).await;
        self.finish(op, &p, result).await
    }

    async fn select(&mut self, page: Resource<PageHandle>, selector: String, value: String) -> Result<(), WitError> {
        let (p, op) = self.begin("select", &page, Access::Act, Some(&selector)).await?;
        let result = p.select(&selector, &value).await;
        self.finish(op, &p, result).await
    }

    async fn scroll(
        &mut self,
        page: Resource<PageHandle>,
        selector: Option<String>,
        dx: i32,
        dy: i32,
    ) -> Result<(), WitError> {
        let (p, op) = self.begin("scroll", &page, Access::Act, selector.as_deref()).await?;
        let result = p.scroll(selector.as_deref(), dx, dy).await;
        self.finish(op, &p, result).await
    }

    async fn wait_for(
        &mut self,
        page: Resource<PageHandle>,
        condition: WaitCondition,
        timeout_ms: u32,
    ) -> Result<(), WitError> {
        let timeout = wait_time(Some(timeout_ms));
        let (script, what) = match &condition {
            WaitCondition::Selector(s) => (scripts::exists(s), format!("`{s}` to appear")),
            WaitCondition::Text(t) => (scripts::has_text(t), format!("the text `{t}` to appear")),
            WaitCondition::Expression(e) => (scripts::truthy(e), "the expression to become true".to_owned()),
        };
        // Waiting for an element answers only whether it exists, so it is
        // allowed on a page that holds a credential (a login's answer page).
        let (access, selector) = match &condition {
            WaitCondition::Selector(s) => (Access::Act, Some(s.as_str())),
            _ => (Access::Read, None),
        };
        let (p, op) = self.begin("wait_for", &page, access, selector).await?;
        if matches!(condition, WaitCondition::Expression(_)) {
            p.mark_scripted();
        }
        let result = p.wait(&script, op.started + timeout, timeout, &what).await;
        self.finish(op, &p, result).await
    }

    async fn pdf(&mut self, page: Resource<PageHandle>, options: PdfOptions) -> Result<Vec<u8>, WitError> {
        let paper = match options.paper {
            PaperFormat::Letter => Paper::Letter,
            PaperFormat::Legal => Paper::Legal,
            PaperFormat::A4 => Paper::A4,
            PaperFormat::A3 => Paper::A3,
        };
        let (p, op) = self.begin("pdf", &page, Access::Read, None).await?;
        let result = capture::pdf(&p, paper, options.landscape, options.print_background).await;
        self.finish(op, &p, result).await
    }

    async fn cookies(&mut self, page: Resource<PageHandle>) -> Result<Vec<Cookie>, WitError> {
        let (p, op) = self.begin("cookies", &page, Access::Read, None).await?;
        let result = p
            .cookies()
            .await
            .map(|list| list.into_iter().map(|c| Cookie { value: self.mask(&c.value), ..c }).collect());
        self.finish(op, &p, result).await
    }

    async fn set_cookies(&mut self, page: Resource<PageHandle>, cookies: Vec<Cookie>) -> Result<(), WitError> {
        let (p, op) = self.begin("set_cookies", &page, Access::Act, None).await?;
        let result = p.set_cookies(cookies).await;
        self.finish(op, &p, result).await
    }

    async fn use_credential(
        &mut self,
        page: Resource<PageHandle>,
        name: String,
        form: Option<LoginForm>,
    ) -> Result<(), WitError> {
        let (p, op) = self.begin("use_credential", &page, Access::Act, None).await?;
        let result = credential::use_credential(self.caps, &p, &name, form).await;
        // The credential's name goes under `name`: the redactor masks any field called `credential`.
        self.finish_naming(op, &p, result, Some(&name)).await
    }

    async fn set_viewport(&mut self, page: Resource<PageHandle>, viewport: Viewport) -> Result<(), WitError> {
        let (p, op) = self.begin("set_viewport", &page, Access::Act, None).await?;
        let result = p.set_viewport(viewport.width, viewport.height).await;
        self.finish(op, &p, result).await
    }

    /// The session keeps the tab (see [`SessionPage`]'s `Drop`); the call
    /// is done with the browser, so the next spare can be made now.
    async fn drop(&mut self, page: Resource<PageHandle>) -> wasmtime::Result<()> {
        drop(self.table.delete(page));
        self.caps.services.browser.replenish();
        Ok(())
    }
}
