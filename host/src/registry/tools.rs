//! A pack's tools as the host holds them: what `describe` returned, checked,
//! with the input and output schemas compiled into validators once at load.

use super::tool_ref::{is_tool_name, mcp_name};
use crate::{Error, ErrorCode, Result};
use serde::Deserialize;
use serde_json::Value;

/// One tool of a loaded pack.
pub struct Tool {
    /// Name within the pack (`fetch`).
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub output_schema: Value,
    input: jsonschema::Validator,
    output: jsonschema::Validator,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What `describe` returns, as JSON.
#[derive(Debug, Deserialize)]
struct Description {
    name: String,
    version: String,
    tools: Vec<ToolSpec>,
}

#[derive(Debug, Deserialize)]
struct ToolSpec {
    name: String,
    #[serde(default)]
    description: String,
    input_schema: Value,
    output_schema: Value,
}

/// Parse and check a pack's `describe` output against its manifest's name
/// and version. Every problem is `invalid_input` naming the tool and field.
pub fn parse_description(json: &str, pack: &str, version: &semver::Version) -> Result<Vec<Tool>> {
    let bad = |msg: String| Error::invalid_input(format!("pack `{pack}` describes itself wrongly: {msg}"));
    let d: Description =
        serde_json::from_str(json).map_err(|e| bad(format!("describe() did not return the expected JSON: {e}")))?;
    if d.name != pack {
        return Err(bad(format!("it calls itself `{}` but its manifest says `{pack}`", d.name)));
    }
    if d.version != version.to_string() {
        return Err(bad(format!("it reports version {} but its manifest says {version}", d.version)));
    }
    if d.tools.is_empty() {
        return Err(bad("it has no tools".into()));
    }
    let mut tools: Vec<Tool> = Vec::with_capacity(d.tools.len());
    for spec in d.tools {
        if !is_tool_name(&spec.name) {
            return Err(bad(format!("tool name `{}` must be lower snake_case, at most 64 characters", spec.name)));
        }
        if mcp_name(pack, &spec.name).len() > 64 {
            return Err(bad(format!("`{pack}_{}` is longer than the 64 characters MCP allows", spec.name)));
        }
        if tools.iter().any(|t| t.name == spec.name) {
            return Err(bad(format!("tool `{}` is declared twice", spec.name)));
        }
        if spec.input_schema.get("type") != Some(&Value::String("object".into())) {
            return Err(bad(format!(
                "the input schema of `{}` must be a JSON object schema (`\"type\": \"object\"`)",
                spec.name
            )));
        }
        let compile = |schema: &Value, which: &str| {
            jsonschema::validator_for(schema)
                .map_err(|e| bad(format!("the {which} schema of `{}` is not valid JSON Schema: {e}", spec.name)))
        };
        tools.push(Tool {
            input: compile(&spec.input_schema, "input")?,
            output: compile(&spec.output_schema, "output")?,
            name: spec.name,
            description: spec.description,
            input_schema: spec.input_schema,
            output_schema: spec.output_schema,
        });
    }
    Ok(tools)
}

/// One schema violation: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    /// JSON pointer into the instance (`/headers/accept`); empty for the root.
    pub pointer: String,
    pub message: String,
}

impl Tool {
    /// Check a call's input; `invalid_input` listing every violation by JSON pointer.
    pub fn check_input(&self, qualified: &str, input: &Value) -> Result<()> {
        let violations = violations(&self.input, input);
        if violations.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::InvalidInput,
            format!("input for `{qualified}` does not match its schema: {}", summary(&violations)),
        )
        .with_details(serde_json::json!({ "violations": violations })))
    }

    /// Check a pack's output; `schema_mismatch` with the violations and the
    /// output itself, so the caller can still use what came back.
    pub fn check_output(&self, qualified: &str, output: &Value) -> Result<()> {
        let violations = violations(&self.output, output);
        if violations.is_empty() {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::SchemaMismatch,
            format!("`{qualified}` returned output that does not match its own schema: {}", summary(&violations)),
        )
        .with_details(serde_json::json!({ "violations": violations, "output": output })))
    }
}

fn violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<Violation> {
    validator
        .iter_errors(instance)
        .map(|e| Violation { pointer: e.instance_path().to_string(), message: e.to_string() })
        .collect()
}

/// Every violation of `validator` by `instance`, with messages that never
/// quote the instance's values (a request body may carry a secret in the
/// wrong place).
pub(crate) fn masked_violations(validator: &jsonschema::Validator, instance: &Value) -> Vec<Violation> {
    validator
        .iter_errors(instance)
        .map(|e| Violation { pointer: e.instance_path().to_string(), message: e.masked().to_string() })
        .collect()
}

/// The first violations in one line, `(root)` for the instance itself.
pub(crate) fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .take(5)
        .map(|v| format!("{} {}", if v.pointer.is_empty() { "(root)" } else { &v.pointer }, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn describe(tools: Value) -> String {
        json!({"name": "t", "version": "1.0.0", "tools": tools}).to_string()
    }

    fn v1() -> semver::Version {
        semver::Version::new(1, 0, 0)
    }

    fn object(props: Value, required: Value) -> Value {
        json!({"type": "object", "properties": props, "required": required})
    }

    #[test]
    fn input_violations_carry_json_pointers() {
        let schema = object(json!({"url": {"type": "string"}, "n": {"type": "integer", "maximum": 3}}), json!(["url"]));
        let tools = parse_description(
            &describe(json!([{"name": "go", "input_schema": schema, "output_schema": {}}])),
            "t",
            &v1(),
        )
        .unwrap();
        let err = tools[0].check_input("t.go", &json!({"n": 9})).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        let pointers: Vec<String> = err.details.unwrap()["violations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["pointer"].as_str().unwrap().to_owned())
            .collect();
        assert!(pointers.contains(&"/n".to_owned()) && pointers.contains(&String::new()), "{pointers:?}");
        assert!(tools[0].check_input("t.go", &json!({"url": "x"})).is_ok());
    }

    #[test]
    fn output_violations_are_schema_mismatch_with_the_output() {
        let out = object(json!({"n": {"type": "integer"}}), json!(["n"]));
        let tools = parse_description(
            &describe(json!([{"name": "go", "input_schema": {"type": "object"}, "output_schema": out}])),
            "t",
            &v1(),
        )
        .unwrap();
        let err = tools[0].check_output("t.go", &json!({"n": "x"})).unwrap_err();
        assert_eq!(err.code, ErrorCode::SchemaMismatch);
        assert_eq!(err.details.unwrap()["output"], json!({"n": "x"}));
    }

    #[test]
    fn descriptions_that_disagree_with_the_manifest_are_refused() {
        let ok_tool = json!([{"name": "go", "input_schema": {"type": "object"}, "output_schema": {}}]);
        assert!(
            parse_description(&describe(ok_tool.clone()), "other", &v1()).unwrap_err().message.contains("calls itself")
        );
        assert!(
            parse_description(&describe(ok_tool), "t", &semver::Version::new(2, 0, 0))
                .unwrap_err()
                .message
                .contains("version")
        );
        let cases = [
            (json!([]), "no tools"),
            (json!([{"name": "Go", "input_schema": {"type": "object"}, "output_schema": {}}]), "snake_case"),
            (json!([{"name": "go", "input_schema": {"type": "string"}, "output_schema": {}}]), "object schema"),
            (
                json!([{"name": "go", "input_schema": {"type": "object"}, "output_schema": {"type": 7}}]),
                "output schema",
            ),
        ];
        for (tools, expected) in cases {
            let err = parse_description(&describe(tools), "t", &v1()).unwrap_err();
            assert!(err.message.contains(expected), "{expected}: {}", err.message);
        }
    }
}
