//! [`GuardedHttpClient`] against real HTTP servers on 127.0.0.1, with made-up
//! names mapped to them by a `StaticResolver`.

use super::client::{GuardedHttpClient, HopRecord, HttpLimits, OutboundRequest, OutboundResponse};
use crate::audit::Decision;
use crate::error::{Error, ErrorCode};
use crate::guard::{EgressGuard, EgressPolicy, Lookup, Resolver, StaticResolver};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::any;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use url::Url;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const BIG_BODY: usize = 64 * 1024;

/// A fixture server on 127.0.0.1 that counts the requests it receives.
struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    async fn start() -> Server {
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let app = routes().layer(middleware::from_fn(move |req: Request, next: Next| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                next.run(req).await
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server { addr, hits }
    }

    /// `http://{host}:{port}{path}` for this server under any host name.
    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.addr.port())
    }

    /// A URL on this server answering `status` with `Location: to`.
    fn redirect(&self, host: &str, status: u16, to: &str) -> String {
        let to: String = url::form_urlencoded::byte_serialize(to.as_bytes()).collect();
        self.url(host, &format!("/redirect?status={status}&to={to}"))
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn routes() -> Router {
    Router::new()
        .route("/hello", any(|| async { "hello" }))
        .route("/big", any(|| async { vec![b'x'; BIG_BODY] }))
        .route(
            "/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .route("/loop", any(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }))
        .route("/redirect", any(redirect))
        .route("/echo", any(echo))
}

async fn redirect(Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    let status = StatusCode::from_u16(query["status"].parse().unwrap()).unwrap();
    (status, [(header::LOCATION, query["to"].clone())])
}

async fn echo(method: Method, headers: HeaderMap, body: Bytes) -> String {
    format!(
        "{method} auth={} cookie={} body={}",
        headers.contains_key(header::AUTHORIZATION),
        headers.contains_key(header::COOKIE),
        body.len()
    )
}

/// A client with `allowlist`, where each of `names` resolves to 127.0.0.1.
fn client(allowlist: &str, names: &[&str]) -> GuardedHttpClient {
    let dns = names.iter().fold(StaticResolver::new(), |dns, name| dns.with(name, [LOOPBACK]));
    let guard = EgressGuard::new(EgressPolicy::parse(allowlist).unwrap(), Arc::new(dns));
    GuardedHttpClient::new(Arc::new(guard), HttpLimits::default()).unwrap()
}

fn get(url: String) -> OutboundRequest {
    OutboundRequest { url, ..OutboundRequest::default() }
}

/// Fetch `req`, collecting the hop records.
async fn fetch(client: &GuardedHttpClient, req: OutboundRequest) -> (Result<OutboundResponse, Error>, Vec<HopRecord>) {
    let mut hops = Vec::new();
    let result = client
        .fetch(req, &mut |_: &Url| Ok(()), &mut |hop: &HopRecord| {
            hops.push(hop.clone());
            Ok(())
        })
        .await;
    (result, hops)
}

fn decisions(hops: &[HopRecord]) -> Vec<(String, Decision)> {
    hops.iter().map(|hop| (hop.url.host_str().unwrap_or_default().to_owned(), hop.decision)).collect()
}

#[tokio::test]
async fn an_allowlisted_loopback_address_is_fetched() {
    let server = Server::start().await;
    let url = server.url("127.0.0.1", "/hello");
    let (result, hops) = fetch(&client("127.0.0.1", &[]), get(url.clone())).await;
    let response = result.unwrap();
    assert_eq!((response.status, &response.body[..], response.truncated), (200, &b"hello"[..], false));
    assert_eq!((response.final_url.as_str(), response.redirects), (url.as_str(), 0));
    assert_eq!(decisions(&hops), [("127.0.0.1".to_owned(), Decision::Allow)]);
    assert_eq!(hops[0].reason, "127.0.0.1 (allowlisted by `127.0.0.1`)");
}

#[tokio::test]
async fn an_allowlisted_test_name_reaches_the_server_it_maps_to() {
    let server = Server::start().await;
    let (result, hops) =
        fetch(&client("fixture.test", &["fixture.test"]), get(server.url("Fixture.Test", "/hello"))).await;
    assert_eq!(&result.unwrap().body[..], b"hello");
    assert_eq!(hops[0].reason, "127.0.0.1 (allowlisted by `fixture.test`)");
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn loopback_is_egress_denied_unless_allowlisted_and_never_contacted() {
    let server = Server::start().await;
    let client = client("", &["fixture.test"]);
    for (host, entry) in [
        ("127.0.0.1", "127.0.0.1"),
        ("fixture.test", "fixture.test"),
        ("localhost", "localhost"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ] {
        let (result, hops) = fetch(&client, get(server.url(host, "/hello"))).await;
        let err = result.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{host}: {err}");
        assert!(err.message.contains(&format!("add `{entry}` to HELMDECK_EGRESS_ALLOWLIST")), "{}", err.message);
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].decision, Decision::Deny);
        assert!(hops[0].reason.contains("loopback"), "{}", hops[0].reason);
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn a_redirect_to_cloud_metadata_is_refused_and_each_hop_reported() {
    let server = Server::start().await;
    let client = client("fixture.test", &["fixture.test"]);
    let start = server.redirect("fixture.test", 302, "http://169.254.169.254/latest/meta-data/iam/");
    let (result, hops) = fetch(&client, get(start)).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    assert!(err.message.contains("cloud metadata"), "{}", err.message);
    assert_eq!(
        decisions(&hops),
        [("fixture.test".to_owned(), Decision::Allow), ("169.254.169.254".to_owned(), Decision::Deny)]
    );
    assert_eq!(hops[1].url.as_str(), "http://169.254.169.254/latest/meta-data/iam/");
    assert!(hops[1].reason.contains("cloud metadata"), "{}", hops[1].reason);
}

#[tokio::test]
async fn a_redirect_to_a_loopback_server_that_is_not_allowlisted_is_refused() {
    let front = Server::start().await;
    let internal = Server::start().await;
    let client = client("front.test", &["front.test", "internal.test"]);
    for target in ["internal.test", "127.0.0.1", "2130706433", "[::ffff:7f00:1]"] {
        let start = front.redirect("front.test", 307, &internal.url(target, "/hello"));
        let (result, hops) = fetch(&client, get(start)).await;
        assert_eq!(result.unwrap_err().code, ErrorCode::EgressDenied, "{target}");
        assert_eq!(
            hops.iter().map(|hop| hop.decision).collect::<Vec<_>>(),
            [Decision::Allow, Decision::Deny],
            "{target}"
        );
        assert!(
            hops[1].reason.contains("(loopback)") || hops[1].reason.contains("a loopback address"),
            "{}",
            hops[1].reason
        );
    }
    assert_eq!(internal.hits(), 0);
    assert_eq!(front.hits(), 4);
}

#[tokio::test]
async fn the_body_is_cut_at_the_byte_limit() {
    let server = Server::start().await;
    let client = client("127.0.0.1", &[]);
    let url = server.url("127.0.0.1", "/big");
    for (limit, kept, truncated) in [
        (Some(1000), 1000, true),
        (Some(BIG_BODY as u64), BIG_BODY, false),
        (Some(0), 0, true),
        (None, BIG_BODY, false),
    ] {
        let request = OutboundRequest { max_body_bytes: limit, ..get(url.clone()) };
        let response = fetch(&client, request).await.0.unwrap();
        assert_eq!((response.body.len(), response.truncated), (kept, truncated), "{limit:?}");
    }
}

#[tokio::test]
async fn a_slow_server_runs_into_the_deadline() {
    let server = Server::start().await;
    let request =
        OutboundRequest { timeout: Some(Duration::from_millis(300)), ..get(server.url("127.0.0.1", "/slow")) };
    let started = Instant::now();
    let err = fetch(&client("127.0.0.1", &[]), request).await.0.unwrap_err();
    assert_eq!(err.code, ErrorCode::Timeout, "{err}");
    assert!(err.message.contains("within 300 ms"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn credentials_are_dropped_on_a_cross_origin_redirect_and_kept_on_the_same_origin() {
    let a = Server::start().await;
    let b = Server::start().await;
    let client = client("a.test b.test", &["a.test", "b.test"]);
    let with_credentials = |url: String| OutboundRequest {
        headers: vec![("Authorization".into(), "Bearer s3cret".into()), ("Cookie".into(), "session=1".into())],
        ..get(url)
    };
    let cross = a.redirect("a.test", 302, &b.url("b.test", "/echo"));
    let response = fetch(&client, with_credentials(cross)).await.0.unwrap();
    assert_eq!(&response.body[..], b"GET auth=false cookie=false body=0");
    assert_eq!((response.final_url.host_str(), response.redirects), (Some("b.test"), 1));

    let same = a.redirect("a.test", 302, "/echo");
    let response = fetch(&client, with_credentials(same)).await.0.unwrap();
    assert_eq!(&response.body[..], b"GET auth=true cookie=true body=0");
}

#[tokio::test]
async fn see_other_turns_a_post_into_a_get_and_307_keeps_it() {
    let server = Server::start().await;
    let client = client("127.0.0.1", &[]);
    let post =
        |url: String| OutboundRequest { method: "post".into(), body: Some(Bytes::from_static(b"12345")), ..get(url) };
    let see_other = server.redirect("127.0.0.1", 303, "/echo");
    assert_eq!(&fetch(&client, post(see_other)).await.0.unwrap().body[..], b"GET auth=false cookie=false body=0");
    let temporary = server.redirect("127.0.0.1", 307, "/echo");
    assert_eq!(&fetch(&client, post(temporary)).await.0.unwrap().body[..], b"POST auth=false cookie=false body=5");
}

#[tokio::test]
async fn a_redirect_loop_stops_after_ten_redirects() {
    let server = Server::start().await;
    let (result, hops) = fetch(&client("127.0.0.1", &[]), get(server.url("127.0.0.1", "/loop"))).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::NetworkError);
    assert!(err.message.contains("10 redirects"), "{}", err.message);
    assert_eq!(hops.len(), 11);
    assert_eq!(server.hits(), 11);
}

#[tokio::test]
async fn without_follow_redirects_the_redirect_itself_is_returned() {
    let server = Server::start().await;
    let request = OutboundRequest {
        follow_redirects: false,
        ..get(server.redirect("127.0.0.1", 302, "http://169.254.169.254/"))
    };
    let (result, hops) = fetch(&client("127.0.0.1", &[]), request).await;
    let response = result.unwrap();
    assert_eq!((response.status, response.redirects, hops.len()), (302, 0, 1));
    assert_eq!(response.headers[header::LOCATION], "http://169.254.169.254/");
}

#[tokio::test]
async fn bad_fields_are_invalid_input_naming_the_field_and_never_echoing_secrets() {
    let client = client("fixture.test", &["fixture.test"]);
    let header = |name: &str, value: &str| OutboundRequest {
        headers: vec![(name.into(), value.into())],
        ..get("http://fixture.test/".into())
    };
    let cases = [
        (OutboundRequest { method: "FETCH".into(), ..get("http://fixture.test/".into()) }, "`method`"),
        (OutboundRequest { method: "CONNECT".into(), ..get("http://fixture.test/".into()) }, "`method`"),
        (get("fixture.test/no-scheme".into()), "`url`"),
        (get("ftp://fixture.test/".into()), "`url`"),
        (get("http://user:s3cret@fixture.test/".into()), "`url`"),
        (header("X-Key", "s3cret\r\nInjected: 1"), "`x-key`"),
        (header("bad name", "s3cret"), "`headers`"),
        (header("Host", "s3cret.internal"), "`host`"),
        (header("Content-Length", "5"), "`content-length`"),
        (OutboundRequest { timeout: Some(Duration::ZERO), ..get("http://fixture.test/".into()) }, "`timeout`"),
    ];
    for (request, field) in cases {
        let (result, hops) = fetch(&client, request).await;
        let err = result.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput, "{field}: {err}");
        assert!(err.message.contains(field), "{field}: {}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
        assert!(hops.is_empty(), "nothing is vetted before the request is valid");
    }
}

#[tokio::test]
async fn unreachable_destinations_are_network_errors() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client("127.0.0.1", &[]);
    let (result, hops) = fetch(&client, get(format!("http://127.0.0.1:{closed}/?token=s3cret"))).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::NetworkError, "{err}");
    assert!(err.message.starts_with(&format!("could not connect to `http://127.0.0.1:{closed}`")), "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert_eq!(hops[0].decision, Decision::Allow);

    let (result, hops) = fetch(&client, get("http://nowhere.test/".into())).await;
    assert_eq!(result.unwrap_err().code, ErrorCode::NetworkError);
    assert_eq!(hops[0].decision, Decision::Allow);
    assert!(hops[0].reason.starts_with("could not resolve `nowhere.test`"), "{}", hops[0].reason);
}

/// A DNS-rebinding name: each lookup gets the next answer (the last one
/// repeats), so a client that resolves twice connects somewhere unvetted.
struct Rebinding {
    answers: Vec<IpAddr>,
    lookups: AtomicUsize,
}

impl Resolver for Rebinding {
    fn lookup<'a>(&'a self, _name: &'a str) -> Lookup<'a> {
        let turn = self.lookups.fetch_add(1, Ordering::SeqCst).min(self.answers.len() - 1);
        Box::pin(std::future::ready(Ok(vec![self.answers[turn]])))
    }
}

#[tokio::test]
async fn a_hop_connects_to_the_addresses_it_vetted_without_resolving_again() {
    let server = Server::start().await;
    let dns =
        Arc::new(Rebinding { answers: vec![LOOPBACK, "10.0.0.1".parse().unwrap()], lookups: AtomicUsize::new(0) });
    let guard = EgressGuard::new(EgressPolicy::parse("127.0.0.1").unwrap(), Arc::clone(&dns) as Arc<dyn Resolver>);
    let client = GuardedHttpClient::new(Arc::new(guard), HttpLimits::default()).unwrap();
    let (result, hops) = fetch(&client, get(server.url("rebind.test", "/hello"))).await;
    assert_eq!(&result.unwrap().body[..], b"hello");
    assert_eq!(dns.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(hops[0].reason, "127.0.0.1 (allowlisted by `127.0.0.1`)");
}

#[tokio::test]
async fn a_fetch_can_move_between_threads() {
    // The engine runs host calls on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    let client = client("", &[]);
    let mut on_hop = |_: &HopRecord| Ok(());
    let mut scope = |_: &Url| Ok(());
    assert_send(&client.fetch(get("http://fixture.test/".into()), &mut scope, &mut on_hop));
}

#[test]
fn limits_whose_default_exceeds_the_maximum_are_refused() {
    let guard = Arc::new(EgressGuard::new(EgressPolicy::default(), Arc::new(StaticResolver::new())));
    let limits = HttpLimits { default_timeout: Duration::from_secs(200), ..HttpLimits::default() };
    assert_eq!(GuardedHttpClient::new(Arc::clone(&guard), limits).unwrap_err().code, ErrorCode::InvalidInput);
    let limits = HttpLimits { default_body_bytes: u64::MAX, ..HttpLimits::default() };
    assert_eq!(GuardedHttpClient::new(guard, limits).unwrap_err().code, ErrorCode::InvalidInput);
}
