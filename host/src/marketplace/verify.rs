//! Fetching one published pack version and proving it is what its
//! publisher signed, in this order: the signature over the manifest's exact
//! bytes (against the catalog's trust roots), the manifest's digest, the
//! manifest naming the listed pack and version, the catalog's component
//! digest matching the signed pin, the host version, then the component's
//! bytes against the signed pin. Nothing is written anywhere until all pass.

use super::source::{Fetcher, MAX_COMPONENT_BYTES, MAX_INDEX_BYTES, Progress};
use super::{CatalogConfig, MarketError};
use helmdeck_marketplace::{
    CatalogVersion, Digest, Manifest, SignatureMaterial, TrustPolicy, VerifiedSignature, resolve_url,
};
use url::Url;

/// A catalog version resolved for install: which catalog, where, what.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The catalog offering it.
    pub catalog: CatalogConfig,
    /// The catalog's `index.yaml` URL (relative URLs resolve against it).
    pub index_url: Url,
    /// The pack's name.
    pub pack: String,
    /// The catalog's entry for the version.
    pub entry: CatalogVersion,
}

/// A manifest whose signature verified.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    /// The manifest, parsed from the verified bytes.
    pub manifest: Manifest,
    /// Who signed it.
    pub signature: VerifiedSignature,
    /// Where the manifest came from (recorded as the install's source).
    pub url: Url,
}

/// A pack version ready for [`crate::registry::PackRegistry::install`].
pub struct VerifiedPack {
    /// The verified manifest.
    pub signed: SignedManifest,
    /// The component's bytes, checked against the signed pin.
    pub component: Vec<u8>,
}

impl Resolved {
    fn subject(&self) -> String {
        format!("pack `{}` {} from catalog `{}`", self.pack, self.entry.version, self.catalog.name)
    }

    fn url(&self, reference: &str) -> Result<Url, MarketError> {
        resolve_url(&self.index_url, reference)
            .map_err(|error| MarketError::Catalog { catalog: self.catalog.name.clone(), error })
    }

    /// Fetch the manifest and its signature and verify them (no component download).
    pub async fn signed_manifest(
        &self,
        fetcher: &Fetcher,
        progress: &dyn Progress,
    ) -> Result<SignedManifest, MarketError> {
        let subject = self.subject();
        let manifest_url = self.url(&self.entry.manifest)?;
        let bytes = fetcher.fetch(&self.index_url, &manifest_url, MAX_INDEX_BYTES, progress, "manifest").await?;
        let material = match &self.entry.signature {
            Some(reference) => {
                let sig = fetcher
                    .fetch(&self.index_url, &self.url(reference)?, MAX_INDEX_BYTES, progress, "signature")
                    .await?;
                Some(SignatureMaterial::Detached(String::from_utf8_lossy(&sig).trim().to_owned()))
            }
            None => None,
        };
        progress.step("verifying the signature");
        let policy = TrustPolicy { catalog: &self.catalog.name, roots: &self.catalog.trust };
        let signature = policy.verify(&subject, &bytes, material.as_ref())?;
        check_digest(
            &bytes,
            self.entry.manifest_sha256,
            || format!("the manifest of {subject}"),
            "the catalog",
            ADVICE_REPUBLISH,
        )?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| MarketError::Fetch(format!("the manifest of {subject} is not UTF-8")))?;
        let manifest =
            Manifest::from_yaml(text).map_err(|e| MarketError::Fetch(format!("the manifest of {subject}: {e}")))?;
        if manifest.name != self.pack || manifest.version != self.entry.version {
            return Err(MarketError::Mismatch {
                catalog: self.catalog.name.clone(),
                listed: format!("`{}` {}", self.pack, self.entry.version),
                found: format!("`{}` {}", manifest.name, manifest.version),
            });
        }
        let Some(pinned) = manifest.component.sha256 else {
            return Err(MarketError::Fetch(format!(
                "the signed manifest of {subject} does not pin `component.sha256`, so its signature does not cover the \
                 code; republish it with `helmdeck pack publish`"
            )));
        };
        if pinned != self.entry.component_sha256 {
            return Err(MarketError::Digest {
                what: format!("the component the catalog lists for {subject}"),
                actual: self.entry.component_sha256,
                expected_by: "the signed manifest",
                expected: pinned,
                advice: ADVICE_REPUBLISH,
            });
        }
        check_host_version(&manifest)?;
        Ok(SignedManifest { manifest, signature, url: manifest_url })
    }

    /// [`Resolved::signed_manifest`], then download the component and check
    /// it against the signed pin.
    pub async fn fetch_verified(
        &self,
        fetcher: &Fetcher,
        progress: &dyn Progress,
    ) -> Result<VerifiedPack, MarketError> {
        let signed = self.signed_manifest(fetcher, progress).await?;
        let url = self.url(&self.entry.component)?;
        let label = format!("{} {}", self.pack, self.entry.version);
        let component = fetcher.fetch(&self.index_url, &url, MAX_COMPONENT_BYTES, progress, &label).await?;
        let pinned = signed.manifest.component.sha256.unwrap_or(self.entry.component_sha256);
        check_digest(
            &component,
            pinned,
            || format!("the downloaded component of {}", self.subject()),
            "the signed manifest",
            ADVICE_TAMPERED,
        )?;
        Ok(VerifiedPack { signed, component })
    }
}

const ADVICE_REPUBLISH: &str = "the catalog is inconsistent; ask its maintainer to republish the pack";
const ADVICE_TAMPERED: &str = "the file was altered after signing or damaged in transit; nothing was installed";

fn check_digest(
    bytes: &[u8],
    expected: Digest,
    what: impl FnOnce() -> String,
    expected_by: &'static str,
    advice: &'static str,
) -> Result<(), MarketError> {
    let actual = Digest::of(bytes);
    if actual == expected {
        return Ok(());
    }
    Err(MarketError::Digest { what: what(), actual, expected_by, expected, advice })
}

fn check_host_version(manifest: &Manifest) -> Result<(), MarketError> {
    let running: &'static str = env!("CARGO_PKG_VERSION");
    let Some(needed) = &manifest.min_host_version else { return Ok(()) };
    let ours = semver::Version::parse(running).unwrap_or_else(|_| semver::Version::new(0, 0, 0));
    if &ours >= needed {
        return Ok(());
    }
    Err(MarketError::HostTooOld {
        pack: manifest.name.clone(),
        version: manifest.version.clone(),
        needed: needed.clone(),
        running,
    })
}
