//! Behaviour of the whole guard: URL spellings, resolution, allowlisting,
//! denial messages, the mapping to edge errors and the reqwest DNS adapter.

use super::*;
use crate::error::ErrorCode;
use reqwest::dns::{Name, Resolve};
use std::str::FromStr;

fn ip(addr: &str) -> IpAddr {
    addr.parse().expect("test address parses")
}

fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL parses")
}

/// A guard with `allowlist`, resolving only the names in `dns`.
fn guard(allowlist: &str, dns: StaticResolver) -> EgressGuard {
    let policy = EgressPolicy::parse(allowlist).expect("test allowlist parses");
    EgressGuard::new(policy, Arc::new(dns))
}

fn denied(result: Result<VettedTarget, GuardError>) -> (String, Vec<(IpAddr, Refusal)>) {
    match result {
        Err(GuardError::Denied { host, refused }) => (host, refused),
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn ip_literals_in_every_spelling_are_judged_without_dns() {
    // The resolver knows no names: any lookup would be a network error, not a denial.
    let guard = guard("", StaticResolver::new());
    let cases = [
        ("http://127.0.0.1/", "127.0.0.1", Refusal::Loopback),
        ("http://2130706433/", "127.0.0.1", Refusal::Loopback),
        ("http://0x7f000001/", "127.0.0.1", Refusal::Loopback),
        ("http://0x7f.1/", "127.0.0.1", Refusal::Loopback),
        ("http://0177.0.0.1/", "127.0.0.1", Refusal::Loopback),
        ("http://127.1/", "127.0.0.1", Refusal::Loopback),
        ("http://0.0.0.0:8080/", "0.0.0.0", Refusal::Unspecified),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", Refusal::CloudMetadata),
        ("https://10.0.0.1/", "10.0.0.1", Refusal::Private),
        ("http://[::1]/", "::1", Refusal::Loopback),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", Refusal::Loopback),
        ("http://[::ffff:7f00:1]/", "::ffff:127.0.0.1", Refusal::Loopback),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254", Refusal::CloudMetadata),
        ("http://[fe80::1]/", "fe80::1", Refusal::LinkLocal),
    ];
    for (text, addr, why) in cases {
        let (_, refused) = denied(guard.vet(&url(text)).await);
        assert_eq!(refused, [(ip(addr), why)], "{text}");
    }
}

#[tokio::test]
async fn a_public_ip_literal_passes_with_its_port() {
    let target = guard("", StaticResolver::new()).vet(&url("https://93.184.216.34/x")).await.unwrap();
    assert_eq!((target.host(), target.port()), ("93.184.216.34", 443));
    assert_eq!(target.passed(), [(ip("93.184.216.34"), Admission::Public)]);
}

#[tokio::test]
async fn localhost_names_are_loopback_without_asking_dns() {
    let guard = guard("", StaticResolver::new());
    for text in ["http://localhost/", "http://LOCALHOST./", "http://app.localhost:3000/"] {
        let (_, refused) = denied(guard.vet(&url(text)).await);
        assert_eq!(refused, [(ip("127.0.0.1"), Refusal::Loopback), (ip("::1"), Refusal::Loopback)], "{text}");
    }
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_denied_saying_how_to_open_it() {
    let dns = StaticResolver::new().with("internal.example", [ip("10.0.0.5")]);
    let err = guard("", dns).vet(&url("http://user:pw@internal.example/secret?token=abc")).await.unwrap_err();
    let message = err.to_string();
    assert_eq!(
        message,
        "egress to `internal.example` denied: it resolves only to refused addresses: 10.0.0.5 \
         (private); add `internal.example` to HELMDECK_EGRESS_ALLOWLIST if it is meant to be reachable"
    );
    assert!(err.is_denial());
}

#[tokio::test]
async fn an_ip_literal_denial_names_the_address_class() {
    let err = guard("", StaticResolver::new()).vet(&url("http://[::]/")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "egress to `[::]` denied: it is an unspecified address; add `::` to HELMDECK_EGRESS_ALLOWLIST \
         if it is meant to be reachable"
    );
}

#[tokio::test]
async fn a_name_resolving_to_public_and_private_keeps_only_the_public_addresses() {
    let dns = StaticResolver::new()
        .with("mixed.example", [ip("10.1.1.1"), ip("93.184.216.34"), ip("169.254.169.254"), ip("2606:4700::1")]);
    let target = guard("", dns).vet(&url("http://mixed.example:8080/")).await.unwrap();
    assert_eq!(target.addrs().collect::<Vec<_>>(), [ip("93.184.216.34"), ip("2606:4700::1")]);
    assert_eq!(target.dropped(), [(ip("10.1.1.1"), Refusal::Private), (ip("169.254.169.254"), Refusal::CloudMetadata)]);
    assert_eq!(
        target.socket_addrs().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["93.184.216.34:8080", "[2606:4700::1]:8080"]
    );
    assert_eq!(
        target.to_string(),
        "93.184.216.34 (public), 2606:4700::1 (public); dropped 10.1.1.1 (private), 169.254.169.254 (cloud metadata)"
    );
}

#[tokio::test]
async fn an_allowlisted_name_opens_every_address_it_resolves_to() {
    let dns = StaticResolver::new()
        .with("internal.example", [ip("10.0.0.5"), ip("127.0.0.1")])
        .with("other.example", [ip("10.0.0.5")]);
    let guard = guard("Internal.Example.", dns);
    let target = guard.vet(&url("http://internal.example/")).await.unwrap();
    let entry = Admission::Allowlisted(AllowEntry::Host("internal.example".into()));
    assert_eq!(target.passed(), [(ip("10.0.0.5"), entry.clone()), (ip("127.0.0.1"), entry)]);
    // The name opens itself, not the addresses for other names.
    denied(guard.vet(&url("http://other.example/")).await);
}

#[tokio::test]
async fn a_wildcard_opens_subdomains_but_not_the_bare_suffix() {
    let dns = StaticResolver::new().with("git.corp.example", [ip("10.2.0.1")]).with("corp.example", [ip("10.2.0.2")]);
    let guard = guard("*.corp.example", dns);
    assert!(guard.vet(&url("https://git.corp.example/")).await.is_ok());
    denied(guard.vet(&url("https://corp.example/")).await);
}

#[tokio::test]
async fn a_cidr_opens_matching_addresses_written_or_resolved() {
    let dns = StaticResolver::new().with("db.example", [ip("10.9.0.3")]).with("cache.example", [ip("10.10.0.3")]);
    let guard = guard("10.9.0.0/16", dns);
    assert!(guard.vet(&url("http://10.9.255.255/")).await.is_ok());
    assert!(guard.vet(&url("http://[::ffff:10.9.0.1]/")).await.is_ok());
    let target = guard.vet(&url("http://db.example/")).await.unwrap();
    assert_eq!(
        target.passed(),
        [(ip("10.9.0.3"), Admission::Allowlisted(AllowEntry::Net("10.9.0.0/16".parse().unwrap())))]
    );
    denied(guard.vet(&url("http://cache.example/")).await);
    denied(guard.vet(&url("http://10.10.0.1/")).await);
}

#[tokio::test]
async fn only_http_and_https_pass() {
    let guard = guard("", StaticResolver::new().with("example.com", [ip("93.184.216.34")]));
    for text in ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "ws://example.com/"] {
        let err = guard.vet(&url(text)).await.unwrap_err();
        assert!(matches!(err, GuardError::UnsupportedScheme { .. }), "{text}: {err:?}");
    }
}

#[tokio::test]
async fn vet_host_takes_authority_spellings_and_rejects_junk() {
    let guard = guard("", StaticResolver::new().with("example.com", [ip("93.184.216.34")]));
    let target = guard.vet_host("EXAMPLE.com", 443).await.unwrap();
    assert_eq!((target.host(), target.port()), ("example.com", 443));
    denied(guard.vet_host("[::1]", 22).await);
    let err = guard.vet_host("exa mple.com", 443).await.unwrap_err();
    assert!(matches!(err, GuardError::InvalidHost { .. }), "{err:?}");
}

#[tokio::test]
async fn an_unknown_name_is_a_resolution_failure_not_a_denial() {
    let err = guard("", StaticResolver::new()).vet(&url("https://nowhere.example/")).await.unwrap_err();
    assert!(matches!(&err, GuardError::Resolve { host, .. } if host == "nowhere.example"), "{err:?}");
    assert!(!err.is_denial());
    let empty = guard("", StaticResolver::new().with("void.example", [])).vet(&url("http://void.example/")).await;
    assert!(matches!(empty, Err(GuardError::Resolve { .. })), "{empty:?}");
}

#[tokio::test]
async fn guard_errors_map_onto_the_closed_error_set() {
    let guard = guard("", StaticResolver::new());
    let code = |err: GuardError| crate::Error::from(err).code;
    assert_eq!(code(guard.vet(&url("http://10.0.0.1/")).await.unwrap_err()), ErrorCode::EgressDenied);
    assert_eq!(code(guard.vet(&url("ftp://example.com/")).await.unwrap_err()), ErrorCode::EgressDenied);
    assert_eq!(code(guard.vet(&url("http://nowhere.example/")).await.unwrap_err()), ErrorCode::NetworkError);
    assert_eq!(code(guard.vet_host("a b", 80).await.unwrap_err()), ErrorCode::InvalidInput);

    let err = crate::Error::from(guard.vet(&url("http://169.254.169.254/")).await.unwrap_err());
    assert_eq!(
        err.details,
        Some(serde_json::json!({
            "host": "169.254.169.254",
            "refused": [{ "address": "169.254.169.254", "reason": "cloud metadata" }]
        }))
    );
}

#[tokio::test]
async fn the_reqwest_adapter_answers_with_pinned_addresses_then_vets_afresh() {
    let dns =
        StaticResolver::new().with("rebind.example", [ip("127.0.0.1")]).with("public.example", [ip("93.184.216.34")]);
    let guard = Arc::new(guard("", dns));
    let adapter = GuardedDns::new(Arc::clone(&guard));
    let lookup = |host: &str| adapter.resolve(Name::from_str(host).expect("valid name"));

    // A pinned host answers with what was vetted, without asking DNS again:
    // here DNS now says 127.0.0.1, but the pin holds the earlier public answer.
    let earlier = guard.vet(&url("http://public.example:8080/")).await.unwrap();
    let rebound = VettedTarget { host: "rebind.example".into(), ..earlier };
    let pin = adapter.pin(&rebound);
    let addrs: Vec<SocketAddr> = lookup("rebind.example").await.unwrap().collect();
    assert_eq!(addrs, ["93.184.216.34:8080".parse().unwrap()]);

    // Unpinned, the name goes through the guard and its loopback answer is refused.
    drop(pin);
    let err = lookup("rebind.example").await.err().expect("loopback refused");
    assert!(err.downcast_ref::<GuardError>().is_some_and(GuardError::is_denial), "{err}");
    let addrs: Vec<SocketAddr> = lookup("public.example").await.unwrap().collect();
    assert_eq!(addrs, ["93.184.216.34:0".parse().unwrap()]);
}

#[tokio::test]
async fn an_opened_origin_admits_its_host_and_port_and_nothing_else() {
    let dns = StaticResolver::new().with("catalog.internal", [ip("10.0.0.9")]);
    let base = guard("", dns);
    let opened = base.opening(&url("http://127.0.0.1:8700/index.yaml"));
    let target = opened.vet(&url("http://127.0.0.1:8700/packs/a.wasm")).await.unwrap();
    assert_eq!(target.passed(), [(ip("127.0.0.1"), Admission::Configured("127.0.0.1:8700".into()))]);
    // Another port of the same host, another loopback address, and the guard it came from stay shut.
    denied(opened.vet(&url("http://127.0.0.1:8701/")).await);
    denied(opened.vet(&url("http://127.0.0.2:8700/")).await);
    denied(base.vet(&url("http://127.0.0.1:8700/")).await);
    // A name opens itself on its port (default ports included), not its addresses under other names.
    let named = base.opening(&url("http://catalog.internal/index.yaml"));
    assert!(named.vet(&url("http://catalog.internal:80/x")).await.is_ok());
    denied(named.vet(&url("http://10.0.0.9/x")).await);
}
