//! Example calls from a manifest: what `helmdeck pack test` runs against a
//! live host and the UI's Test Runner offers.
//!
//! An input may contain `${NAME}` placeholders in its strings, filled from
//! variables the runner supplies (`HELMDECK_URL` is always the host's base
//! URL), so an example can target a server that only exists where it runs.
//! A result passes when it contains `expected_output_subset`: objects
//! recursively by key, arrays element by element with equal length, other
//! values by equality.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One example call of a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// What the example shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool input; strings may hold `${NAME}` placeholders.
    pub input: Value,
    /// Every key here must appear with the same value in the output
    /// (recursively for objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output_subset: Option<Value>,
}

impl Example {
    /// The input with every `${NAME}` replaced from `vars`; an unknown name
    /// is an error naming it.
    pub fn input_with(&self, vars: &BTreeMap<String, String>) -> Result<Value, String> {
        substitute(&self.input, vars)
    }

    /// Check `output` against `expected_output_subset` (always passes when
    /// there is none); the error names the JSON pointer that differs.
    pub fn check(&self, output: &Value) -> Result<(), String> {
        match &self.expected_output_subset {
            Some(expected) => contains(output, expected, ""),
            None => Ok(()),
        }
    }
}

fn substitute(value: &Value, vars: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(fill(s, vars)?),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, vars)).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| Ok((k.clone(), substitute(v, vars)?))).collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

fn fill(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').ok_or_else(|| format!("unclosed `${{` in `{text}`"))? + start;
        let name = &rest[start + 2..end];
        let value = vars
            .get(name)
            .ok_or_else(|| format!("the example uses `${{{name}}}`, which is not set; pass --var {name}=VALUE"))?;
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn contains(actual: &Value, expected: &Value, pointer: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected.iter().try_for_each(|(key, want)| {
            let at = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            match actual.get(key) {
                Some(got) => contains(got, want, &at),
                None => Err(format!("`{at}` is missing from the output")),
            }
        }),
        (Value::Array(actual), Value::Array(expected)) if actual.len() == expected.len() => actual
            .iter()
            .zip(expected)
            .enumerate()
            .try_for_each(|(i, (got, want))| contains(got, want, &format!("{pointer}/{i}"))),
        (Value::Array(actual), Value::Array(expected)) => Err(format!(
            "`{}` has {} items, expected {}",
            if pointer.is_empty() { "/" } else { pointer },
            actual.len(),
            expected.len()
        )),
        (got, want) if got == want => Ok(()),
        (got, want) => Err(format!("`{}` is {got}, expected {want}", if pointer.is_empty() { "/" } else { pointer })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(input: Value, expected: Value) -> Example {
        Example { description: None, input, expected_output_subset: Some(expected) }
    }

    #[test]
    fn a_subset_matches_recursively_and_extra_output_keys_are_fine() {
        let e =
            example(json!({}), json!({"status": 200, "headers": {"content-type": "text/plain"}, "tags": [{"a": 1}]}));
        let output = json!({"status": 200, "body": "x", "headers": {"content-type": "text/plain", "x": "y"}, "tags": [{"a": 1, "b": 2}]});
        e.check(&output).unwrap();
    }

    #[test]
    fn a_mismatch_names_the_pointer() {
        let e = example(json!({}), json!({"headers": {"content/type": "a"}, "n": [1, 2]}));
        assert_eq!(
            e.check(&json!({"headers": {}, "n": [1, 2]})).unwrap_err(),
            "`/headers/content~1type` is missing from the output"
        );
        assert_eq!(
            e.check(&json!({"headers": {"content/type": "b"}})).unwrap_err(),
            "`/headers/content~1type` is \"b\", expected \"a\""
        );
        let e = example(json!({}), json!({"n": [1, 2]}));
        assert_eq!(e.check(&json!({"n": [1]})).unwrap_err(), "`/n` has 1 items, expected 2");
        assert_eq!(e.check(&json!({"n": [1, 3]})).unwrap_err(), "`/n/1` is 3, expected 2");
    }

    #[test]
    fn placeholders_fill_from_variables_and_unknown_ones_are_named() {
        let e = example(json!({"url": "${HELMDECK_URL}/healthz", "n": 1, "list": ["${A}${A}"]}), json!({}));
        let vars = BTreeMap::from([
            ("HELMDECK_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
            ("A".to_owned(), "x".to_owned()),
        ]);
        assert_eq!(e.input_with(&vars).unwrap(), json!({"url": "http://127.0.0.1:9/healthz", "n": 1, "list": ["xx"]}));
        let only_url = example(json!({"url": "${HELMDECK_URL}/healthz"}), json!({}));
        let err = only_url.input_with(&BTreeMap::new()).unwrap_err();
        assert!(err.contains("HELMDECK_URL") && err.contains("--var"), "{err}");
    }
}
