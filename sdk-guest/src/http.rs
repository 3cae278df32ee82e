//! Outbound HTTP through the host (`helmdeck:host/http`). Requires the `http`
//! capability in the pack's manifest. The host's egress guard checks every
//! request and redirect; `${vault:NAME}` placeholders are substituted by the
//! host, so secrets never reach the pack.

use crate::ToolResult;
use crate::bindings::helmdeck::host::http as wit;

/// A request under construction: `Request::get(url).header("accept", "text/html").send()?`.
#[derive(Debug, Clone)]
pub struct Request {
    inner: wit::Request,
}

/// A response, with the body read (up to the byte limit).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers as received, in order; names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The body bytes (cut at the limit when `truncated`).
    pub body: Vec<u8>,
    /// The body was longer than the byte limit.
    pub truncated: bool,
    /// The URL after redirects.
    pub final_url: String,
    /// How many redirects were followed.
    pub redirects: u32,
}

impl Request {
    /// A request with any method (`GET`, `POST`, ...).
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            inner: wit::Request {
                method: method.to_owned(),
                url: url.to_owned(),
                headers: Vec::new(),
                body: None,
                timeout_ms: None,
                max_body_bytes: None,
                follow_redirects: true,
            },
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Request::new("POST", url)
    }

    /// Add a header (names may repeat).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.inner.headers.push(wit::Header { name: name.to_owned(), value: value.to_owned() });
        self
    }

    /// Set the body bytes.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.inner.body = Some(body.into());
        self
    }

    /// Deadline for the whole exchange (the host caps it).
    pub fn timeout_ms(mut self, ms: u32) -> Self {
        self.inner.timeout_ms = Some(ms);
        self
    }

    /// Read at most this many body bytes (the host caps it).
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.inner.max_body_bytes = Some(bytes);
        self
    }

    /// Follow redirects (the default) or return the 3xx response itself.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.inner.follow_redirects = follow;
        self
    }

    /// Send it. Errors carry the host's code (`egress_denied`, `timeout`, ...).
    pub fn send(self) -> ToolResult<Response> {
        let r = wit::fetch(&self.inner)?;
        Ok(Response {
            status: r.status,
            headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
            body: r.body,
            truncated: r.truncated,
            final_url: r.final_url,
            redirects: r.redirects,
        })
    }
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text when it is valid UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}
