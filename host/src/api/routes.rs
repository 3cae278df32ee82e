//! The REST routes, declared once: each with its handler and its
//! documentation. The router and the OpenAPI document are both built from
//! this table, so they cannot drift apart.

use super::{artifacts, audit, connect, packs};
use crate::app::Helmdeck;
use crate::auth::Scope;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post};
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest tool input accepted over REST.
pub const MAX_CALL_BODY: usize = 16 << 20;
/// Largest pack upload accepted over REST.
pub const MAX_INSTALL_BODY: usize = 256 << 20;

/// One authenticated `/api/v1` operation.
pub struct Route {
    pub method: &'static str,
    /// axum path syntax (`/api/v1/packs/{tool}`), also valid OpenAPI.
    pub path: &'static str,
    pub handler: MethodRouter<Arc<Helmdeck>>,
    pub doc: OperationDoc,
}

/// What the OpenAPI document says about an operation.
pub struct OperationDoc {
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub scope: Scope,
    /// JSON Schema of the request body, when there is one.
    pub request: Option<Value>,
    /// JSON Schema of the success response.
    pub response: Value,
    /// Query parameters: name, description.
    pub query: &'static [(&'static str, &'static str)],
}

/// Every authenticated route.
pub fn api_routes() -> Vec<Route> {
    let any_object = json!({ "type": "object" });
    vec![
        Route {
            method: "GET",
            path: "/api/v1/packs",
            handler: get(packs::list),
            doc: OperationDoc {
                operation_id: "listPacks",
                summary: "Every installed pack (newest version) with its tools, schemas, grants and limits",
                scope: Scope::PacksRead,
                request: None,
                response: json!({ "type": "object", "properties": { "packs": { "type": "array" }, "failures": { "type": "array" } } }),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/packs",
            handler: post(packs::install).layer(DefaultBodyLimit::max(MAX_INSTALL_BODY)),
            doc: OperationDoc {
                operation_id: "installPack",
                summary: "Install (or reinstall) an uploaded pack and load it at once (admin)",
                scope: Scope::Admin,
                request: Some(json!({
                    "type": "object",
                    "required": ["manifest", "component_base64"],
                    "properties": {
                        "manifest": { "type": "string", "description": "helmdeck-pack.yaml text" },
                        "component_base64": { "type": "string", "description": "the .wasm component, base64" },
                        "grants": { "type": "array", "items": { "type": "string" }, "description": "capabilities to grant" }
                    }
                })),
                response: any_object.clone(),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/packs/{name}",
            handler: get(packs::get),
            doc: OperationDoc {
                operation_id: "getPackOrTool",
                summary: "A pack (`http`, `http@0.1.0`) or one tool (`http.fetch`) with its schemas",
                scope: Scope::PacksRead,
                request: None,
                response: any_object.clone(),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/packs/{name}",
            handler: post(packs::call).layer(DefaultBodyLimit::max(MAX_CALL_BODY)),
            doc: OperationDoc {
                operation_id: "callTool",
                summary: "Call a tool (`http.fetch` or `http.fetch@0.1.0`); the body is the tool's input",
                scope: Scope::PacksCall,
                request: Some(any_object.clone()),
                response: call_response(),
                query: &[],
            },
        },
        Route {
            method: "DELETE",
            path: "/api/v1/packs/{name}",
            handler: delete(packs::remove),
            doc: OperationDoc {
                operation_id: "removePack",
                summary: "Unload and delete a pack, or one version of it (admin)",
                scope: Scope::Admin,
                request: None,
                response: any_object.clone(),
                query: &[("version", "remove only this version")],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/packs/{name}/{version}",
            handler: post(packs::call_major).layer(DefaultBodyLimit::max(MAX_CALL_BODY)),
            doc: OperationDoc {
                operation_id: "callToolMajor",
                summary: "Call the newest version of a tool with a given major version; `{version}` is `v1`, `v2`, ...",
                scope: Scope::PacksCall,
                request: Some(any_object.clone()),
                response: call_response(),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/audit",
            handler: get(audit::query),
            doc: OperationDoc {
                operation_id: "queryAudit",
                summary: "Audit records, newest first, filtered and paged",
                scope: Scope::AuditRead,
                request: None,
                response: json!({ "type": "object", "properties": { "records": { "type": "array" }, "next_cursor": { "type": ["string", "null"] } } }),
                query: &[
                    ("actor", "token subject"),
                    ("kind", "api, capability or admin"),
                    ("pack", "pack name"),
                    ("tool", "tool name"),
                    ("capability", "capability, route or admin action"),
                    ("outcome", "ok or an error code"),
                    ("decision", "allow or deny"),
                    ("call_id", "one call's records"),
                    ("since", "RFC 3339 time, inclusive"),
                    ("until", "RFC 3339 time, exclusive"),
                    ("limit", "page size, 1-1000 (default 100)"),
                    ("cursor", "next_cursor of the previous page"),
                ],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/artifacts/{id}",
            handler: get(artifacts::download),
            doc: OperationDoc {
                operation_id: "downloadArtifact",
                summary: "Download an artifact a pack stored (screenshot, PDF, export)",
                scope: Scope::PacksRead,
                request: None,
                response: json!({ "type": "string", "format": "binary" }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/connect/{client}",
            handler: get(connect::get),
            doc: OperationDoc {
                operation_id: "connectSnippets",
                summary: "The configuration that connects an MCP client (claude-code, claude-desktop, gemini-cli, \
                          openclaw, hermes) to this server, in its url and bridge forms",
                scope: Scope::PacksRead,
                request: None,
                response: json!({ "type": "object", "properties": { "client": { "type": "string" }, "url": { "type": "string" }, "snippets": { "type": "array" } } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/openapi.json",
            handler: get(super::openapi::document),
            doc: OperationDoc {
                operation_id: "openapi",
                summary: "This document, including a concrete path per installed tool",
                scope: Scope::PacksRead,
                request: None,
                response: any_object,
                query: &[],
            },
        },
    ]
}

/// What a successful tool call returns.
pub fn call_response() -> Value {
    json!({
        "type": "object",
        "required": ["call_id", "pack", "tool", "version", "duration_ms", "output"],
        "properties": {
            "call_id": { "type": "string" },
            "pack": { "type": "string" },
            "tool": { "type": "string" },
            "version": { "type": "string" },
            "duration_ms": { "type": "number" },
            "output": { "description": "the tool's output, valid against its output schema" }
        }
    })
}
