//! `browser.interact`: an ordered list of actions run in one page, exactly
//! in order, stopping at the first failure with the step's index, its error
//! and a screenshot of the page at that moment.

use helmdeck_sdk::ErrorCode;
use helmdeck_sdk::artifacts::{self, ArtifactRef};
use helmdeck_sdk::browser::{Condition, LoadState, LoginForm, Navigate, Page, Screenshot, ViewportSize};
use helmdeck_sdk::prelude::*;
use std::collections::BTreeMap;

/// Default time a waiting step (`wait_for`, `assert_text`) may take.
const DEFAULT_STEP_WAIT_MS: u32 = 5000;

/// One step. `action` names the kind; the other fields depend on it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Open a URL in the page.
    Navigate {
        /// Absolute http:// or https:// URL.
        #[schemars(regex(pattern = r"^[hH][tT][tT][pP][sS]?://"))]
        url: String,
        /// When the page counts as loaded (default load).
        #[serde(default)]
        wait_until: LoadState,
    },
    /// Click the first element matching a CSS selector (a real mouse click).
    Click {
        /// CSS selector, such as `button[type=submit]`.
        selector: String,
    },
    /// Focus an element and type text into it (appended to what it holds).
    Type {
        /// CSS selector of an input, textarea or editable element.
        selector: String,
        /// The text to type.
        text: String,
    },
    /// Press one key on the focused element.
    Press {
        /// Key name: `Enter`, `Tab`, `Escape`, `ArrowDown`, `Backspace`, or one character.
        key: String,
    },
    /// Choose an option of a `<select>` by its value.
    Select {
        /// CSS selector of the `<select>`.
        selector: String,
        /// The `value` attribute of the option to choose.
        value: String,
    },
    /// Wait until an element exists or a text is visible.
    WaitFor {
        /// CSS selector to wait for; give this or `text`.
        selector: Option<String>,
        /// Visible text to wait for; give this or `selector`.
        text: Option<String>,
        /// How long to wait in milliseconds (default 5000).
        #[schemars(range(min = 1, max = 60000))]
        timeout_ms: Option<u32>,
    },
    /// Scroll an element into view, or the page by a delta.
    Scroll {
        /// CSS selector to scroll into view; when absent, scroll by `dx`/`dy`.
        selector: Option<String>,
        /// Horizontal delta in CSS pixels.
        #[serde(default)]
        dx: i32,
        /// Vertical delta in CSS pixels (positive scrolls down).
        #[serde(default)]
        dy: i32,
    },
    /// Take a PNG screenshot and keep it as an artifact.
    Screenshot {
        /// Capture the whole page (default false).
        #[serde(default)]
        full_page: bool,
    },
    /// Check that a text is visible (in the page, or in the first element
    /// matching `selector`), waiting for it up to `timeout_ms`.
    AssertText {
        /// The text that must appear.
        text: String,
        /// Look only inside this element.
        selector: Option<String>,
        /// How long to wait for it in milliseconds (default 5000).
        #[schemars(range(min = 1, max = 60000))]
        timeout_ms: Option<u32>,
    },
    /// Use a vault credential on the current page without seeing it: a
    /// `cookies` credential is set for the page's site; a `login` credential
    /// is typed into the fields named by the selectors (then `submit_selector`
    /// is clicked, when given). The page must be on a site the credential
    /// allows at that moment. Afterwards the page cannot be read (`extract`,
    /// `assert_text`, `wait_for`, `screenshot` fail with `unauthorized`)
    /// until a `navigate` step loads a fresh page; after a `cookies`
    /// credential, no page of the session can be read.
    UseCredential {
        /// The credential's name in the vault (see `repo.credentials` or the operator).
        name: String,
        /// Login credentials: CSS selector of the username field.
        username_selector: Option<String>,
        /// Login credentials: CSS selector of the password field.
        password_selector: Option<String>,
        /// Login credentials: a button to click after typing.
        submit_selector: Option<String>,
    },
    /// Read the texts (or an attribute) of the elements matching a selector
    /// into the output's `extracted` under `name`.
    Extract {
        /// Key in `extracted`.
        name: String,
        /// CSS selector.
        selector: String,
        /// Read this attribute instead of the text.
        attribute: Option<String>,
    },
}

impl Action {
    fn kind(&self) -> &'static str {
        match self {
            Action::Navigate { .. } => "navigate",
            Action::Click { .. } => "click",
            Action::Type { .. } => "type",
            Action::Press { .. } => "press",
            Action::Select { .. } => "select",
            Action::WaitFor { .. } => "wait_for",
            Action::Scroll { .. } => "scroll",
            Action::Screenshot { .. } => "screenshot",
            Action::AssertText { .. } => "assert_text",
            Action::UseCredential { .. } => "use_credential",
            Action::Extract { .. } => "extract",
        }
    }
}

/// Input of `interact`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractInput {
    /// The steps, run in order. Start with a `navigate` step (or give `url`).
    #[schemars(length(min = 1, max = 200))]
    pub actions: Vec<Action>,
    /// A URL to open before the first step (same as a leading `navigate`).
    #[schemars(regex(pattern = r"^[hH][tT][tT][pP][sS]?://"))]
    pub url: Option<String>,
    /// Viewport size in CSS pixels (default: the session's, 1280x720).
    pub viewport: Option<ViewportSize>,
    /// Take a screenshot when a step fails (default true).
    #[serde(default = "yes")]
    pub screenshot_on_failure: bool,
}

fn yes() -> bool {
    true
}

/// Everything the steps did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InteractOutput {
    /// How many steps ran (all of them: a failure is an error).
    pub steps: usize,
    /// Values read by `extract` steps, by name.
    pub extracted: BTreeMap<String, Vec<String>>,
    /// Screenshots taken by `screenshot` steps, in order.
    pub screenshots: Vec<ArtifactRef>,
    /// The URL after the last step (empty when the page holds a credential
    /// a `use_credential` step typed: navigate elsewhere to read again).
    pub final_url: String,
    /// The title after the last step (empty likewise).
    pub title: String,
}

/// Run every step; on failure the error carries `details.step` (0-based),
/// `details.action`, `details.error` and `details.screenshot`.
pub fn run(input: InteractInput) -> ToolResult<InteractOutput> {
    let page = Page::open()?;
    if let Some(v) = input.viewport {
        page.set_viewport(v.width, v.height)?;
    }
    let mut steps = input.actions;
    if let Some(url) = input.url {
        steps.insert(0, Action::Navigate { url, wait_until: LoadState::Load });
    }
    let mut out = InteractOutput {
        steps: 0,
        extracted: BTreeMap::new(),
        screenshots: Vec::new(),
        final_url: String::new(),
        title: String::new(),
    };
    for (index, step) in steps.iter().enumerate() {
        if let Err(e) = perform(&page, step, &mut out) {
            return Err(failure(&page, index, step, e, &out, input.screenshot_on_failure));
        }
        out.steps = index + 1;
    }
    match page.location() {
        Ok(here) => {
            out.final_url = here.url;
            out.title = here.title;
        }
        // A page holding a credential cannot be read; its address may carry it.
        Err(e) if e.code == ErrorCode::Unauthorized => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}

fn perform(page: &Page, step: &Action, out: &mut InteractOutput) -> ToolResult<()> {
    match step {
        Action::Navigate { url, wait_until } => {
            page.navigate(url, &Navigate { wait_until: (*wait_until).into(), ..Navigate::default() }).map(drop)
        }
        Action::Click { selector } => page.click(selector),
        Action::Type { selector, text } => page.type_text(selector, text),
        Action::UseCredential { name, username_selector, password_selector, submit_selector } => {
            let form = match (username_selector, password_selector) {
                (Some(username), Some(password)) => Some(LoginForm {
                    username_selector: username.clone(),
                    password_selector: password.clone(),
                    submit_selector: submit_selector.clone(),
                }),
                (None, None) => None,
                _ => {
                    return Err(ToolError::invalid_input(
                        "`use_credential` needs both `username_selector` and `password_selector`, or neither",
                    ));
                }
            };
            page.use_credential(name, form.as_ref())
        }
        Action::Press { key } => page.press(key),
        Action::Select { selector, value } => page.select(selector, value),
        Action::WaitFor { selector, text, timeout_ms } => {
            let condition = match (selector, text) {
                (Some(s), None) => Condition::Selector(s.clone()),
                (None, Some(t)) => Condition::Text(t.clone()),
                _ => return Err(ToolError::invalid_input("`wait_for` needs exactly one of `selector` and `text`")),
            };
            page.wait_for(&condition, timeout_ms.unwrap_or(DEFAULT_STEP_WAIT_MS))
        }
        Action::Scroll { selector, dx, dy } => page.scroll(selector.as_deref(), *dx, *dy),
        Action::Screenshot { full_page } => {
            let image = page.screenshot(&Screenshot::png().full_page(*full_page))?;
            let name = format!("step-{}.png", out.screenshots.len() + 1);
            out.screenshots.push(artifacts::put(&name, "image/png", &image.data)?);
            Ok(())
        }
        Action::AssertText { text, selector, timeout_ms } => assert_text(page, text, selector.as_deref(), *timeout_ms),
        Action::Extract { name, selector, attribute } => {
            let values = page.query(selector, attribute.as_deref())?;
            out.extracted.insert(name.clone(), values);
            Ok(())
        }
    }
}

fn assert_text(page: &Page, text: &str, selector: Option<&str>, timeout_ms: Option<u32>) -> ToolResult<()> {
    let condition = match selector {
        None => Condition::Text(text.to_owned()),
        Some(s) => Condition::Expression(format!(
            "(document.querySelector({sel})?.innerText ?? '').includes({text})",
            sel = serde_json::Value::from(s),
            text = serde_json::Value::from(text)
        )),
    };
    let timeout = timeout_ms.unwrap_or(DEFAULT_STEP_WAIT_MS);
    page.wait_for(&condition, timeout).map_err(|e| {
        if e.code == ErrorCode::Timeout {
            let place = selector.map_or("the page".to_owned(), |s| format!("`{s}`"));
            ToolError::not_found(format!("the text `{text}` did not appear in {place} within {timeout} ms"))
        } else {
            e
        }
    })
}

/// The error for step `index`: its own code and message, with the step,
/// what ran before it and a screenshot of the page as it was.
fn failure(
    page: &Page,
    index: usize,
    step: &Action,
    error: ToolError,
    done: &InteractOutput,
    screenshot: bool,
) -> ToolError {
    let shot = screenshot
        .then(|| page.screenshot(&Screenshot::png()).ok())
        .flatten()
        .and_then(|image| artifacts::put(&format!("failure-step-{index}.png"), "image/png", &image.data).ok());
    let message = format!("step {index} ({}) failed: {}", step.kind(), error.message);
    let details = serde_json::json!({
        "step": index,
        "action": step.kind(),
        "error": { "code": error.code_name(), "message": error.message },
        "screenshot": shot,
        "completed_steps": index,
        "extracted": done.extracted,
        "screenshots": done.screenshots,
    });
    ToolError::new(error.code, message).with_details(details)
}
