//! The fixture site the browser tests visit, served on 127.0.0.1: a page
//! with a coloured block, a long page, a page rendered by JavaScript after a
//! delay, a form, a print-styled article, pages that embed or redirect to
//! refused addresses, cookie pages, a page that opens every kind of
//! JavaScript dialog, a page that downloads a file, a page that never
//! finishes loading, login forms, pages that leave for the other site (by
//! script, meta refresh or link), a page that opens windows in a loop and
//! one whose script never returns.
//!
//! The site records every request it receives ([`Site::received`]), with
//! the host it was addressed to, so a test can show what reached which site.

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The red of the block on `/block` (and its position: 200x100 at 0,0).
pub const BLOCK_RGB: [u8; 3] = [255, 0, 0];

/// A running fixture site; stops with the test's runtime.
pub struct Site {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

/// One request the site received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The `Host` header without the port (`fixture.localhost`, `other.localhost`).
    pub host: String,
    /// Path and query, as sent (percent-encoded).
    pub uri: String,
    /// The `Cookie` header, if any.
    pub cookie: Option<String>,
}

impl Received {
    /// Everything the request carried, in one string to search.
    pub fn carried(&self) -> String {
        format!("{} {}", self.uri, self.cookie.as_deref().unwrap_or_default())
    }
}

#[derive(Clone)]
struct SiteState {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Site {
    /// Serve on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Site> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let state = SiteState { port: addr.port(), received: received.clone() };
        let app = routes().layer(middleware::from_fn_with_state(state.clone(), record)).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Site { addr, received })
    }

    /// `http://fixture.localhost:PORT{path}`: the allow-listed name.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", super::browser::FIXTURE_HOST, self.addr.port())
    }

    /// `http://other.localhost:PORT{path}`: the same server as another site.
    pub fn other_url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", super::browser::OTHER_HOST, self.addr.port())
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The requests addressed to `host`.
    pub fn received_by(&self, host: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.host == host).collect()
    }

    /// `http://127.0.0.1:PORT{path}`: the same server by a refused address.
    pub fn loopback_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }
}

/// Remember what each request carried before answering it.
async fn record(State(state): State<SiteState>, request: Request, next: Next) -> Response {
    let entry = {
        let headers = request.headers();
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let host = header(header::HOST).unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h).to_owned();
        let uri = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        Received { host, uri, cookie: header(header::COOKIE) }
    };
    state.received.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    next.run(request).await
}

fn routes() -> Router<SiteState> {
    Router::new()
        .route("/block", get(|| page("Block", BLOCK)))
        .route("/long", get(|| page("Long", LONG)))
        .route("/spa", get(|| page("Catalogue", SPA)))
        .route("/form", get(|| page("Order", FORM)))
        .route("/dialogs", get(|| page("Dialogs", DIALOGS)))
        .route("/download", get(|| page("Download", DOWNLOAD)))
        .route("/file", get(attachment))
        .route("/popup", get(|| page("Opener", POPUP)))
        .route(POPPED_PATH, get(|| page("Popped", "<p>a window the page opened</p>")))
        .route("/thanks", get(thanks))
        .route("/article", get(|| page("Printed article", ARTICLE)))
        .route("/ssrf", get(ssrf))
        .route("/to-metadata", get(|| async { Redirect::temporary("http://169.254.169.254/latest/meta-data/") }))
        .route("/cookie/set", get(set_cookie))
        .route("/cookie/show", get(show_cookie))
        .route("/login", get(|| page("Sign in", LOGIN)))
        .route("/login-text", get(|| page("Sign in", LOGIN_TEXT)))
        .route("/welcome", get(welcome))
        .route("/account", get(account))
        .route("/leave/script", get(leave_by_script))
        .route("/leave/meta", get(leave_by_meta))
        .route("/leave/link", get(leave_by_link))
        .route("/popup-loop", get(|| page("Windows", POPUP_LOOP)))
        .route(
            "/busy",
            get(|| {
                page("Busy", "<p id=\"spinning\">spinning</p><script>setTimeout(() => { for (;;) {} }, 0);</script>")
            }),
        )
        .route("/hang", get(|| async { tokio::time::sleep(std::time::Duration::from_secs(120)).await }))
}

async fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{title}</title></head><body>{body}</body></html>"
    ))
}

const BLOCK: &str = r#"<style>body{margin:0;background:#fff}</style>
<div id="block" style="width:200px;height:100px;background:rgb(255,0,0)"></div><p id="below">below the block</p>"#;

const LONG: &str = r#"<style>body{margin:0}</style><div style="height:3000px;background:linear-gradient(#fff,#00f)">tall</div><footer id="end">end</footer>"#;

/// Renders its catalogue 400 ms after load, as a single-page app would
/// after fetching data.
const SPA: &str = r#"<div id="app">loading…</div>
<script>
setTimeout(() => {
  document.getElementById('app').innerHTML = `
    <h1 class="shop">Ada's Books</h1>
    <span class="total">1,234 items</span>
    <span class="open">yes</span>
    <ul>
      <li class="book"><a class="name" href="/b/1">Dune</a><span class="price">$9.50</span></li>
      <li class="book"><a class="name" href="/b/2">Emma</a><span class="price">$4.25</span></li>
    </ul>`;
}, 400);
</script>"#;

const FORM: &str = r#"<form action="/thanks" method="get">
<label>Name <input id="name" name="name"></label>
<select id="colour" name="colour"><option value="red">Red</option><option value="blue">Blue</option></select>
<button id="send" type="submit">Send</button>
</form>"#;

/// Opens an alert, a confirmation and a prompt while it loads and shows
/// their answers in `#answers`; `#arm` (clicked, so the page has a user
/// gesture) makes leaving the page ask for confirmation.
const DIALOGS: &str = r#"<p id="answers">waiting</p><button id="arm">arm</button>
<script>
alert('welcome');
const confirmed = confirm('delete everything?');
const named = prompt('your name?', 'someone');
document.getElementById('answers').textContent = `confirm:${confirmed} prompt:${named}`;
document.getElementById('arm').onclick = () => {
  window.onbeforeunload = (e) => { e.preventDefault(); e.returnValue = 'stay?'; return 'stay?'; };
};
</script>"#;

/// Clicking `#open` opens [`POPPED_PATH`] in a new window; `#popped-loaded`
/// appears once that window has loaded (so a call can wait for it).
const POPUP: &str = r#"<button id="open">open</button>
<script>document.getElementById('open').onclick = () => {
  const popped = window.open('/popped', 'popped');
  popped.addEventListener('load', () => document.body.insertAdjacentHTML('beforeend', '<p id="popped-loaded">loaded</p>'));
};</script>"#;

/// The page `/popup` opens in a window of its own.
pub const POPPED_PATH: &str = "/popped";

/// The name of the file `/file` sends as an attachment.
pub const DOWNLOAD_NAME: &str = "helmdeck-fixture-download.txt";

/// Starts downloading `/file` as soon as it loads.
const DOWNLOAD: &str = r#"<a id="get" href="/file" download>get</a><p id="started">started</p>
<script>document.getElementById('get').click()</script>"#;

async fn attachment() -> Response {
    let disposition = format!("attachment; filename=\"{DOWNLOAD_NAME}\"");
    ([(header::CONTENT_TYPE, "text/plain".to_owned()), (header::CONTENT_DISPOSITION, disposition)], "downloaded")
        .into_response()
}

async fn thanks(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let name = q.get("name").cloned().unwrap_or_default().replace('<', "&lt;");
    let colour = q.get("colour").cloned().unwrap_or_default().replace('<', "&lt;");
    page("Thanks", &format!("<p id=\"result\">Thanks, {name} ({colour})</p>")).await
}

const ARTICLE: &str = r#"<style>@media print { .screen-only { display: none } }</style>
<nav class="screen-only">Home · Shop · About</nav>
<article><h1>Rust in Browsers</h1><p>Helmdeck renders <em>pages</em> for agents.</p><ul><li>first</li><li>second</li></ul></article>
<footer>Copyright footer</footer>"#;

/// Embeds the metadata address, a private address and the fixture itself
/// by a refused address, as image, fetch and iframe.
async fn ssrf(State(SiteState { port, .. }): State<SiteState>) -> Html<String> {
    let body = format!(
        r#"<h1 id="title">Embeds</h1>
<img src="http://169.254.169.254/latest/meta-data/iam.png">
<img src="http://10.0.0.1/internal.png">
<iframe src="http://127.0.0.1:{port}/block"></iframe>
<script>fetch('http://[::ffff:127.0.0.1]:{port}/block').catch(() => {{}});</script>"#
    );
    page("Embeds", &body).await
}

/// The password `/welcome` accepts for user `ada`.
pub const LOGIN_PASSWORD: &str = "correct-horse-battery-staple";

const LOGIN: &str = r#"<form action="/welcome" method="get">
<input id="user" name="user"><input id="pass" name="pass" type="password">
<button id="go" type="submit">Sign in</button>
</form>"#;

/// The same login with the password in a plain text field, which shows it
/// on screen.
const LOGIN_TEXT: &str = r#"<form action="/welcome" method="get">
<input id="user" name="user"><input id="pass" name="pass" type="text">
<button id="go" type="submit">Sign in</button>
</form>"#;

/// Says whether the login matched and, on success, signs the browser in
/// (cookie `account`, which `/account` reads); echoes the password back in
/// its text and title, as a careless site might.
async fn welcome(Query(q): Query<HashMap<String, String>>) -> Response {
    let (user, pass) = (q.get("user").cloned().unwrap_or_default(), q.get("pass").cloned().unwrap_or_default());
    let signed_in = user == "ada" && (pass == LOGIN_PASSWORD || pass == TEXT_LOGIN_PASSWORD);
    let verdict = if signed_in { "signed in" } else { "wrong password" };
    let echo = pass.replace('<', "&lt;");
    let body = format!("<p id=\"verdict\">{verdict}</p><p id=\"echo\">you typed {echo}</p>");
    let mut response = page(&format!("Welcome {echo}"), &body).await.into_response();
    if signed_in && let Ok(v) = "account=ada; Path=/; HttpOnly".parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// The password `/welcome` also accepts for `ada`: with characters that URL
/// encoding changes (a GET form sends `%26`, `+` and `%2F` for them).
pub const TEXT_LOGIN_PASSWORD: &str = "tr0ub4dor&3 horse/staple";

/// Who is signed in (the `account` cookie `/welcome` sets).
async fn account(headers: HeaderMap) -> Html<String> {
    let cookies = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let who = cookies.split("; ").find_map(|c| c.strip_prefix("account=")).unwrap_or_default().replace('<', "&lt;");
    let text = if who.is_empty() { "signed out".to_owned() } else { format!("signed in as {who}") };
    page("Account", &format!("<p id=\"account\">{text}</p>")).await
}

/// A page on the fixture host that sends the browser to the other host's
/// login form as soon as it has loaded: by script, by meta refresh, or when
/// `#away` is clicked.
async fn leave_by_script(State(SiteState { port, .. }): State<SiteState>) -> Html<String> {
    let to = other_login(port);
    page(
        "Leaving",
        &format!("<p>leaving</p><script>addEventListener('load', () => {{ location.href = '{to}'; }});</script>"),
    )
    .await
}

async fn leave_by_meta(State(SiteState { port, .. }): State<SiteState>) -> Html<String> {
    let to = other_login(port);
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=\"refresh\" content=\"0;url={to}\">\
         <title>Leaving</title></head><body><p>leaving</p></body></html>"
    ))
}

async fn leave_by_link(State(SiteState { port, .. }): State<SiteState>) -> Html<String> {
    page("Leaving", &format!("<a id=\"away\" href=\"{}\">sign in</a>", other_login(port))).await
}

fn other_login(port: u16) -> String {
    format!("http://{}:{port}/login", super::browser::OTHER_HOST)
}

/// How many windows `/popup-loop` tries to open.
pub const POPUP_LOOP_COUNT: usize = 1000;

/// Opens [`POPUP_LOOP_COUNT`] windows in a loop while it loads.
const POPUP_LOOP: &str = r#"<p id="opening">opening</p>
<script>for (let i = 0; i < 1000; i++) { window.open('about:blank', '_blank'); }</script>
<p id="opened">opened</p>"#;

async fn set_cookie(Query(q): Query<HashMap<String, String>>) -> Response {
    let value = q.get("v").cloned().unwrap_or_default();
    let mut response = page("Cookie set", &format!("<p id=\"set\">set {value}</p>")).await.into_response();
    if let Ok(v) = format!("flavour={value}; Path=/").parse() {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn show_cookie(headers: HeaderMap) -> Html<String> {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("none").replace('<', "&lt;");
    page("Cookie", &format!("<p id=\"cookie\">{cookie}</p>")).await
}
