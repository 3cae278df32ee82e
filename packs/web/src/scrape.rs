//! `web.scrape_spa`: structured extraction by CSS selectors from a page
//! after its JavaScript rendered. The page does the DOM walk (one script,
//! re-run while waiting for the fields to appear); this module coerces the
//! raw strings to the declared types and collects a per-field error list,
//! so a missing field makes a partial result, not a failed call.

use helmdeck_sdk::browser::{Condition, PageTarget};
use helmdeck_sdk::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How long to wait for every field when `timeout_ms` is not given.
const DEFAULT_FIELD_WAIT_MS: u32 = 10_000;

/// The page-side walk: `spec` is `{name: {selector, kind, attribute, list, fields}}`.
/// Returns `{data, errors}` with raw strings; errors are
/// `{field, code, message}` with dotted field paths.
const EXTRACT: &str = "((spec) => {
  const errors = [];
  const read = (el, f, path) => {
    if (f.fields) return walk(el, f.fields, path);
    if (f.kind === 'attribute') {
      const v = el.getAttribute(f.attribute);
      if (v === null) errors.push({ field: path, code: 'not_found', message: `the element has no \\`${f.attribute}\\` attribute` });
      return v;
    }
    if (f.kind === 'html') return el.innerHTML;
    return (el.innerText ?? el.textContent ?? '').trim();
  };
  const walk = (scope, fields, prefix) => {
    const out = {};
    for (const [name, f] of Object.entries(fields)) {
      const path = prefix ? `${prefix}.${name}` : name;
      let found;
      try { found = Array.from(scope.querySelectorAll(f.selector)); }
      catch (e) { errors.push({ field: path, code: 'invalid_input', message: `\\`${f.selector}\\` is not a valid CSS selector` }); out[name] = null; continue; }
      if (found.length === 0) {
        errors.push({ field: path, code: 'not_found', message: `no element matches \\`${f.selector}\\`` });
        out[name] = f.list ? [] : null;
      } else if (f.list) {
        out[name] = found.map((el, i) => read(el, f, `${path}[${i}]`));
      } else {
        out[name] = read(found[0], f, path);
      }
    }
    return out;
  };
  return { data: walk(document, spec, ''), errors };
})";

/// What to read from a matched element.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// Its visible text, trimmed (default).
    #[default]
    Text,
    /// The value of `attribute` (for example `href` or `src`).
    Attribute,
    /// Its inner HTML.
    Html,
}

/// The type a value is coerced to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Keep the text (default).
    #[default]
    String,
    /// A decimal number; currency signs, spaces and thousands separators are dropped (`$1,234.50` → 1234.5).
    Number,
    /// A whole number (`42 items` → 42).
    Integer,
    /// `true/yes/on/1` or `false/no/off/0`, case-insensitive.
    Boolean,
}

/// One field to extract.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// CSS selector, relative to the page or, inside `fields`, to the parent match.
    #[schemars(length(min = 1, max = 1024))]
    pub selector: String,
    /// What to read (default text); ignored when `fields` is given.
    #[serde(default)]
    pub kind: FieldKind,
    /// The attribute to read when `kind` is `attribute`.
    pub attribute: Option<String>,
    /// Every match as a list instead of the first match only (default false).
    #[serde(default)]
    pub list: bool,
    /// The value's type (default string); ignored when `fields` is given.
    #[serde(default, rename = "type")]
    pub value_type: FieldType,
    /// Nested fields read inside each match: makes this field an object (or a list of objects).
    pub fields: Option<BTreeMap<String, FieldSpec>>,
}

/// Input of `scrape_spa`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ScrapeInput {
    #[serde(flatten)]
    pub target: PageTarget,
    /// The fields to extract, by output name. Example:
    /// `{"title": {"selector": "h1"}, "price": {"selector": ".price", "type": "number"},
    /// "items": {"selector": "li.item", "list": true, "fields": {"name": {"selector": ".name"}}}}`.
    #[schemars(length(min = 1, max = 200))]
    pub schema: BTreeMap<String, FieldSpec>,
    /// How long to wait for every field to appear, in milliseconds, before
    /// returning what is there (default 10000).
    #[schemars(range(min = 0, max = 120000))]
    pub field_timeout_ms: Option<u32>,
}

/// One field that could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// Dotted path of the field (`items[2].price`).
    pub field: String,
    /// `not_found` (no match), `invalid_input` (bad selector), `schema_mismatch` (could not coerce).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// Extracted data.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScrapeOutput {
    /// The fields by name; a field that could not be read is `null` (an empty list for lists).
    pub data: Map<String, Value>,
    /// One entry per field that could not be read.
    pub errors: Vec<FieldError>,
    /// Every field was read.
    pub complete: bool,
    /// The URL after redirects.
    pub final_url: String,
    /// The page title.
    pub title: String,
}

/// Open the page, wait for the fields, extract and coerce.
pub fn run(input: ScrapeInput) -> ToolResult<ScrapeOutput> {
    let spec = page_spec(&input.schema)?;
    let (page, _) = input.target.open(None)?;
    let script = format!("{EXTRACT}({spec})");
    let wait = input.field_timeout_ms.unwrap_or(DEFAULT_FIELD_WAIT_MS);
    if wait > 0 {
        // A timeout here is not a failure: what is there is returned, with errors.
        match page.wait_for(&Condition::Expression(format!("{script}.errors.length === 0")), wait) {
            Err(e) if e.code != helmdeck_sdk::ErrorCode::Timeout => return Err(e),
            _ => {}
        }
    }
    let raw = page.evaluate(&script)?;
    let mut errors: Vec<FieldError> = serde_json::from_value(raw["errors"].clone()).unwrap_or_default();
    let mut data = raw["data"].as_object().cloned().unwrap_or_default();
    coerce_fields(&mut data, &input.schema, "", &mut errors);
    errors.sort_by(|a, b| a.field.cmp(&b.field));
    let here = page.location()?;
    Ok(ScrapeOutput { complete: errors.is_empty(), data, errors, final_url: here.url, title: here.title })
}

/// The spec the page script reads, checked: `attribute` kinds name one.
fn page_spec(schema: &BTreeMap<String, FieldSpec>) -> ToolResult<Value> {
    fn one(path: &str, f: &FieldSpec) -> ToolResult<Value> {
        if f.kind == FieldKind::Attribute && f.attribute.as_deref().is_none_or(str::is_empty) {
            return Err(ToolError::invalid_input(format!(
                "field `{path}` has `kind: attribute` but no `attribute` name"
            )));
        }
        let mut v =
            serde_json::json!({ "selector": f.selector, "kind": f.kind, "attribute": f.attribute, "list": f.list });
        if let Some(fields) = &f.fields {
            let nested: ToolResult<Map<String, Value>> =
                fields.iter().map(|(k, sub)| Ok((k.clone(), one(&format!("{path}.{k}"), sub)?))).collect();
            v["fields"] = Value::Object(nested?);
        }
        Ok(v)
    }
    let fields: ToolResult<Map<String, Value>> = schema.iter().map(|(k, f)| Ok((k.clone(), one(k, f)?))).collect();
    Ok(Value::Object(fields?))
}

/// Coerce every leaf of `data` to its declared type, recording failures.
fn coerce_fields(
    data: &mut Map<String, Value>,
    schema: &BTreeMap<String, FieldSpec>,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    for (name, spec) in schema {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let Some(value) = data.get_mut(name) else { continue };
        match value {
            Value::Array(items) if spec.list => {
                for (i, item) in items.iter_mut().enumerate() {
                    coerce_one(item, spec, &format!("{path}[{i}]"), errors);
                }
            }
            other => coerce_one(other, spec, &path, errors),
        }
    }
}

fn coerce_one(value: &mut Value, spec: &FieldSpec, path: &str, errors: &mut Vec<FieldError>) {
    if let (Some(fields), Value::Object(object)) = (&spec.fields, &mut *value) {
        return coerce_fields(object, fields, path, errors);
    }
    let Value::String(text) = &*value else { return };
    match coerce(text, spec.value_type) {
        Ok(v) => *value = v,
        Err(message) => {
            errors.push(FieldError { field: path.to_owned(), code: "schema_mismatch".into(), message });
            *value = Value::Null;
        }
    }
}

/// `text` as `ty`, or why not.
pub fn coerce(text: &str, ty: FieldType) -> Result<Value, String> {
    let t = text.trim();
    match ty {
        FieldType::String => Ok(Value::String(text.to_owned())),
        FieldType::Number => {
            let cleaned: String =
                t.chars().filter(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E')).collect();
            cleaned
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{t}` is not a number"))
        }
        FieldType::Integer => {
            let digits: String = t
                .chars()
                .skip_while(|c| !(c.is_ascii_digit() || *c == '-'))
                .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | ',' | '_'))
                .filter(|c| *c != ',' && *c != '_')
                .collect();
            digits.parse::<i64>().map(Value::from).map_err(|_| format!("`{t}` is not a whole number"))
        }
        FieldType::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("`{t}` is not a boolean (true/false, yes/no, on/off, 1/0)")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_coerced_leniently_and_failures_named() {
        assert_eq!(coerce(" $1,234.50 ", FieldType::Number).unwrap(), serde_json::json!(1234.5));
        assert_eq!(coerce("42 items", FieldType::Integer).unwrap(), serde_json::json!(42));
        assert_eq!(coerce("Yes", FieldType::Boolean).unwrap(), serde_json::json!(true));
        assert!(coerce("n/a", FieldType::Number).unwrap_err().contains("n/a"));
        assert!(coerce("maybe", FieldType::Boolean).is_err());
    }

    #[test]
    fn nested_lists_are_coerced_with_indexed_paths() {
        let schema: BTreeMap<String, FieldSpec> = serde_json::from_value(serde_json::json!({
            "items": { "selector": "li", "list": true, "fields": { "price": { "selector": ".p", "type": "number" } } }
        }))
        .unwrap();
        let mut data =
            serde_json::json!({ "items": [ { "price": "3.5" }, { "price": "free" } ] }).as_object().cloned().unwrap();
        let mut errors = Vec::new();
        coerce_fields(&mut data, &schema, "", &mut errors);
        assert_eq!(data["items"][0]["price"], serde_json::json!(3.5));
        assert_eq!(data["items"][1]["price"], Value::Null);
        assert_eq!(errors[0].field, "items[1].price");
        assert_eq!(errors[0].code, "schema_mismatch");
    }

    #[test]
    fn an_attribute_field_must_name_its_attribute() {
        let schema: BTreeMap<String, FieldSpec> =
            serde_json::from_value(serde_json::json!({ "link": { "selector": "a", "kind": "attribute" } })).unwrap();
        assert!(page_spec(&schema).unwrap_err().message.contains("`link`"));
    }
}
