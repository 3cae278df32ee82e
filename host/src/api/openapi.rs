//! The OpenAPI 3.1 document at `/api/v1/openapi.json`, generated from the
//! route table and the installed packs: every tool also gets a concrete path
//! with its real input and output schemas.

use super::auth::Caller;
use super::error::ApiError;
use super::routes::{ARTIFACT, JSON, Route, api_routes, call_response, v1_routes};
use super::views::ToolView;
use crate::ErrorCode;
use crate::app::Helmdeck;
use crate::auth::Scope;
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// `GET /api/v1/openapi.json`.
pub async fn document(State(app): State<Arc<Helmdeck>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Scope::PacksRead)?;
    let snapshot = app.registry.snapshot();
    let tools: Vec<ToolView> =
        snapshot.latest().flat_map(|p| p.tools.iter().map(move |t| ToolView::new(p, t))).collect();
    let mut routes = api_routes();
    routes.extend(v1_routes());
    Ok(Json(build(&routes, &tools)))
}

/// The document for `routes` plus one path per tool.
pub fn build(routes: &[Route], tools: &[ToolView]) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert("Error".into(), error_schema());
    schemas.insert("OpenAiError".into(), openai_error_schema());
    let health =
        json!({ "type": "object", "properties": { "status": { "const": "ok" }, "version": { "type": "string" } } });
    let ready = json!({ "type": "object", "properties": {
        "status": { "enum": ["ready", "unavailable"] }, "packs": { "type": "integer" },
        "failed_packs": { "type": "integer" }, "reason": { "type": "string" } } });
    paths.insert(
        "/healthz".into(),
        json!({ "get": open_operation("healthz", "Liveness: the process answers", health, false) }),
    );
    paths.insert(
        "/readyz".into(),
        json!({ "get": open_operation("readyz", "Readiness: database and packs loaded", ready, true) }),
    );
    paths.insert(super::routes::SHARED_ARTIFACT_PATH.into(), json!({ "get": shared_artifact_operation() }));
    for route in routes {
        let entry = paths.entry(route.path).or_insert_with(|| json!({}));
        entry[route.method.to_ascii_lowercase()] = operation(route);
    }
    for tool in tools {
        let path = format!("/api/v1/packs/{}", tool.qualified);
        paths.insert(path, json!({ "post": tool_operation(tool, &mut schemas) }));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Helmdeck API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Typed tools (capability packs) for AI agents. Every /api/v1 route needs a bearer token from `helmdeck token issue`."
        },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT" } },
            "schemas": schemas
        },
        "security": [{ "bearer": [] }]
    })
}

fn operation(route: &Route) -> Value {
    let doc = &route.doc;
    let mut op = json!({
        "operationId": doc.operation_id,
        "summary": doc.summary,
        "description": format!("Requires scope `{}`.", doc.scope),
        "responses": responses(&doc.response, doc.media, errors_of(route)),
    });
    let mut parameters: Vec<Value> = path_params(route.path)
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    parameters.extend(doc.query.iter().map(|(name, description)| {
        json!({ "name": name, "in": "query", "required": false, "description": description, "schema": { "type": "string" } })
    }));
    if !parameters.is_empty() {
        op["parameters"] = Value::Array(parameters);
    }
    if let Some(schema) = &doc.request {
        op["requestBody"] = json!({ "required": false, "content": { "application/json": { "schema": schema } } });
    }
    op
}

fn tool_operation(tool: &ToolView, schemas: &mut Map<String, Value>) -> Value {
    let input = self_contained(&tool.input_schema, &format!("{}.input", tool.qualified), schemas);
    let mut response = call_response();
    response["properties"]["output"] =
        self_contained(&tool.output_schema, &format!("{}.output", tool.qualified), schemas);
    json!({
        "operationId": format!("call_{}", tool.mcp_name),
        "summary": tool.description.lines().next().unwrap_or_default(),
        "description": format!("{}\n\nPack `{}` {}. Requires scope `packs:call`.", tool.description, tool.pack, tool.version),
        "tags": [tool.pack],
        "requestBody": { "required": true, "content": { "application/json": { "schema": input } } },
        "responses": responses(&response, JSON, HELMDECK_ERROR),
    })
}

/// `schema` as it can sit inside the document. A pack's schema is a
/// standalone JSON Schema whose own references (`#/$defs/FieldSpec`, `#`)
/// mean its root; embedded in the document they would resolve against the
/// document's root instead. A schema with such references is lifted whole
/// into `components/schemas` under `name`, its references prefixed with the
/// component's pointer, and referenced from there; any other stays inline.
fn self_contained(schema: &Value, name: &str, schemas: &mut Map<String, Value>) -> Value {
    if !has_local_ref(schema) {
        return schema.clone();
    }
    // Component names allow only `[A-Za-z0-9._-]`.
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    let base = format!("#/components/schemas/{name}");
    let mut lifted = schema.clone();
    rebase_refs(&mut lifted, &base);
    if let Value::Object(root) = &mut lifted {
        // An `$id` would make the rebased references relative to it.
        root.remove("$id");
    }
    schemas.insert(name, lifted);
    json!({ "$ref": base })
}

/// Whether `value` holds a `$ref` into its own document (`#...`).
fn has_local_ref(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.get("$ref").and_then(Value::as_str).is_some_and(|r| r.starts_with('#'))
                || map.values().any(has_local_ref)
        }
        Value::Array(items) => items.iter().any(has_local_ref),
        _ => false,
    }
}

/// Prefixes every local `$ref` in `value` with `base`.
fn rebase_refs(value: &mut Value, base: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref")
                && let Some(pointer) = r.strip_prefix('#')
            {
                *r = format!("{base}{pointer}");
            }
            map.values_mut().for_each(|v| rebase_refs(v, base));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rebase_refs(v, base)),
        _ => {}
    }
}

/// The signed link route: no bearer token, a valid `expires` + `sig` instead.
fn shared_artifact_operation() -> Value {
    let query = |name: &str, description: &str, ty: &str| json!({ "name": name, "in": "query", "required": true, "description": description, "schema": { "type": ty } });
    json!({
        "operationId": "downloadSharedArtifact",
        "summary": "Download an artifact through the signed, expiring link a tool result carries (`download_url`)",
        "security": [],
        "parameters": [
            { "name": "id", "in": "path", "required": true, "schema": { "type": "string" } },
            query("expires", "Unix seconds when the link expires", "integer"),
            query("sig", "hex HMAC-SHA256 of the path and expiry", "string"),
        ],
        "responses": responses(&json!({ "type": "string", "format": "binary" }), ARTIFACT, HELMDECK_ERROR),
    })
}

/// `/healthz` and `/readyz`: JSON always; a query parameter is refused,
/// and readiness answers 503 (with the same shape) when it is not ready.
fn open_operation(id: &str, summary: &str, schema: Value, can_be_unavailable: bool) -> Value {
    let mut responses = json!({
        "200": { "description": "OK", "content": { "application/json": { "schema": schema } } },
        "400": { "description": "invalid_input: a query parameter the route does not take",
                 "content": { "application/json": { "schema": { "$ref": HELMDECK_ERROR } } } },
    });
    if can_be_unavailable {
        responses["503"] = json!({ "description": "Not ready: the database does not answer",
                                   "content": { "application/json": { "schema": schema } } });
    }
    json!({ "operationId": id, "summary": summary, "security": [], "responses": responses })
}

/// Helmdeck's error shape.
const HELMDECK_ERROR: &str = "#/components/schemas/Error";
/// OpenAI's error shape, which the gateway's `/v1` routes answer.
const OPENAI_ERROR: &str = "#/components/schemas/OpenAiError";

/// The error shape `route` answers in.
fn errors_of(route: &Route) -> &'static str {
    if route.path.starts_with("/v1/") { OPENAI_ERROR } else { HELMDECK_ERROR }
}

/// The success under each of `media` (JSON is `success`, any other is
/// bytes), then every status of the closed error set in `error`'s shape:
/// any route can be refused (401, 403, 429), miss (404) or fail (5xx).
fn responses(success: &Value, media: &[&str], error: &str) -> Value {
    let content: Map<String, Value> = media
        .iter()
        .map(|&m| {
            let schema =
                if m == "application/json" { success.clone() } else { json!({ "type": "string", "format": "binary" }) };
            (m.to_owned(), json!({ "schema": schema }))
        })
        .collect();
    let mut out = Map::new();
    out.insert("200".into(), json!({ "description": "Success", "content": content }));
    let mut statuses: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.http_status()).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let codes: Vec<&str> =
            ErrorCode::ALL.iter().filter(|c| c.http_status() == status).map(|c| c.as_str()).collect();
        out.insert(
            status.to_string(),
            json!({
                "description": codes.join(" or "),
                "content": { "application/json": { "schema": { "$ref": error } } }
            }),
        );
    }
    Value::Object(out)
}

/// OpenAI's error object, with the closed set's code (`openai::error_body`).
fn openai_error_schema() -> Value {
    wrapped_error(&["message", "type", "code"], json!({ "type": { "type": "string" }, "param": { "type": "null" } }))
}

/// Helmdeck's error object (`api::error`).
fn error_schema() -> Value {
    wrapped_error(&["code", "message"], json!({ "call_id": { "type": "string" } }))
}

/// `{ "error": { code, message, details, retry_after_ms, ...extra } }`, the
/// part both error shapes share.
fn wrapped_error(required: &[&str], extra: Value) -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut properties = json!({
        "code": { "type": "string", "enum": codes },
        "message": { "type": "string" },
        "details": {},
        "retry_after_ms": { "type": "integer" }
    });
    if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        all.extend(extra);
    }
    json!({
        "type": "object",
        "required": ["error"],
        "properties": { "error": { "type": "object", "required": required, "properties": properties } }
    })
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
