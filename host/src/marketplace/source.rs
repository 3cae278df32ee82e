//! Where catalogs and their files come from: the local filesystem or
//! HTTP(S). [`Location`] is the seam for more sources: an OCI registry
//! (`oci://registry/repo`) parses already and is refused with a clear
//! message; supporting it means one more arm in [`Fetcher::fetch`] that pulls
//! the blob a catalog URL names, nothing above this module changes.
//!
//! Catalog downloads are the operator's configuration, not a pack's egress,
//! so they do not pass the egress guard; they are size-capped and their
//! contents are verified by digest and signature before anything is used.

use super::MarketError;
use helmdeck_marketplace::CATALOG_FILE;
use std::path::Path;
use std::time::Duration;
use url::Url;

/// The largest catalog index or manifest accepted.
pub const MAX_INDEX_BYTES: u64 = 8 << 20;
/// The largest component accepted (the REST upload limit).
pub const MAX_COMPONENT_BYTES: u64 = crate::api::routes::MAX_INSTALL_BODY as u64;

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

/// Downloads files named by catalog URLs.
#[derive(Clone)]
pub struct Fetcher {
    http: reqwest::Client,
}

impl Fetcher {
    /// A fetcher with a connect timeout and no proxy surprises.
    pub fn new() -> crate::Result<Fetcher> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("helmdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::internal(format!("catalog HTTP client: {e}")))?;
        Ok(Fetcher { http })
    }

    /// The bytes at `url` (`file:` or `http(s):`), at most `limit`, reporting
    /// progress under `label`.
    pub async fn fetch(
        &self,
        url: &Url,
        limit: u64,
        progress: &dyn Progress,
        label: &str,
    ) -> Result<Vec<u8>, MarketError> {
        match url.scheme() {
            "file" => {
                let path =
                    url.to_file_path().map_err(|()| MarketError::Fetch(format!("`{url}` is not a local path")))?;
                read_file(&path, limit, progress, label).await
            }
            "http" | "https" => self.download(url, limit, progress, label).await,
            other => Err(MarketError::Location(format!(
                "`{url}`: the `{other}` scheme is not supported; catalogs are read from files and HTTP(S)"
            ))),
        }
    }

    async fn download(
        &self,
        url: &Url,
        limit: u64,
        progress: &dyn Progress,
        label: &str,
    ) -> Result<Vec<u8>, MarketError> {
        let failed = |e: reqwest::Error| MarketError::Fetch(format!("`{url}`: {e}"));
        let mut response = self.http.get(url.clone()).send().await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(MarketError::Fetch(format!("`{url}` answered {}", response.status())));
        }
        let total = response.content_length();
        if total.is_some_and(|n| n > limit) {
            return Err(too_large(url, limit));
        }
        progress.start(label, total);
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large(url, limit));
            }
            body.extend_from_slice(&chunk);
            progress.advance(chunk.len() as u64);
        }
        progress.finish();
        Ok(body)
    }
}

async fn read_file(path: &Path, limit: u64, progress: &dyn Progress, label: &str) -> Result<Vec<u8>, MarketError> {
    let unreadable = |e: std::io::Error| MarketError::Fetch(format!("cannot read `{}`: {e}", path.display()));
    let size = tokio::fs::metadata(path).await.map_err(unreadable)?.len();
    if size > limit {
        return Err(MarketError::Fetch(format!("`{}` is larger than the {limit}-byte limit", path.display())));
    }
    progress.start(label, Some(size));
    let bytes = tokio::fs::read(path).await.map_err(unreadable)?;
    progress.advance(bytes.len() as u64);
    progress.finish();
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
