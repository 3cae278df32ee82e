//! Pack `http`: one tool, `fetch`, that performs an HTTP(S) request through
//! the host. The host's egress guard decides where it may go; the pack never
//! opens a socket itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
#[cfg(test)]
use helmdeck_sdk::ErrorCode;
use helmdeck_sdk::prelude::*;
use std::collections::BTreeMap;

/// HTTP methods `fetch` accepts.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// One HTTP request.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchInput {
    /// Absolute `http://` or `https://` URL to request; `${vault:NAME}` may
    /// appear in its path or query.
    #[schemars(length(min = 1, max = 8192), regex(pattern = r"^[hH][tT][tT][pP][sS]?://"))]
    pub url: String,
    /// HTTP method; `GET` when absent.
    #[serde(default)]
    pub method: Method,
    /// Request headers, name to value. Write `${vault:NAME}` (or
    /// `${vault:NAME.field}`) where a secret goes, such as
    /// `{"authorization": "Bearer ${vault:github-token}"}`: the host
    /// substitutes it when the credential allows this pack and host.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body as UTF-8 text. Use `body_base64` for binary content; not both.
    pub body: Option<String>,
    /// Request body as standard base64, for binary content.
    pub body_base64: Option<String>,
    /// Deadline for the whole exchange in milliseconds (default 30000).
    #[schemars(range(min = 1, max = 120000))]
    pub timeout_ms: Option<u32>,
    /// Return at most this many body bytes (default 1048576); longer bodies are cut and `truncated` is set.
    #[schemars(range(min = 0, max = 10485760))]
    pub max_bytes: Option<u64>,
    /// Follow redirects (default true); every hop is checked by the egress guard.
    #[serde(default = "follow_default")]
    pub follow_redirects: bool,
}

fn follow_default() -> bool {
    true
}

/// What came back.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FetchOutput {
    /// HTTP status code.
    pub status: u16,
    /// Response headers (lower-case names; repeated headers joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The body as text, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body as standard base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// The body was longer than `max_bytes` and was cut.
    pub truncated: bool,
    /// The URL after redirects.
    pub final_url: String,
    /// How many redirects were followed.
    pub redirects: u32,
}

const DEFAULT_MAX_BYTES: u64 = 1 << 20;

helmdeck_sdk::pack! {
    name: "http";

    /// Perform an HTTP(S) request and return the status, headers and body.
    /// Text bodies come back as `body`, binary ones as `body_base64`.
    /// Private, loopback and cloud-metadata addresses are refused with
    /// `egress_denied` unless the operator allow-listed them.
    /// Secrets: write `${vault:NAME}` in the URL's query, a header value or
    /// the body; the host fills it in for hosts the credential allows
    /// (otherwise `unauthorized`) and masks it in the response.
    fn fetch(input: FetchInput) -> ToolResult<FetchOutput> {
        let body = request_body(&input)?;
        let mut request = http::Request::new(input.method.as_str(), &input.url)
            .max_body_bytes(input.max_bytes.unwrap_or(DEFAULT_MAX_BYTES))
            .follow_redirects(input.follow_redirects);
        if let Some(ms) = input.timeout_ms {
            request = request.timeout_ms(ms);
        }
        for (name, value) in &input.headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send()?;
        Ok(into_output(response))
    }
}

fn request_body(input: &FetchInput) -> ToolResult<Option<Vec<u8>>> {
    match (&input.body, &input.body_base64) {
        (Some(_), Some(_)) => Err(ToolError::invalid_input("give `body` or `body_base64`, not both")),
        (Some(text), None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(b64)) => BASE64
            .decode(b64.trim())
            .map(Some)
            .map_err(|e| ToolError::invalid_input(format!("`body_base64` is not valid base64: {e}"))),
        (None, None) => Ok(None),
    }
}

fn into_output(response: http::Response) -> FetchOutput {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers {
        headers
            .entry(name.to_ascii_lowercase())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let (body, body_base64) = match String::from_utf8(response.body) {
        Ok(text) => (Some(text), None),
        Err(e) => (None, Some(BASE64.encode(e.into_bytes()))),
    };
    FetchOutput {
        status: response.status,
        headers,
        body,
        body_base64,
        truncated: response.truncated,
        final_url: response.final_url,
        redirects: response.redirects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> FetchInput {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn body_and_body_base64_together_are_refused() {
        let i = input(serde_json::json!({"url": "https://x.test/", "body": "a", "body_base64": "YQ=="}));
        assert_eq!(request_body(&i).unwrap_err().code, ErrorCode::InvalidInput);
    }

    #[test]
    fn base64_body_is_decoded() {
        let i = input(serde_json::json!({"url": "https://x.test/", "body_base64": "aGk="}));
        assert_eq!(request_body(&i).unwrap(), Some(b"hi".to_vec()));
    }

    #[test]
    fn binary_bodies_come_back_as_base64_and_repeated_headers_are_joined() {
        let out = into_output(http::Response {
            status: 200,
            headers: vec![("Set-Cookie".into(), "a=1".into()), ("set-cookie".into(), "b=2".into())],
            body: vec![0xff, 0x00],
            truncated: false,
            final_url: "https://x.test/".into(),
            redirects: 0,
        });
        assert_eq!(out.body_base64.as_deref(), Some("/wA="));
        assert!(out.body.is_none());
        assert_eq!(out.headers["set-cookie"], "a=1, b=2");
    }

    #[test]
    fn the_schema_requires_a_url_and_lists_the_methods() {
        let d = Pack::describe();
        let schema = &d.tools[0].input_schema;
        assert_eq!(schema["required"], serde_json::json!(["url"]));
        assert_eq!(schema["properties"]["method"]["enum"][0], "GET");
    }
}
