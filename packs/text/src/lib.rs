//! Pack `text`: text and JSON utilities an agent reaches for between other
//! tools. Pure computation: the pack imports no host capability at all, so it
//! runs with nothing granted.

use helmdeck_sdk::prelude::*;
use serde_json::Value;

/// Input of `stats`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatsInput {
    /// The text to measure.
    pub text: String,
}

/// Counts for a text.
#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct StatsOutput {
    /// Unicode scalar values.
    pub chars: u64,
    /// Whitespace-separated words.
    pub words: u64,
    /// Lines (a final line without a newline counts).
    pub lines: u64,
    /// UTF-8 bytes.
    pub bytes: u64,
}

/// Input of `json_query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonQueryInput {
    /// The JSON document to query.
    pub document: Value,
    /// An RFC 9535 JSONPath query, such as `$.items[?@.price < 10].name`.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
}

/// Query results.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JsonQueryOutput {
    /// The matched values, in document order.
    pub matches: Vec<Value>,
    /// Normalized paths of the matches (`$['items'][0]['name']`), parallel to `matches`.
    pub paths: Vec<String>,
}

/// Input of `html_to_text`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtmlToTextInput {
    /// The HTML document or fragment.
    pub html: String,
    /// Wrap lines at this many columns (default 100).
    #[schemars(range(min = 20, max = 1000))]
    pub width: Option<u32>,
}

/// Readable text.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TextOutput {
    /// The converted text.
    pub text: String,
}

/// Input of `markdown_to_html`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkdownInput {
    /// CommonMark text (tables, strikethrough and task lists are understood).
    pub markdown: String,
}

/// Rendered HTML.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HtmlOutput {
    /// The HTML fragment.
    pub html: String,
}

helmdeck_sdk::pack! {
    name: "text";

    /// Count characters, words, lines and bytes of a text.
    fn stats(input: StatsInput) -> ToolResult<StatsOutput> {
        Ok(measure(&input.text))
    }

    /// Select values from a JSON document with an RFC 9535 JSONPath query.
    /// Returns every match with its normalized path.
    fn json_query(input: JsonQueryInput) -> ToolResult<JsonQueryOutput> {
        let path = serde_json_path::JsonPath::parse(&input.query).map_err(|e| {
            ToolError::invalid_input(format!("`query` is not a valid JSONPath: {e}"))
        })?;
        let located = path.query_located(&input.document);
        let (paths, matches) = located
            .iter()
            .map(|node| (node.location().to_string(), node.node().clone()))
            .unzip();
        Ok(JsonQueryOutput { matches, paths })
    }

    /// Turn HTML into readable, Markdown-flavoured plain text: headings, lists
    /// and emphasis kept, links listed as footnotes, scripts and styles dropped.
    fn html_to_text(input: HtmlToTextInput) -> ToolResult<TextOutput> {
        let width = input.width.unwrap_or(100) as usize;
        let text = html2text::from_read(input.html.as_bytes(), width)
            .map_err(|e| ToolError::invalid_input(format!("`html` could not be converted: {e}")))?;
        Ok(TextOutput { text })
    }

    /// Render Markdown (CommonMark with tables, strikethrough and task lists) to HTML.
    fn markdown_to_html(input: MarkdownInput) -> ToolResult<HtmlOutput> {
        use pulldown_cmark::{Options, Parser, html};
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
        let mut out = String::with_capacity(input.markdown.len() * 3 / 2);
        html::push_html(&mut out, Parser::new_ext(&input.markdown, options));
        Ok(HtmlOutput { html: out })
    }
}

fn measure(text: &str) -> StatsOutput {
    StatsOutput {
        chars: text.chars().count() as u64,
        words: text.split_whitespace().count() as u64,
        lines: text.lines().count() as u64,
        bytes: text.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use helmdeck_sdk::{ErrorCode, testing};
    use serde_json::json;

    #[test]
    fn stats_counts_multibyte_text() {
        let out = testing::call::<Pack>("stats", json!({"text": "héllo wörld\nbye"})).unwrap();
        assert_eq!(out, json!({"chars": 15, "words": 3, "lines": 2, "bytes": 17}));
    }

    #[test]
    fn json_query_filters_and_reports_paths() {
        let doc = json!({"items": [{"name": "a", "price": 5}, {"name": "b", "price": 50}]});
        let out = testing::call::<Pack>("json_query", json!({"document": doc, "query": "$.items[?@.price < 10].name"}))
            .unwrap();
        assert_eq!(out["matches"], json!(["a"]));
        assert_eq!(out["paths"], json!(["$['items'][0]['name']"]));
    }

    #[test]
    fn a_malformed_query_is_invalid_input_naming_the_field() {
        let err = testing::call::<Pack>("json_query", json!({"document": {}, "query": "$.["})).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains("`query`"), "{}", err.message);
    }

    #[test]
    fn html_to_text_keeps_structure_and_drops_scripts() {
        let html = "<h1>Title</h1><script>alert(1)</script><p>Hello <b>world</b></p><ul><li>one</li></ul>";
        let out = testing::call::<Pack>("html_to_text", json!({"html": html})).unwrap();
        let text = out["text"].as_str().unwrap();
        assert!(text.contains("Title") && text.contains("Hello **world**") && text.contains("one"), "{text}");
        assert!(!text.contains("alert"), "{text}");
    }

    #[test]
    fn markdown_renders_tables() {
        let out =
            testing::call::<Pack>("markdown_to_html", json!({"markdown": "# Hi\n\n|a|b|\n|-|-|\n|1|2|\n"})).unwrap();
        let html = out["html"].as_str().unwrap();
        assert!(html.contains("<h1>Hi</h1>") && html.contains("<table>"), "{html}");
    }

    #[test]
    fn an_unknown_tool_is_not_found_and_lists_the_tools() {
        let err = Pack::call("nope", "{}").unwrap_err();
        assert_eq!(err.code, ErrorCode::NotFound);
        assert!(err.message.contains("stats, json_query, html_to_text, markdown_to_html"));
    }
}
