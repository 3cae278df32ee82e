//! Pack `web`: what is on a page, read by a real Chromium after its
//! JavaScript ran: the readable content as Markdown or text (`content`),
//! and structured data by CSS selectors with types (`scrape_spa`). Every
//! request the page makes passes the host's egress guard.

mod scrape;

use helmdeck_sdk::browser::PageTarget;
use helmdeck_sdk::prelude::*;
pub use scrape::{FieldKind, FieldSpec, FieldType, ScrapeInput, ScrapeOutput};

/// The readable part of the page as HTML: the element matching `args[0]`,
/// or the page's `article`/`main`, without scripts, styles and (when no
/// selector was given) navigation, headers, footers and asides.
const READABLE_HTML: &str = "((selector) => {
  let root;
  try { root = selector ? document.querySelector(selector)
    : (document.querySelector('article') || document.querySelector('main') || document.querySelector('[role=main]') || document.body); }
  catch (e) { return { err: `\\`${selector}\\` is not a valid CSS selector` }; }
  if (!root) return { err: `no element matches \\`${selector}\\`` };
  const copy = root.cloneNode(true);
  const noise = selector ? 'script,style,noscript,template' : 'script,style,noscript,template,nav,header,footer,aside,iframe,[hidden],[aria-hidden=true]';
  copy.querySelectorAll(noise).forEach(el => el.remove());
  return { html: copy.outerHTML };
})";

/// Output formats of `content`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentFormat {
    /// Headings, lists, emphasis and links (as numbered references) kept.
    #[default]
    Markdown,
    /// Plain text, no markup.
    Text,
}

/// Input of `content`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ContentInput {
    #[serde(flatten)]
    pub target: PageTarget,
    /// Output format (default markdown).
    #[serde(default)]
    pub format: ContentFormat,
    /// Read only the first element matching this CSS selector (default: the
    /// page's `article` or `main`, else the body without navigation).
    #[schemars(length(min = 1, max = 1024))]
    pub selector: Option<String>,
    /// Return at most this many characters (default 100000); the rest is cut and `truncated` is set.
    #[schemars(range(min = 100, max = 2000000))]
    pub max_chars: Option<u32>,
}

/// A page's readable content.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ContentOutput {
    /// The page title.
    pub title: String,
    /// The URL after redirects.
    pub final_url: String,
    /// The content in the requested format.
    pub content: String,
    /// Characters in the full content (before any cut).
    pub length: u64,
    /// The content was longer than `max_chars` and was cut.
    pub truncated: bool,
}

helmdeck_sdk::pack! {
    name: "web";

    /// Open a URL in a real Chromium, let its JavaScript run, and return the
    /// readable content (the article or main part, without navigation) as
    /// Markdown or plain text.
    fn content(input: ContentInput) -> ToolResult<ContentOutput> {
        let (page, landed) = input.target.open(None)?;
        let selector = serde_json::Value::from(input.selector.clone());
        let found = page.evaluate(&format!("{READABLE_HTML}({selector})"))?;
        if let Some(err) = found["err"].as_str() {
            return Err(ToolError::not_found(err));
        }
        let html = found["html"].as_str().unwrap_or_default();
        let text = match input.format {
            ContentFormat::Markdown => html2text::from_read(html.as_bytes(), 100),
            ContentFormat::Text => html2text::config::plain_no_decorate().string_from_read(html.as_bytes(), 100),
        }
        .map_err(|e| ToolError::internal(format!("the page could not be converted to text: {e}")))?;
        let (content, length, truncated) = cut(text.trim(), input.max_chars.unwrap_or(100_000) as usize);
        Ok(ContentOutput { title: landed.title, final_url: landed.url, content, length, truncated })
    }

    /// Open a JavaScript-rendered page and extract structured data with CSS
    /// selectors: text, attributes, lists and nested objects, coerced to
    /// numbers, integers or booleans. Waits until every field is on the page
    /// (or `timeout_ms` passes), then returns what it found: fields that
    /// could not be read are `null` and listed in `errors`.
    fn scrape_spa(input: ScrapeInput) -> ToolResult<ScrapeOutput> {
        scrape::run(input)
    }
}

/// At most `max` characters of `text`, its full length, and whether it was cut.
fn cut(text: &str, max: usize) -> (String, u64, bool) {
    let length = text.chars().count();
    if length <= max {
        return (text.to_owned(), length as u64, false);
    }
    (text.chars().take(max).collect(), length as u64, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_content_is_cut_on_a_character_boundary_and_says_so() {
        assert_eq!(cut("héllo", 10), ("héllo".to_owned(), 5, false));
        assert_eq!(cut("héllo", 2), ("hé".to_owned(), 5, true));
    }

    #[test]
    fn the_schemas_name_every_field_kind_and_type() {
        let d = Pack::describe();
        let scrape =
            serde_json::to_string(&d.tools.iter().find(|t| t.name == "scrape_spa").unwrap().input_schema).unwrap();
        for word in ["\"attribute\"", "\"html\"", "\"number\"", "\"integer\"", "\"boolean\"", "\"list\"", "\"fields\""]
        {
            assert!(scrape.contains(word), "{word} missing");
        }
    }
}
