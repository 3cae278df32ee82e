//! The JSON a pack returns from `describe`: its name, version and, per tool,
//! the description and the input/output JSON Schemas generated from the
//! author's Rust types. Doc comments on fields become schema descriptions,
//! which is what lets a model fill the input correctly.

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde::Serialize;

/// What `describe` returns. Built by the `pack!` macro; authors rarely touch it.
#[derive(Debug, Clone, Serialize)]
pub struct PackDescription {
    /// The pack's name (the namespace of its tools: `text` in `text.stats`).
    pub name: String,
    /// The pack's version (the crate version).
    pub version: String,
    /// The tools, in declaration order.
    pub tools: Vec<ToolDescription>,
}

/// One tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolDescription {
    /// The tool's name within its pack (`stats`).
    pub name: String,
    /// What the tool does, from the function's doc comment.
    pub description: String,
    /// JSON Schema (draft 2020-12) of the input, from the input type.
    pub input_schema: serde_json::Value,
    /// JSON Schema (draft 2020-12) of the output, from the output type.
    pub output_schema: serde_json::Value,
}

impl PackDescription {
    /// An empty description for pack `name` at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        PackDescription { name: name.to_owned(), version: version.to_owned(), tools: Vec::new() }
    }

    /// Add a tool whose input deserializes from `I` and whose output serializes
    /// from `O`. `doc` is the raw doc comment (one line per `///`).
    pub fn tool<I: JsonSchema, O: JsonSchema>(mut self, name: &str, doc: &str) -> Self {
        self.tools.push(ToolDescription {
            name: name.to_owned(),
            description: clean_doc(doc),
            input_schema: schema_for::<I>(SchemaSettings::draft2020_12().for_deserialize()),
            output_schema: schema_for::<O>(SchemaSettings::draft2020_12().for_serialize()),
        });
        self
    }

    /// The JSON the host reads.
    pub fn to_json(&self) -> String {
        // A description is plain strings and JSON values: it always serializes.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Schemas are inlined so each tool's schema stands alone (MCP clients and
/// weak models handle a self-contained object best); recursive types still
/// use `$defs`.
fn schema_for<T: JsonSchema>(settings: SchemaSettings) -> serde_json::Value {
    let mut settings = settings;
    settings.inline_subschemas = true;
    settings.into_generator().into_root_schema_for::<T>().to_value()
}

/// Doc comments arrive as one literal per line with the leading space kept.
fn clean_doc(doc: &str) -> String {
    let lines: Vec<&str> = doc.lines().map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end()).collect();
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Input of a test tool.
    #[derive(schemars::JsonSchema, serde::Deserialize)]
    #[allow(dead_code)]
    struct In {
        /// The text to look at.
        text: String,
        /// At most this many.
        #[schemars(range(min = 1, max = 10))]
        limit: Option<u32>,
    }

    #[derive(schemars::JsonSchema, serde::Serialize)]
    struct Out {
        n: u32,
    }

    #[test]
    fn doc_comments_and_constraints_reach_the_schema() {
        let d = PackDescription::new("t", "1.0.0").tool::<In, Out>("count", " Count things.\n More.\n");
        let tool = &d.tools[0];
        assert_eq!(tool.description, "Count things.\nMore.");
        let props = &tool.input_schema["properties"];
        assert_eq!(props["text"]["description"], "The text to look at.");
        assert_eq!(props["limit"]["maximum"], 10);
        assert_eq!(tool.input_schema["required"], serde_json::json!(["text"]));
        assert_eq!(tool.output_schema["properties"]["n"]["type"], "integer");
    }
}
