//! Where pack commands go: a running `helmdeck serve` on this data directory
//! (found through its lock and `server.json`), or the data directory itself.

use crate::app::Helmdeck;
use crate::auth::{Scope, TokenKeys};
use crate::config::{Config, DataPaths};
use crate::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

/// What `serve` writes to `server.json` while it runs.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Base URL, e.g. `http://127.0.0.1:8931`.
    pub url: String,
    pub pid: u32,
}

/// The lock a running server holds on its data directory.
pub fn lock_path(paths: &DataPaths) -> std::path::PathBuf {
    paths.root.join("serve.lock")
}

/// Take the data directory's server lock; `None` when another process holds it.
pub fn try_lock(paths: &DataPaths) -> Result<Option<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lock_path(paths))
        .map_err(|e| Error::internal(format!("cannot open the server lock: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::internal(format!("cannot lock the data directory: {e}"))),
    }
}

/// A running server reached over REST with an admin token minted from the
/// data directory's secret (the CLI user can read that secret anyway).
pub struct Remote {
    pub url: String,
    pub client: reqwest::Client,
    token: String,
}

/// Where a command runs.
pub enum Target {
    Remote(Remote),
    Local(Arc<Helmdeck>),
}

impl Target {
    /// The running server when this data directory has one, else the data
    /// directory opened in-process.
    pub async fn connect(config: Config) -> Result<Target> {
        let paths = config.paths();
        paths.create()?;
        match try_lock(&paths)? {
            Some(lock) => {
                // No server: release the lock at once so one can start meanwhile.
                drop(lock);
                Ok(Target::Local(Helmdeck::open(config).await?))
            }
            None => Ok(Target::Remote(Remote::new(&config, &paths)?)),
        }
    }
}

impl Remote {
    fn new(config: &Config, paths: &DataPaths) -> Result<Remote> {
        let info: ServerInfo = std::fs::read(&paths.server_info)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::SessionUnavailable,
                    "a helmdeck server holds this data directory but has not written server.json yet; retry in a moment",
                )
            })?;
        let keys = TokenKeys::load_or_create(config.jwt_secret.as_deref(), &paths.jwt_secret)?;
        let token = keys.issue("cli", &[Scope::Admin].into(), Duration::from_secs(600))?;
        let client =
            reqwest::Client::builder().no_proxy().build().map_err(|e| Error::internal(format!("HTTP client: {e}")))?;
        Ok(Remote { url: info.url, client, token })
    }

    /// Send a request to `path` (under the server's base URL) and decode the
    /// JSON answer; the server's error shape comes back as that [`Error`].
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let response = self.start(method, path, body, None).await?;
        Remote::decode(response).await
    }

    /// POST `body` to `path` asking for a JSON-lines answer and hand each
    /// line to `on_line` until it returns the stream's result; an answer that
    /// is not a stream (an error before it began) is decoded as by [`Remote::send`].
    pub async fn stream<T>(
        &self,
        path: &str,
        body: serde_json::Value,
        mut on_line: impl FnMut(serde_json::Value) -> Option<Result<T>>,
    ) -> Result<T> {
        let mut response = self.start(reqwest::Method::POST, path, Some(body), Some("application/x-ndjson")).await?;
        if !response.status().is_success() {
            return Remote::decode(response).await.and_then(|_| Err(Error::internal("the server did not stream")));
        }
        let broken =
            |e: reqwest::Error| Error::new(ErrorCode::NetworkError, format!("the server's answer broke off: {e}"));
        let mut pending = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(broken)? {
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let value = serde_json::from_slice(&line).map_err(|e| {
                    Error::new(ErrorCode::NetworkError, format!("unreadable progress from the server: {e}"))
                })?;
                if let Some(result) = on_line(value) {
                    return result;
                }
            }
        }
        Err(Error::new(ErrorCode::NetworkError, "the server ended the answer without a result"))
    }

    /// Send a request to `path` and hand back the response as it comes
    /// (status unchecked): for answers that stream.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response> {
        self.start(method, path, body, None).await
    }

    async fn start(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
        accept: Option<&str>,
    ) -> Result<reqwest::Response> {
        let mut request = self.client.request(method, format!("{}{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(accept) = accept {
            request = request.header(reqwest::header::ACCEPT, accept);
        }
        request.send().await.map_err(|e| {
            Error::new(ErrorCode::NetworkError, format!("cannot reach the helmdeck server at {}: {e}", self.url))
        })
    }

    async fn decode(response: reqwest::Response) -> Result<serde_json::Value> {
        let status = response.status();
        let value: serde_json::Value = response
            .json()
            .await
            .map_err(|e| Error::new(ErrorCode::NetworkError, format!("unreadable answer from the server: {e}")))?;
        if status.is_success() {
            return Ok(value);
        }
        serde_json::from_value::<Error>(value["error"].clone())
            .map_err(|_| Error::internal(format!("the server answered {status} without an error body")))
            .and_then(Err)
    }
}
