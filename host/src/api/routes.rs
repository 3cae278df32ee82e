//! The REST routes, declared once: each with its handler and its
//! documentation. The router and the OpenAPI document are both built from
//! this table, so they cannot drift apart.

use super::{artifacts, audit, connect, marketplace, openai, packs, providers, sessions, vault};
use crate::app::Helmdeck;
use crate::auth::Scope;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest tool input accepted over REST.
pub const MAX_CALL_BODY: usize = 16 << 20;
/// The public, signed download route (outside `/api/v1`: no bearer token).
pub const SHARED_ARTIFACT_PATH: &str = "/shared/artifacts/{id}";
/// The query parameters of [`SHARED_ARTIFACT_PATH`]: name, description.
pub const SHARED_ARTIFACT_QUERY: &[(&str, &str)] =
    &[("expires", "Unix seconds when the link expires"), ("sig", "hex HMAC-SHA256 of the path and expiry")];

/// A success that is JSON only.
pub const JSON: &[&str] = &["application/json"];
/// An artifact download: the bytes with the media type the pack stored.
pub const ARTIFACT: &[&str] = &["*/*"];

/// Largest pack upload accepted over REST.
pub const MAX_INSTALL_BODY: usize = 256 << 20;

/// Largest chat request accepted by the gateway (inline images make them big).
pub const MAX_CHAT_BODY: usize = 32 << 20;

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
    /// Media types a success can carry: `response` describes the JSON one;
    /// the others (a progress stream, an artifact's own type) are bytes.
    pub media: &'static [&'static str],
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
                media: JSON,
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
                media: JSON,
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
                media: JSON,
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
                media: JSON,
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
                media: JSON,
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
                media: JSON,
                response: call_response(),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/sessions",
            handler: post(sessions::create),
            doc: OperationDoc {
                operation_id: "createSession",
                summary: "Open a session; pass its id as `_session_id` in tool inputs to keep state across calls",
                scope: Scope::PacksCall,
                request: Some(json!({
                    "type": "object",
                    "properties": {
                        "timeout_secs": { "type": "integer", "minimum": 1, "maximum": 86400 },
                        "max_tasks": { "type": "integer", "minimum": 1 },
                        "viewport": { "type": "object", "properties": { "width": { "type": "integer" }, "height": { "type": "integer" } } },
                        "user_agent": { "type": "string" },
                        "locale": { "type": "string" },
                        "memory_mb": { "type": "integer", "minimum": 1 },
                        "cpus": { "type": "number" }
                    }
                })),
                media: JSON,
                response: session_record(),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/sessions",
            handler: get(sessions::list),
            doc: OperationDoc {
                operation_id: "listSessions",
                summary: "The caller's sessions",
                scope: Scope::PacksCall,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "sessions": { "type": "array", "items": session_record() } } }),
                query: &[("all", "true to include closed sessions")],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/sessions/{id}",
            handler: get(sessions::get),
            doc: OperationDoc {
                operation_id: "getSession",
                summary: "One of the caller's sessions",
                scope: Scope::PacksCall,
                request: None,
                media: JSON,
                response: session_record(),
                query: &[],
            },
        },
        Route {
            method: "DELETE",
            path: "/api/v1/sessions/{id}",
            handler: delete(sessions::delete),
            doc: OperationDoc {
                operation_id: "deleteSession",
                summary: "Close a session and free what it holds",
                scope: Scope::PacksCall,
                request: None,
                media: JSON,
                response: session_record(),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/marketplace",
            handler: get(marketplace::list),
            doc: OperationDoc {
                operation_id: "listMarketplace",
                summary: "Registered catalogs and the packs they offer, with install state and available upgrades",
                scope: Scope::PacksRead,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "catalogs": { "type": "array" } } }),
                query: &[
                    ("refresh", "`true` fetches every catalog index now"),
                    ("q", "search name, description, category, tags"),
                ],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/marketplace/install",
            handler: post(marketplace::install),
            doc: OperationDoc {
                operation_id: "installFromMarketplace",
                summary: "Download a pack from a catalog, verify its signature and digests, and hot-load it (admin); with `Accept: application/x-ndjson` the progress streams as JSON lines ending in `done` or `error`",
                scope: Scope::Admin,
                request: Some(json!({
                    "type": "object",
                    "required": ["pack"],
                    "additionalProperties": false,
                    "properties": {
                        "pack": { "type": "string", "description": "`name` or `name@version`" },
                        "catalog": { "type": "string", "description": "catalog to install from, when several offer the pack" },
                        "grants": { "type": "array", "items": { "type": "string" }, "description": "capabilities to grant" },
                        "allow_downgrade": { "type": "boolean", "description": "install although a newer version is installed" }
                    }
                })),
                media: &["application/json", super::marketplace::NDJSON],
                response: any_object.clone(),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/marketplace/upgrade",
            handler: post(marketplace::upgrade),
            doc: OperationDoc {
                operation_id: "upgradeFromMarketplace",
                summary: "Upgrade a pack (or every pack installed from a catalog) to its catalog's newest version (admin)",
                scope: Scope::Admin,
                request: Some(json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "pack": { "type": "string", "description": "pack name; all catalog-installed packs when absent" },
                        "grants": { "type": "array", "items": { "type": "string" }, "description": "capabilities to grant beyond the installed version's" }
                    }
                })),
                media: JSON,
                response: json!({ "type": "object", "properties": { "packs": { "type": "array" } } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/browsers",
            handler: get(sessions::browsers),
            doc: OperationDoc {
                operation_id: "browserPool",
                summary: "The session browser pool: runtime, running browsers (runtime ids), open contexts, crashes (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": {
                    "runtime": { "type": "string" },
                    "enforces_limits": { "type": "boolean", "description": "whether sessions' memory_mb and cpus are enforced" },
                    "can_exec": { "type": "boolean" },
                    "stats": { "type": "object", "properties": {
                        "browsers": { "type": "integer" }, "contexts": { "type": "integer" }, "crashes": { "type": "integer" } } },
                    "spare_contexts": { "type": "integer", "description": "contexts made ahead for the next session (counted in stats.contexts)" },
                    "instances": { "type": "array", "items": { "type": "string" } },
                    "sandbox": { "type": ["object", "null"], "description": "how the browsers are confined", "properties": {
                        "chromium_sandbox": { "type": "boolean" },
                        "no_sandbox_reason": { "type": "string", "description": "why Chromium's sandbox is off, when it is" },
                        "users": { "type": "array", "items": { "type": "integer" }, "description": "uids the running browsers run as (empty: the server's own)" } } }
                } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/vault/credentials",
            handler: get(vault::list),
            doc: OperationDoc {
                operation_id: "listCredentials",
                summary: "Every vault credential's metadata and masked hint, never a value (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "credentials": { "type": "array", "items": credential_meta() } } }),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/vault/credentials",
            handler: post(vault::add),
            doc: OperationDoc {
                operation_id: "addCredential",
                summary: "Add a credential; the secret is sealed at once and never shown again (admin)",
                scope: Scope::Admin,
                request: Some(credential_input()),
                media: JSON,
                response: credential_meta(),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/vault/credentials/{name}",
            handler: get(vault::get),
            doc: OperationDoc {
                operation_id: "getCredential",
                summary: "One credential's metadata (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: credential_meta(),
                query: &[],
            },
        },
        Route {
            method: "PUT",
            path: "/api/v1/vault/credentials/{name}",
            handler: put(vault::update),
            doc: OperationDoc {
                operation_id: "updateCredential",
                summary: "Change a credential's patterns, ACLs, description or secret; absent fields stay (admin)",
                scope: Scope::Admin,
                request: Some(json!({
                    "type": "object",
                    "properties": {
                        "description": { "type": "string" },
                        "hosts": { "type": "array", "items": { "type": "string" } },
                        "packs": { "type": "array", "items": { "type": "string" } },
                        "subjects": { "type": "array", "items": { "type": "string" } },
                        "kind": { "type": "string" },
                        "secret": { "type": "object" }
                    }
                })),
                media: JSON,
                response: credential_meta(),
                query: &[],
            },
        },
        Route {
            method: "DELETE",
            path: "/api/v1/vault/credentials/{name}",
            handler: delete(vault::remove),
            doc: OperationDoc {
                operation_id: "removeCredential",
                summary: "Remove a credential (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "name": { "type": "string" }, "removed": { "type": "boolean" } } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/providers",
            handler: get(providers::list),
            doc: OperationDoc {
                operation_id: "listProviders",
                summary: "The AI gateway's providers (wire format, base URL, models, where the key comes from, never \
                          the key; health), aliases and fallback chains (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": {
                    "providers": { "type": "array" }, "aliases": { "type": "object" }, "fallbacks": { "type": "object" } } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/api/v1/providers/usage",
            handler: get(providers::usage),
            doc: OperationDoc {
                operation_id: "providerUsage",
                summary: "Gateway usage per provider, model and alias: calls, errors by code, tokens, latency \
                          percentiles (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "usage": { "type": "array" } } }),
                query: &[],
            },
        },
        Route {
            method: "POST",
            path: "/api/v1/providers/{provider}/test",
            handler: post(providers::test),
            doc: OperationDoc {
                operation_id: "testProvider",
                summary: "Check a provider's key with its cheapest authenticated call (its model listing) (admin)",
                scope: Scope::Admin,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": {
                    "provider": { "type": "string" }, "ok": { "type": "boolean" }, "latency_ms": { "type": "number" },
                    "key_from": { "type": "string" }, "error": { "type": "object" } } }),
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
                media: JSON,
                response: json!({ "type": "object", "properties": { "records": { "type": "array" }, "next_cursor": { "type": ["string", "null"] } } }),
                query: &[
                    ("actor", "token subject"),
                    ("kind", "api, capability or admin"),
                    ("pack", "pack name"),
                    ("tool", "tool name"),
                    ("capability", "capability, route or admin action"),
                    ("outcome", "ok, cancelled or an error code"),
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
                media: ARTIFACT,
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
                media: JSON,
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
                media: JSON,
                response: any_object,
                query: &[],
            },
        },
    ]
}

/// The AI gateway's OpenAI-compatible routes: authenticated like `/api/v1`,
/// answering errors in OpenAI's shape.
pub fn v1_routes() -> Vec<Route> {
    vec![
        Route {
            method: "POST",
            path: "/v1/chat/completions",
            handler: post(openai::chat_completions).layer(DefaultBodyLimit::max(MAX_CHAT_BODY)),
            doc: OperationDoc {
                operation_id: "chatCompletions",
                summary: "OpenAI-compatible chat completion through the AI gateway: `model` is an alias or \
                          `provider/model`; `stream: true` answers server-sent `data:` chunks ending in `[DONE]`; \
                          the answering model is in `model` and the `x-helmdeck-model` header",
                scope: Scope::LlmCall,
                request: Some(json!({
                    "type": "object",
                    "required": ["model", "messages"],
                    "properties": {
                        "model": { "type": "string" },
                        "messages": { "type": "array", "items": { "type": "object" } },
                        "stream": { "type": "boolean" },
                        "tools": { "type": "array" },
                        "tool_choice": {},
                        "response_format": { "type": "object" },
                        "temperature": { "type": "number" },
                        "max_tokens": { "type": "integer" },
                        "max_completion_tokens": { "type": "integer" },
                        "stop": {}
                    }
                })),
                media: &["application/json", "text/event-stream"],
                response: json!({ "type": "object", "properties": {
                    "id": { "type": "string" }, "object": { "const": "chat.completion" }, "model": { "type": "string" },
                    "choices": { "type": "array" }, "usage": { "type": "object" } } }),
                query: &[],
            },
        },
        Route {
            method: "GET",
            path: "/v1/models",
            handler: get(openai::models),
            doc: OperationDoc {
                operation_id: "listModels",
                summary: "The gateway's aliases and the configured models of every usable provider, OpenAI's list shape",
                scope: Scope::LlmCall,
                request: None,
                media: JSON,
                response: json!({ "type": "object", "properties": { "object": { "const": "list" }, "data": { "type": "array" } } }),
                query: &[],
            },
        },
    ]
}

/// What an operator sends to add a credential.
fn credential_input() -> Value {
    json!({
        "type": "object",
        "required": ["name", "kind", "hosts", "packs", "secret"],
        "properties": {
            "name": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$", "description": "what packs write in `${vault:NAME}`" },
            "kind": { "type": "string", "enum": ["login", "cookies", "api_key", "oauth", "ssh_key", "basic", "provider_key"] },
            "description": { "type": "string" },
            "hosts": { "type": "array", "items": { "type": "string" }, "minItems": 1,
                       "description": "host patterns `[scheme://]host[:port][/path-prefix]`: `api.example.com`, `*.example.com` and `*` match https and ssh only; `https://git.example.com/org/`; plain http only where named: `http://127.0.0.1`" },
            "packs": { "type": "array", "items": { "type": "string" }, "minItems": 1, "description": "packs allowed to use it, `*` for any" },
            "subjects": { "type": "array", "items": { "type": "string" }, "description": "token subjects allowed to use it; empty for any" },
            "secret": {
                "type": "object",
                "description": "by kind: login {username,password,login_url?}; cookies {cookies:[{name,value,domain?,path?}]}; \
                                api_key {token,username?}; oauth {client_id,client_secret,token_url,refresh_token,access_token?,expires_at?}; \
                                ssh_key {private_key,passphrase?,username?,host_key?}; basic {username,password}; \
                                provider_key {provider,key} (used only by the AI gateway)"
            }
        }
    })
}

/// A credential as the API shows it: metadata and a masked hint.
fn credential_meta() -> Value {
    json!({
        "type": "object",
        "required": ["name", "kind", "hosts", "packs", "subjects", "hint", "created_at", "updated_at"],
        "properties": {
            "name": { "type": "string" },
            "kind": { "type": "string" },
            "description": { "type": "string" },
            "hosts": { "type": "array", "items": { "type": "string" } },
            "packs": { "type": "array", "items": { "type": "string" } },
            "subjects": { "type": "array", "items": { "type": "string" } },
            "hint": { "type": "string", "description": "masked, never the value" },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
            "last_used_at": { "type": ["string", "null"], "format": "date-time" }
        }
    })
}

/// A session as the API shows it.
fn session_record() -> Value {
    json!({
        "type": "object",
        "required": ["id", "owner", "state", "tasks", "created_at", "expires_at"],
        "properties": {
            "id": { "type": "string" },
            "owner": { "type": "string" },
            "state": { "type": "string", "enum": ["active", "closed"] },
            "ephemeral": { "type": "boolean" },
            "spec": { "type": "object" },
            "tasks": { "type": "integer" },
            "created_at": { "type": "string", "format": "date-time" },
            "expires_at": { "type": "string", "format": "date-time" },
            "closed_at": { "type": ["string", "null"], "format": "date-time" },
            "close_reason": { "type": ["string", "null"] }
        }
    })
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
            "session_id": { "type": "string", "description": "the session the call named with `_session_id`" },
            "duration_ms": { "type": "number" },
            "output": { "description": "the tool's output, valid against its output schema" }
        }
    })
}
