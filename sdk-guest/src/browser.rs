//! A real Chromium page through the host (`helmdeck:host/browser`).
//! Requires the `browser` capability in the pack's manifest.
//!
//! The page lives in the call's session: the one the caller named with
//! `_session_id` (its cookies and storage persist across calls), or an
//! ephemeral one the host closes when the call ends. Every request the page
//! makes passes the host's egress guard; every method is audited.
//!
//! ```ignore
//! use helmdeck_sdk::browser::{Page, Navigate, Screenshot};
//! let page = Page::open()?;
//! let landed = page.navigate("https://example.com/", &Navigate::default())?;
//! let png = page.screenshot(&Screenshot::png().full_page(true))?;
//! ```

use crate::ToolResult;
use crate::bindings::helmdeck::host::browser as wit;

pub use wit::{Cookie, ImageFormat, LoginForm, Navigation, PaperFormat, WaitUntil};

/// One page (tab). Dropping it closes the tab; the session's cookies stay.
pub struct Page {
    inner: wit::Page,
}

/// How to navigate: wait for `load` (default) or network idle, optionally
/// for a selector too, within a deadline.
#[derive(Debug, Clone)]
pub struct Navigate {
    pub wait_until: WaitUntil,
    pub selector: Option<String>,
    pub timeout_ms: Option<u32>,
}

impl Default for Navigate {
    fn default() -> Self {
        Navigate { wait_until: WaitUntil::Load, selector: None, timeout_ms: None }
    }
}

/// How to take a screenshot; build with [`Screenshot::png`] and friends.
#[derive(Debug, Clone)]
pub struct Screenshot {
    pub format: ImageFormat,
    pub quality: Option<u8>,
    pub full_page: bool,
    pub selector: Option<String>,
}

impl Screenshot {
    /// A PNG of the viewport.
    pub fn png() -> Self {
        Screenshot { format: ImageFormat::Png, quality: None, full_page: false, selector: None }
    }

    /// Another encoding.
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }

    /// Quality 0-100 (jpeg and webp only).
    pub fn quality(mut self, quality: Option<u8>) -> Self {
        self.quality = quality;
        self
    }

    /// Capture the whole scrollable page.
    pub fn full_page(mut self, full: bool) -> Self {
        self.full_page = full;
        self
    }

    /// Capture only the first element matching `selector`.
    pub fn selector(mut self, selector: Option<String>) -> Self {
        self.selector = selector;
        self
    }
}

/// An encoded image and its size in pixels.
#[derive(Debug, Clone)]
pub struct Image {
    pub data: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// What to wait for with [`Page::wait_for`].
#[derive(Debug, Clone)]
pub enum Condition {
    /// An element matching this CSS selector exists.
    Selector(String),
    /// The visible text contains this string.
    Text(String),
    /// This JavaScript expression is truthy.
    Expression(String),
}

impl Page {
    /// Open a blank page in the call's session.
    pub fn open() -> ToolResult<Page> {
        Ok(Page { inner: wit::Page::open()? })
    }

    /// Navigate to an http(s) URL.
    pub fn navigate(&self, url: &str, how: &Navigate) -> ToolResult<Navigation> {
        let options = wit::NavigateOptions {
            wait_until: how.wait_until,
            selector: how.selector.clone(),
            timeout_ms: how.timeout_ms,
        };
        Ok(self.inner.navigate(url, &options)?)
    }

    /// The current URL and title.
    pub fn location(&self) -> ToolResult<Navigation> {
        Ok(self.inner.location()?)
    }

    /// Capture the page.
    pub fn screenshot(&self, how: &Screenshot) -> ToolResult<Image> {
        let options = wit::ScreenshotOptions {
            format: how.format,
            quality: how.quality,
            full_page: how.full_page,
            selector: how.selector.clone(),
        };
        let image = self.inner.screenshot(&options)?;
        Ok(Image { data: image.data, width: image.width, height: image.height })
    }

    /// The serialized DOM.
    pub fn content(&self) -> ToolResult<String> {
        Ok(self.inner.content()?)
    }

    /// The visible text.
    pub fn text(&self) -> ToolResult<String> {
        Ok(self.inner.text()?)
    }

    /// Texts (or attribute values) of every element matching `selector`.
    pub fn query(&self, selector: &str, attribute: Option<&str>) -> ToolResult<Vec<String>> {
        Ok(self.inner.query(selector, attribute)?)
    }

    /// Evaluate a JavaScript expression; its value as JSON.
    pub fn evaluate(&self, expression: &str) -> ToolResult<serde_json::Value> {
        let json = self.inner.evaluate(expression)?;
        Ok(serde_json::from_str(&json).unwrap_or(serde_json::Value::Null))
    }

    /// Click the first element matching `selector`.
    pub fn click(&self, selector: &str) -> ToolResult<()> {
        Ok(self.inner.click(selector)?)
    }

    /// Focus the first element matching `selector` and type `text`.
    pub fn type_text(&self, selector: &str, text: &str) -> ToolResult<()> {
        Ok(self.inner.type_text(selector, text)?)
    }

    /// Press a key on the focused element.
    pub fn press(&self, key: &str) -> ToolResult<()> {
        Ok(self.inner.press(key)?)
    }

    /// Choose an option of a `<select>` by value.
    pub fn select(&self, selector: &str, value: &str) -> ToolResult<()> {
        Ok(self.inner.select(selector, value)?)
    }

    /// Scroll an element into view, or the page by a delta.
    pub fn scroll(&self, selector: Option<&str>, dx: i32, dy: i32) -> ToolResult<()> {
        Ok(self.inner.scroll(selector, dx, dy)?)
    }

    /// Wait until `condition` holds (`timeout` otherwise).
    pub fn wait_for(&self, condition: &Condition, timeout_ms: u32) -> ToolResult<()> {
        let condition = match condition {
            Condition::Selector(s) => wit::WaitCondition::Selector(s.clone()),
            Condition::Text(t) => wit::WaitCondition::Text(t.clone()),
            Condition::Expression(e) => wit::WaitCondition::Expression(e.clone()),
        };
        Ok(self.inner.wait_for(&condition, timeout_ms)?)
    }

    /// Print to PDF.
    pub fn pdf(&self, paper: PaperFormat, landscape: bool, print_background: bool) -> ToolResult<Vec<u8>> {
        Ok(self.inner.pdf(wit::PdfOptions { paper, landscape, print_background })?)
    }

    /// Cookies visible to the page's URL.
    pub fn cookies(&self) -> ToolResult<Vec<Cookie>> {
        Ok(self.inner.cookies()?)
    }

    /// Set cookies in the session.
    pub fn set_cookies(&self, cookies: &[Cookie]) -> ToolResult<()> {
        Ok(self.inner.set_cookies(cookies)?)
    }

    /// Hand vault credential `name` to the page; the pack never sees its
    /// value. A `cookies` credential is set for the page's site; a `login`
    /// credential is typed into `form` (required for logins). The page's
    /// current host must match the credential's patterns.
    pub fn use_credential(&self, name: &str, form: Option<&LoginForm>) -> ToolResult<()> {
        Ok(self.inner.use_credential(name, form)?)
    }

    /// Resize the viewport.
    pub fn set_viewport(&self, width: u32, height: u32) -> ToolResult<()> {
        Ok(self.inner.set_viewport(wit::Viewport { width, height })?)
    }
}

/// When a page counts as loaded, for tool inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadState {
    /// The `load` event fired (images and stylesheets are in).
    #[default]
    Load,
    /// `load` fired and then no request was made for 500 ms (pages that fetch data after load).
    NetworkIdle,
}

impl From<LoadState> for WaitUntil {
    fn from(state: LoadState) -> WaitUntil {
        match state {
            LoadState::Load => WaitUntil::Load,
            LoadState::NetworkIdle => WaitUntil::NetworkIdle,
        }
    }
}

/// Where to go and when the page is ready: the part every browser tool
/// input shares (flatten it into the input type).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
pub struct PageTarget {
    /// Absolute `http://` or `https://` URL to open. Private, loopback and
    /// cloud-metadata addresses are refused (`egress_denied`) unless the
    /// operator allow-listed them.
    #[schemars(length(min = 1, max = 8192), regex(pattern = r"^[hH][tT][tT][pP][sS]?://"))]
    pub url: String,
    /// When the page counts as loaded: `load` (default) or `network_idle`.
    #[serde(default)]
    pub wait_until: LoadState,
    /// A CSS selector to wait for before going on, for content that
    /// JavaScript renders after load (for example `#results li`).
    #[schemars(length(min = 1, max = 1024))]
    pub wait_for: Option<String>,
    /// Deadline for loading the page and the waits, in milliseconds (default 30000).
    #[schemars(range(min = 100, max = 120000))]
    pub timeout_ms: Option<u32>,
}

impl PageTarget {
    /// Open a page in the call's session, size its viewport when asked,
    /// and navigate as this says.
    pub fn open(&self, viewport: Option<ViewportSize>) -> ToolResult<(Page, Navigation)> {
        let page = Page::open()?;
        if let Some(v) = viewport {
            page.set_viewport(v.width, v.height)?;
        }
        let how = Navigate {
            wait_until: self.wait_until.into(),
            selector: self.wait_for.clone(),
            timeout_ms: self.timeout_ms,
        };
        let landed = page.navigate(&self.url, &how)?;
        Ok((page, landed))
    }
}

/// A viewport size for tool inputs.
#[derive(Debug, Clone, Copy, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewportSize {
    /// Width in CSS pixels.
    #[schemars(range(min = 100, max = 3840))]
    pub width: u32,
    /// Height in CSS pixels.
    #[schemars(range(min = 100, max = 2160))]
    pub height: u32,
}
