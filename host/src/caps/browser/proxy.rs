//! The browser's egress boundary: a forward HTTP proxy on a random loopback
//! port, one per session, that every request of the session's browser
//! context goes through (navigations, subresources, XHR/fetch, redirects,
//! and WebSockets and TLS as `CONNECT` tunnels). Each request is vetted by
//! the same [`EgressGuard`] as the `http` capability, connects only to the
//! vetted addresses, and is reported to an observer (the audit log).
//!
//! Chromium cannot go around it: the context names it with
//! `proxyBypassList=<-loopback>`, the browser resolves no names itself
//! (`host-resolver-rules`), QUIC and non-proxied WebRTC are off.

use crate::guard::{EgressGuard, VettedTarget};
use crate::{Error, ErrorCode};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Set on the 403 responses the proxy makes up itself when the guard refuses
/// a destination, so a person reading the page or its headers can tell a
/// refusal from a site's own 403.
pub const DENIED_HEADER: &str = "x-helmdeck-egress";
/// How long connecting to a vetted address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers that belong to one hop and are not forwarded.
const HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
];

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// One request the proxy handled, for the audit log.
#[derive(Debug, Clone)]
pub struct ProxyEvent {
    /// `GET`, `POST`, ... or `CONNECT`.
    pub method: String,
    /// The URL, or `host:port` for a tunnel.
    pub target: String,
    /// The host as requested (to match a failed navigation to its refusal).
    pub host: String,
    /// `Ok` with the upstream status (200 for an open tunnel), or why it failed.
    pub outcome: Result<u16, Error>,
    /// The addresses the guard vetted, when it did.
    pub vetted: Option<String>,
    pub started: Instant,
}

/// Told about every request; must not block.
pub type ProxyObserver = Arc<dyn Fn(ProxyEvent) + Send + Sync>;

/// A running proxy; stops when dropped.
pub struct EgressProxy {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl EgressProxy {
    /// Listen on `127.0.0.1:0` and serve until dropped.
    pub async fn start(guard: Arc<EgressGuard>, observer: ProxyObserver) -> Result<EgressProxy, Error> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| Error::internal(format!("the browser's egress proxy cannot listen: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::internal(format!("egress proxy address: {e}")))?;
        let task = tokio::spawn(accept(listener, guard, observer));
        Ok(EgressProxy { addr, task })
    }

    /// `http://127.0.0.1:PORT`, as Chromium's `proxyServer` wants it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        // Aborting the accept task drops its JoinSet, which aborts every
        // connection (tunnels included) it still serves.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, guard: Arc<EgressGuard>, observer: ProxyObserver) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let (guard, observer) = (guard.clone(), observer.clone());
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (guard, observer) = (guard.clone(), observer.clone());
                async move { Ok::<_, hyper::Error>(handle(req, &guard, &observer).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .preserve_header_case(true)
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let _ = conn.await;
        });
    }
}

async fn handle(req: Request<Incoming>, guard: &EgressGuard, observer: &ProxyObserver) -> Response<ProxyBody> {
    let started = Instant::now();
    let method = req.method().to_string();
    let (target, host) = describe(&req);
    let (response, outcome, vetted) =
        if req.method() == Method::CONNECT { tunnel(req, guard).await } else { forward(req, guard).await };
    observer(ProxyEvent { method, target, host, outcome, vetted, started });
    response
}

/// The target as the audit log shows it, and the host alone.
fn describe(req: &Request<Incoming>) -> (String, String) {
    let host = req.uri().host().unwrap_or_default().to_owned();
    if req.method() == Method::CONNECT {
        return (req.uri().authority().map(|a| a.to_string()).unwrap_or_default(), host);
    }
    (req.uri().to_string(), host)
}

type Handled = (Response<ProxyBody>, Result<u16, Error>, Option<String>);

/// `CONNECT host:port`: vet, connect, answer 200, then relay bytes.
async fn tunnel(req: Request<Incoming>, guard: &EgressGuard) -> Handled {
    let Some((host, port)) = req.uri().authority().map(|a| (a.host().to_owned(), a.port_u16().unwrap_or(443))) else {
        let e = Error::invalid_input("a CONNECT request without host:port");
        return (refusal(StatusCode::BAD_REQUEST, &e), Err(e), None);
    };
    let target = match guard.vet_host(&host, port).await {
        Ok(t) => t,
        Err(e) => return denied(e.into()),
    };
    let vetted = Some(target.to_string());
    let upstream = match connect(&target).await {
        Ok(s) => s,
        Err(e) => return (refusal(StatusCode::BAD_GATEWAY, &e), Err(e), vetted),
    };
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let mut upstream = upstream;
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
        }
    });
    (Response::new(empty()), Ok(200), vetted)
}

/// A plain `http://` request in absolute form: vet, connect, forward.
async fn forward(mut req: Request<Incoming>, guard: &EgressGuard) -> Handled {
    let url = match url::Url::parse(&req.uri().to_string()) {
        Ok(u) if u.scheme() == "http" => u,
        _ => {
            let e = Error::invalid_input(format!("the proxy only forwards absolute http:// URLs, not `{}`", req.uri()));
            return (refusal(StatusCode::BAD_REQUEST, &e), Err(e), None);
        }
    };
    let target = match guard.vet(&url).await {
        Ok(t) => t,
        Err(e) => return denied(e.into()),
    };
    let vetted = Some(target.to_string());
    let stream = match connect(&target).await {
        Ok(s) => s,
        Err(e) => return (refusal(StatusCode::BAD_GATEWAY, &e), Err(e), vetted),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => {
            let e = Error::new(ErrorCode::NetworkError, format!("{}: {e}", target.host()));
            return (refusal(StatusCode::BAD_GATEWAY, &e), Err(e), vetted);
        }
    };
    tokio::spawn(conn);
    let origin_form = url[url::Position::BeforePath..].to_owned();
    *req.uri_mut() = origin_form.parse().unwrap_or_else(|_| hyper::Uri::from_static("/"));
    strip_hop_headers(req.headers_mut());
    match sender.send_request(req).await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            strip_hop_headers(response.headers_mut());
            (response.map(|b| b.boxed()), Ok(status), vetted)
        }
        Err(e) => {
            let e = Error::new(ErrorCode::NetworkError, format!("{} broke the connection: {e}", target.host()));
            (refusal(StatusCode::BAD_GATEWAY, &e), Err(e), vetted)
        }
    }
}

fn denied(e: Error) -> Handled {
    let mut response = refusal(StatusCode::FORBIDDEN, &e);
    response.headers_mut().insert(HeaderName::from_static(DENIED_HEADER), HeaderValue::from_static("denied"));
    (response, Err(e), None)
}

/// Connect to the first vetted address that answers.
async fn connect(target: &VettedTarget) -> Result<TcpStream, Error> {
    let mut last = String::from("no address");
    for addr in target.socket_addrs() {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: timed out"),
        }
    }
    Err(Error::new(ErrorCode::NetworkError, format!("cannot connect to `{}` ({last})", target.host())))
}

fn strip_hop_headers(headers: &mut hyper::HeaderMap) {
    for name in HOP_HEADERS {
        headers.remove(*name);
    }
}

fn refusal(status: StatusCode, e: &Error) -> Response<ProxyBody> {
    let body = format!("Helmdeck refused this request: {}\n", e.message);
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn empty() -> ProxyBody {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}
