//! Where catalogs and their files come from: the local filesystem or
//! HTTP(S). [`Location`] is the seam for more sources: an OCI registry
//! (`oci://registry/repo`) parses already and is refused with a clear
//! message; supporting it means one more arm in [`Fetcher::fetch`] that pulls
//! the blob a catalog URL names, nothing above this module changes.
//!
//! Every read is bounded: HTTP(S) goes through the [`GuardedHttpClient`]
//! (the egress guard vets every hop, redirects included, and the body is cut
//! at the cap), and local files are opened without waiting for a writer and
//! read only if they are regular files, at most the cap. A catalog's index is
//! the operator's configuration, so its own origin (exact host and port) is
//! open for that catalog's files whatever the allowlist says; anything else
//! it names must pass the guard as a pack's request would. A catalog served
//! over HTTP(S) may not name a `file:` reference: it would read this
//! machine's disk on a remote party's say-so. Contents are verified by
//! digest and signature before anything is used.

use super::MarketError;
use crate::caps::http::client::{GuardedHttpClient, HopRecord, HttpLimits, OutboundRequest};
use crate::guard::EgressGuard;
use helmdeck_marketplace::CATALOG_FILE;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The largest catalog index or manifest accepted.
pub const MAX_INDEX_BYTES: u64 = 8 << 20;
/// The largest component accepted (the REST upload limit).
pub const MAX_COMPONENT_BYTES: u64 = crate::api::routes::MAX_INSTALL_BODY as u64;
/// The deadline of one catalog download (a 256 MiB component on a slow link).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Reports download progress. The CLI draws a bar; the server logs.
pub trait Progress: Send + Sync {
    /// A download of `label` starts; `total` bytes when known.
    fn start(&self, label: &str, total: Option<u64>);
    /// `bytes` more arrived.
    fn advance(&self, bytes: u64);
    /// The download finished.
    fn finish(&self);
    /// A step that is not a download (`verifying`, `compiling`).
    fn step(&self, what: &str);
}

/// Progress that nobody watches (REST installs, the first-start install).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, label: &str, total: Option<u64>) {
        tracing::debug!(label, total, "download started");
    }
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
    fn step(&self, what: &str) {
        tracing::debug!(what, "install step");
    }
}

/// A catalog's location, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A catalog on disk or served over HTTP(S): the URL of its `index.yaml`.
    Url(Url),
    /// An OCI registry reference (not supported yet).
    Oci(String),
}

impl Location {
    /// Parse what an operator typed: an `http(s)://` URL, a `file://` URL,
    /// `oci://…`, or a path (relative paths are made absolute). A directory
    /// means its `index.yaml`.
    pub fn parse(text: &str) -> Result<Location, MarketError> {
        let bad = |why: String| MarketError::Location(format!("catalog location `{text}` {why}"));
        if let Some(reference) = text.strip_prefix("oci://") {
            return Ok(Location::Oci(reference.to_owned()));
        }
        if text.starts_with("http://") || text.starts_with("https://") {
            let mut url = Url::parse(text).map_err(|e| bad(format!("is not a URL: {e}")))?;
            if !url.path().ends_with(".yaml") && !url.path().ends_with(".yml") {
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                url = url.join(CATALOG_FILE).map_err(|e| bad(e.to_string()))?;
            }
            return Ok(Location::Url(url));
        }
        let path = match text.strip_prefix("file://") {
            Some(_) => Url::parse(text)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| bad("is not a file URL".into()))?,
            None => std::path::PathBuf::from(text),
        };
        let path = std::path::absolute(&path).map_err(|e| bad(format!("cannot be made absolute: {e}")))?;
        let index =
            if path.extension().is_some_and(|e| e == "yaml" || e == "yml") { path } else { path.join(CATALOG_FILE) };
        Url::from_file_path(&index).map(Location::Url).map_err(|()| bad("is not an absolute path".into()))
    }

    /// The location as stored and shown.
    pub fn as_string(&self) -> String {
        match self {
            Location::Url(url) => url.to_string(),
            Location::Oci(reference) => format!("oci://{reference}"),
        }
    }

    /// The URL of the catalog's `index.yaml`, which relative URLs in it resolve against.
    pub fn index_url(&self) -> Result<&Url, MarketError> {
        match self {
            Location::Url(url) => Ok(url),
            Location::Oci(reference) => Err(MarketError::Location(format!(
                "catalog `oci://{reference}` is an OCI registry, which this Helmdeck cannot read yet; publish the \
                 catalog to a directory or an HTTP(S) server"
            ))),
        }
    }
}

/// Downloads files named by catalog URLs, through the egress guard.
#[derive(Clone)]
pub struct Fetcher {
    guard: Arc<EgressGuard>,
}

impl Fetcher {
    /// A fetcher whose HTTP(S) downloads pass `guard` (the server's, or one
    /// built from the same configuration by the CLI).
    pub fn new(guard: Arc<EgressGuard>) -> Fetcher {
        Fetcher { guard }
    }

    /// The bytes at `url` (`file:` or `http(s):`), named by the catalog
    /// whose `index.yaml` is at `index`, at most `limit`, reporting progress
    /// under `label`.
    pub async fn fetch(
        &self,
        index: &Url,
        url: &Url,
        limit: u64,
        progress: &dyn Progress,
        label: &str,
    ) -> Result<Vec<u8>, MarketError> {
        match url.scheme() {
            "file" if index.scheme() != "file" => Err(MarketError::Location(format!(
                "`{url}`: catalog `{index}` is served over {}, so it may not name a `file:` reference (that would \
                 read this machine's disk); its files must be served too",
                index.scheme()
            ))),
            "file" => {
                let path =
                    url.to_file_path().map_err(|()| MarketError::Fetch(format!("`{url}` is not a local path")))?;
                read_file(path, limit, progress, label).await
            }
            "http" | "https" => self.download(index, url, limit, progress, label).await,
            other => Err(MarketError::Location(format!(
                "`{url}`: the `{other}` scheme is not supported; catalogs are read from files and HTTP(S)"
            ))),
        }
    }

    async fn download(
        &self,
        index: &Url,
        url: &Url,
        limit: u64,
        progress: &dyn Progress,
        label: &str,
    ) -> Result<Vec<u8>, MarketError> {
        // Only a catalog on a server opens that server; a local catalog's
        // HTTP references pass the guard as they are.
        let guard =
            if index.scheme() == "file" { Arc::clone(&self.guard) } else { Arc::new(self.guard.opening(index)) };
        let limits = HttpLimits {
            default_timeout: DOWNLOAD_TIMEOUT,
            max_timeout: DOWNLOAD_TIMEOUT,
            default_body_bytes: limit,
            max_body_bytes: limit,
        };
        let client = GuardedHttpClient::new(guard, limits).map_err(MarketError::Transfer)?;
        let request =
            OutboundRequest { url: url.to_string(), max_body_bytes: Some(limit), ..OutboundRequest::default() };
        let mut on_hop = |hop: &HopRecord| -> Result<(), crate::Error> {
            tracing::debug!(url = %hop.url, decision = ?hop.decision, reason = %hop.reason, "catalog download hop");
            Ok(())
        };
        let response = client.fetch(request, &mut |_| Ok(()), &mut on_hop).await.map_err(MarketError::Transfer)?;
        if !(200..300).contains(&response.status) {
            return Err(MarketError::Fetch(format!("`{url}` answered {}", response.status)));
        }
        if response.truncated {
            return Err(too_large(url, limit));
        }
        // The guarded client reads the body whole (bounded); progress is reported once it is in.
        progress.start(label, Some(response.body.len() as u64));
        progress.advance(response.body.len() as u64);
        progress.finish();
        Ok(response.body.to_vec())
    }
}

async fn read_file(
    path: std::path::PathBuf,
    limit: u64,
    progress: &dyn Progress,
    label: &str,
) -> Result<Vec<u8>, MarketError> {
    let bytes = tokio::task::spawn_blocking(move || read_bounded(&path, limit))
        .await
        .map_err(|e| MarketError::Storage(format!("file read task failed: {e}")))??;
    progress.start(label, Some(bytes.len() as u64));
    progress.advance(bytes.len() as u64);
    progress.finish();
    Ok(bytes)
}

/// At most `limit` bytes of the regular file at `path`. Opened non-blocking
/// so that a FIFO does not wait for a writer, then judged by the open file
/// (no race with a swap of the path): a FIFO, a device (`/dev/zero`) or a
/// socket is refused, and a file that grows while read stops at the limit.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, MarketError> {
    use std::os::unix::fs::OpenOptionsExt;
    let unreadable = |e: std::io::Error| MarketError::Fetch(format!("cannot read `{}`: {e}", path.display()));
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(MarketError::Fetch(format!(
            "`{}` is not a regular file (a FIFO, device or socket); catalogs are made of regular files",
            path.display()
        )));
    }
    let too_large = || MarketError::Fetch(format!("`{}` is larger than the {limit}-byte limit", path.display()));
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

fn too_large(url: &Url, limit: u64) -> MarketError {
    MarketError::Fetch(format!("`{url}` is larger than the {limit}-byte limit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_normalise_to_the_index_url() {
        let http = Location::parse("http://127.0.0.1:9/catalog").unwrap();
        assert_eq!(http.as_string(), "http://127.0.0.1:9/catalog/index.yaml");
        let explicit = Location::parse("https://example.invalid/c/index.yaml").unwrap();
        assert_eq!(explicit.as_string(), "https://example.invalid/c/index.yaml");
        let dir = Location::parse("/srv/catalog").unwrap();
        assert_eq!(dir.as_string(), "file:///srv/catalog/index.yaml");
        let relative = Location::parse("catalog").unwrap();
        assert!(relative.as_string().starts_with("file:///") && relative.as_string().ends_with("/catalog/index.yaml"));
    }

    #[test]
    fn oci_locations_parse_but_are_refused_with_advice() {
        let oci = Location::parse("oci://ghcr.io/acme/packs").unwrap();
        let err = oci.index_url().unwrap_err().to_string();
        assert!(err.contains("OCI") && err.contains("HTTP"), "{err}");
    }
}
