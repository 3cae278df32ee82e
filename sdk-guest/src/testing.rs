//! Test helpers for pack authors: call a tool natively, with the same schema
//! checks the host applies, so `cargo test` catches a schema that does not
//! match the code before the pack is ever installed.
//!
//! Tools that use host capabilities (http, artifacts, ...) cannot run
//! natively; test those against a running host (`helmdeck pack test`).

use crate::{PackDefinition, ToolError};
use serde_json::Value;

/// Run `tool` of pack `P` on `input` the way the host would: validate the
/// input against the input schema, call, validate the output against the
/// output schema. Schema violations panic with the failing JSON pointers
/// (this is a test helper); tool errors come back as `Err`.
pub fn call<P: PackDefinition>(tool: &str, input: Value) -> Result<Value, ToolError> {
    let description = P::describe();
    let spec = description
        .tools
        .iter()
        .find(|t| t.name == tool)
        .unwrap_or_else(|| panic!("pack `{}` has no tool `{tool}`", description.name));
    assert_valid(&spec.input_schema, &input, "input");
    let output = P::call(tool, &input.to_string())?;
    let output: Value = serde_json::from_str(&output).expect("tool output is JSON");
    assert_valid(&spec.output_schema, &output, "output");
    Ok(output)
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let validator =
        jsonschema::validator_for(schema).unwrap_or_else(|e| panic!("the {what} schema is not valid JSON Schema: {e}"));
    let errors: Vec<String> = validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match its schema: {errors:?}");
}
