//! `${vault:NAME}` and `${vault:NAME.field}` in an outbound request: each
//! is checked against the credential's host/path patterns, its pack and
//! subject ACLs and the manifest's `http.credentials`, then replaced by the
//! host, so the value never enters guest memory. Redirect hops must fit
//! the same patterns, or the request stops before the credential travels.
//! OAuth credentials are refreshed here when their access token is missing
//! or about to expire.

use super::client::{HopRecord, OutboundRequest};
use crate::caps::{CapabilityAudit, CapsContext};
use crate::vault::placeholder::{self, Placeholder};
use crate::vault::{CredentialUse, Secret};
use crate::{Error, ErrorCode, Result};
use helmdeck_marketplace::Capability;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use url::Url;

/// Refresh an OAuth access token this long before it expires.
const REFRESH_MARGIN: i64 = 60;

/// A credential substituted into a request: where it may travel.
#[derive(Debug, Clone)]
pub(super) struct Substituted {
    pub(super) name: String,
    pub(super) hosts: Vec<String>,
}

impl Substituted {
    /// Refuse a hop (a redirect) the credential may not be sent to.
    pub(super) fn check_hop(&self, url: &Url) -> Result<()> {
        let host = url.host_str().unwrap_or_default();
        if crate::vault::matches_target(&self.hosts, &crate::vault::Destination::of_url(url)) {
            return Ok(());
        }
        Err(Error::unauthorized(format!(
            "the request was redirected to `{host}`, where credential `{}` may not be sent; stopped before sending it",
            self.name
        )))
    }
}

impl CapsContext {
    /// Replace every placeholder in `req`'s URL, header values and (UTF-8)
    /// body. Returns the credentials used, each audited as `vault.use`.
    pub(super) async fn substitute(&self, req: &mut OutboundRequest) -> Result<Vec<Substituted>> {
        let body_text = req.body.as_ref().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default().to_owned();
        let mut wanted: Vec<Placeholder> = placeholder::find(&req.url);
        for text in req.headers.iter().map(|(_, v)| v.as_str()).chain([body_text.as_str()]) {
            for p in placeholder::find(text) {
                if !wanted.contains(&p) {
                    wanted.push(p);
                }
            }
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let target =
            Url::parse(&req.url).map_err(|e| Error::invalid_input(format!("`url` is not an absolute URL ({e})")))?;
        let host = target.host_str().unwrap_or_default().to_owned();
        if host.contains('$') || host.contains("%7b") || host.contains("%7B") {
            return Err(Error::invalid_input(
                "`${vault:…}` may appear in the URL's path or query, in header values and in the body, not in the host",
            ));
        }
        let mut values = BTreeMap::new();
        let mut used: Vec<Substituted> = Vec::new();
        for p in wanted {
            let value = self.credential_value(&p, &target).await?;
            if !used.iter().any(|u| u.name == p.name) {
                let meta = self.services.vault.get(&p.name).await?;
                used.push(Substituted { name: p.name.clone(), hosts: meta.hosts });
            }
            values.insert(p, value);
        }
        req.url = placeholder::substitute(&req.url, &values);
        for (_, value) in req.headers.iter_mut() {
            *value = placeholder::substitute(value, &values);
        }
        if !body_text.is_empty() {
            req.body = Some(placeholder::substitute(&body_text, &values).into_bytes().into());
        }
        Ok(used)
    }

    async fn credential_value(&self, p: &Placeholder, target: &Url) -> Result<String> {
        let to = crate::vault::Destination::of_url(target);
        let mut audit = CapabilityAudit::start(self, "vault.use", Some(p.name.clone()), Instant::now());
        audit.details = Some(serde_json::json!({ "host": to.host, "via": "http.fetch" }));
        let scope = self.scope(Capability::Http).credentials;
        let intent =
            CredentialUse { name: &p.name, pack: &self.call.pack, subject: &self.call.actor, scope: &scope, to };
        let result = async {
            let mut secret = self.services.vault.use_secret(&intent).await?;
            if needs_refresh(&secret) {
                secret = self.refresh(&p.name, &secret).await?;
            }
            let value = match &p.field {
                Some(field) => secret.field(field),
                None => secret.primary(),
            };
            value.ok_or_else(|| match &p.field {
                Some(field) => Error::invalid_input(format!("credential `{}` has no field `{field}`", p.name)),
                None => Error::invalid_input(format!(
                    "credential `{}` ({}) cannot be written into a request",
                    p.name,
                    secret.kind().as_str()
                )),
            })
        }
        .await;
        if let Err(e) = &result {
            audit = audit.failed(e);
        }
        self.audit(audit).await?;
        result
    }

    /// Trade an OAuth refresh token for a new access token at `token_url`
    /// (through the guard, to that host only) and store the result.
    async fn refresh(&self, name: &str, secret: &Secret) -> Result<Secret> {
        let Secret::Oauth { client_id, client_secret, token_url, refresh_token, .. } = secret else {
            return Ok(secret.clone());
        };
        let form: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", refresh_token)
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret)
            .finish();
        let token_host = Url::parse(token_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let request = OutboundRequest {
            method: "POST".into(),
            url: token_url.clone(),
            headers: vec![("content-type".into(), "application/x-www-form-urlencoded".into())],
            body: Some(form.into_bytes().into()),
            timeout: Some(Duration::from_secs(30)),
            follow_redirects: false,
            ..OutboundRequest::default()
        };
        let mut same_host = |url: &Url| -> Result<()> {
            if url.host_str() == Some(token_host.as_str()) {
                Ok(())
            } else {
                Err(Error::unauthorized("the OAuth token endpoint moved to another host; refresh refused"))
            }
        };
        let failed = |why: String| {
            Error::new(
                ErrorCode::AuthFailed,
                format!("refreshing OAuth credential `{name}` failed: {why}; re-authorize it"),
            )
        };
        let response = self.services.http.fetch(request, &mut same_host, &mut |_: &HopRecord| Ok(())).await?;
        if response.status != 200 {
            return Err(failed(format!("the token endpoint answered {}", response.status)));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&response.body).map_err(|_| failed("the answer is not JSON".into()))?;
        let access = answer["access_token"].as_str().ok_or_else(|| failed("no access_token in the answer".into()))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let refreshed = Secret::Oauth {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            token_url: token_url.clone(),
            refresh_token: answer["refresh_token"].as_str().unwrap_or(refresh_token).to_owned(),
            access_token: Some(access.to_owned()),
            expires_at: answer["expires_in"].as_i64().map(|s| now + s),
        };
        self.services.vault.replace_secret(name, &refreshed).await?;
        Ok(refreshed)
    }
}

fn needs_refresh(secret: &Secret) -> bool {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    match secret {
        Secret::Oauth { access_token: None, .. } => true,
        Secret::Oauth { expires_at: Some(at), .. } => *at - REFRESH_MARGIN <= now,
        _ => false,
    }
}
