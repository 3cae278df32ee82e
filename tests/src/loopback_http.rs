//! A tiny HTTP/1.1 server on 127.0.0.1 with std only, one request per
//! connection: enough for `git http-backend` as CGI (chunked request
//! bodies, `Expect: 100-continue`) and for echo fixtures. Each request is
//! handed to a handler that returns status, headers and body; the body is
//! sent as is, with `Content-Length` unless the handler names a
//! `Transfer-Encoding` (then the connection's close ends it).
//!
//! (Overlaps with the e2e branch's axum `HttpFixture`; this one exists
//! because git's smart HTTP needs chunked uploads answered byte-exactly.)

use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One received request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path without the query.
    pub path: String,
    pub query: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A handler shared by the connection threads.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// The server; it stops accepting when dropped (the listener thread ends
/// with the test process).
pub struct LoopbackHttp {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl LoopbackHttp {
    /// Serve `handler` on a free port of 127.0.0.1.
    pub fn start(handler: Handler) -> Result<LoopbackHttp> {
        LoopbackHttp::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), handler)
    }

    /// Serve `handler` on `addr`: another loopback address (a listener the
    /// egress guard must keep packs away from), or a chosen port (0 for a
    /// free one).
    pub fn start_on(addr: SocketAddr, handler: Handler) -> Result<LoopbackHttp> {
        let listener = TcpListener::bind(addr).with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (handler, log) = (handler.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &handler, &log);
                });
            }
        });
        Ok(LoopbackHttp { addr, seen })
    }

    /// `http://ADDRESS:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) -> Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().context("method")?.to_owned(), parts.next().context("target")?.to_owned());
    let (path, query) =
        target.split_once('?').map_or((target.clone(), String::new()), |(p, q)| (p.to_owned(), q.to_owned()));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let mut request = Request { method, path, query, headers, body: Vec::new() };
    if request.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    if request.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        request.body = read_chunked(&mut reader)?;
    } else if let Some(len) = request.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        request.body = vec![0; len];
        reader.read_exact(&mut request.body)?;
    }
    log.lock().unwrap_or_else(|p| p.into_inner()).push(request.clone());
    let response = handler(&request);
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", response.status);
    // A handler that names a transfer coding sends a body delimited by the
    // connection's close, as such a response must be.
    if !response.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("transfer-encoding")) {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&response.body)?;
    writer.flush()?;
    Ok(())
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
        if size == 0 {
            line.clear();
            reader.read_line(&mut line)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
        if !line.trim().is_empty() {
            bail!("bad chunk terminator");
        }
    }
}
