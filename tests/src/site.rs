//! The fixture site the browser tests visit, served on 127.0.0.1: a page
//! with a coloured block, a long page, a page rendered by JavaScript after a
//! delay, a form, a print-styled article, pages that embed or redirect to
//! refused addresses, cookie pages, a page that opens every kind of
//! JavaScript dialog, a page that downloads a file and a page that never
//! finishes loading.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The red of the block on `/block` (and its position: 200x100 at 0,0).
pub const BLOCK_RGB: [u8; 3] = [255, 0, 0];

/// A running fixture site; stops with the test's runtime.
pub struct Site {
    addr: SocketAddr,
}

impl Site {
    /// Serve on a free port of 127.0.0.1.
    pub async fn start() -> anyhow::Result<Site> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let app = routes().with_state(addr.port());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Site { addr })
    }

    /// `http://fixture.localhost:PORT{path}`: the allow-listed name.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", super::browser::FIXTURE_HOST, self.addr.port())
    }

    /// `http://127.0.0.1:PORT{path}`: the same server by a refused address.
    pub fn loopback_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }
}

fn routes() -> Router<u16> {
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
        .route("/welcome", get(welcome))
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

/// Clicking `#open` opens [`POPPED_PATH`] in a new window.
const POPUP: &str = r#"<button id="open">open</button>
<script>document.getElementById('open').onclick = () => window.open('/popped', 'popped');</script>"#;

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
async fn ssrf(State(port): State<u16>) -> Html<String> {
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

/// Says whether the login matched, and echoes the password back (as a
/// careless site might) so tests can check the pack sees it masked.
async fn welcome(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let (user, pass) = (q.get("user").cloned().unwrap_or_default(), q.get("pass").cloned().unwrap_or_default());
    let verdict = if user == "ada" && pass == LOGIN_PASSWORD { "signed in" } else { "wrong password" };
    let echo = pass.replace('<', "&lt;");
    page("Welcome", &format!("<p id=\"verdict\">{verdict}</p><p id=\"echo\">you typed {echo}</p>")).await
}

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
