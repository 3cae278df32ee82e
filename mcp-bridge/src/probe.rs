//! The start-up check: is `HELMDECK_URL` a Helmdeck, does it accept
//! `HELMDECK_TOKEN`, and is its version one this bridge supports? Also the
//! version rule itself, applied again to every `serverInfo` the relay sees.

use crate::{Settings, say};
use reqwest_bridge as reqwest;
use serde_json::Value;
use std::time::Duration;

/// How long the start-up check waits for each answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `Err` with a message for problems that will not fix themselves (a wrong
/// token, a URL that is not Helmdeck); warnings for the rest.
pub async fn check(settings: &Settings) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let url = &settings.base_url;
    let health = match client.get(format!("{url}/healthz")).send().await {
        Ok(response) => response,
        Err(e) => {
            say(unreachable(url, &e));
            return Ok(());
        }
    };
    let version = health.json::<Value>().await.ok().and_then(|v| v["version"].as_str().map(str::to_owned));
    let Some(version) = version else {
        return Err(format!(
            "{url} does not answer like a Helmdeck server (GET /healthz has no version); check HELMDECK_URL"
        ));
    };
    if let Some(warning) = version_warning(&version) {
        say(warning);
    }
    let packs = client.get(format!("{url}/api/v1/packs")).bearer_auth(&settings.token).send().await;
    match packs {
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => {
            let body: Value = r.json().await.unwrap_or_default();
            let reason = body["error"]["message"].as_str().unwrap_or("the token was refused");
            Err(format!(
                "HELMDECK_TOKEN was refused by {url}: {reason}; issue a new one with `helmdeck token issue --subject NAME` \
                 (or `helmdeck connect CLIENT`) on the server"
            ))
        }
        Ok(r) if r.status() == reqwest::StatusCode::FORBIDDEN => {
            say(
                "HELMDECK_TOKEN lacks the packs:read scope; tools/list will fail until it has packs:read and packs:call",
            );
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => {
            say(unreachable(url, &e));
            Ok(())
        }
    }
}

/// The message for a server that cannot be reached.
pub fn unreachable(url: &str, error: &dyn std::fmt::Display) -> String {
    format!(
        "cannot reach Helmdeck at {url} ({error}); is `helmdeck serve` running there? Requests fail until it answers"
    )
}

/// A warning when a server of `version` is outside the range this bridge
/// speaks: the same major and minor version (before 1.0 a minor release may
/// change the protocol surface), newer patches included.
pub fn version_warning(version: &str) -> Option<String> {
    let ours = semver::Version::parse(env!("CARGO_PKG_VERSION")).ok()?;
    let Ok(theirs) = semver::Version::parse(version) else {
        return Some(format!("the server reports version `{version}`, which is not a semantic version"));
    };
    let same_line = theirs.major == ours.major && (ours.major > 0 || theirs.minor == ours.minor);
    if same_line {
        return None;
    }
    let range = if ours.major > 0 { format!("{}.x", ours.major) } else { format!("{}.{}.x", ours.major, ours.minor) };
    let advice = if theirs > ours {
        "update helmdeck-mcp to the server's version"
    } else {
        "update the server or use an older helmdeck-mcp"
    };
    Some(format!(
        "the server runs Helmdeck {theirs}, outside the range {range} this helmdeck-mcp {ours} supports; {advice}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_the_same_release_line_pass_and_others_are_named() {
        let ours = semver::Version::parse(env!("CARGO_PKG_VERSION")).unwrap();
        assert_eq!(version_warning(&ours.to_string()), None);
        let patch = semver::Version { patch: ours.patch + 7, ..ours.clone() };
        assert_eq!(version_warning(&patch.to_string()), None, "newer patches are compatible");
        let newer = semver::Version::new(ours.major, ours.minor + 1, 0);
        let warning = version_warning(&newer.to_string()).expect("a newer minor warns before 1.0");
        assert!(warning.contains(&newer.to_string()) && warning.contains("update helmdeck-mcp"), "{warning}");
        let major = semver::Version::new(ours.major + 1, 0, 0);
        assert!(version_warning(&major.to_string()).unwrap().contains("outside the range"));
        assert!(version_warning("banana").unwrap().contains("not a semantic version"));
    }
}
