//! Vault credentials in the browser, end to end: the real `helmdeck serve`,
//! real Chromium, the fixture site (which records what each of its two
//! hosts received) and, as the attacker, the `spy` fixture pack. A
//! credential goes only to a page that is on its site at the moment of
//! use, and nothing of it ever comes back to the pack.

use anyhow::Result;
use base64::Engine as _;
use helmdeck_tests::browser::{FIXTURE_HOST, OTHER_HOST, Options, Server};
use helmdeck_tests::site::{LOGIN_PASSWORD, Site, TEXT_LOGIN_PASSWORD};
use serde_json::{Value, json};

/// A server with the `spy` pack beside the built-in ones, and the site.
async fn setup() -> Result<(Server, Site)> {
    let options = Options { fixtures: vec!["spy"], ..Options::default() };
    Ok((Server::start_with(options).await?, Site::start().await?))
}

/// Add credential `name` of `kind` for the fixture host (plain http named,
/// as a loopback site needs), usable by `packs`.
async fn add(server: &Server, name: &str, kind: &str, packs: &[&str], secret: Value) -> Result<()> {
    let hosts = [format!("http://{FIXTURE_HOST}")];
    let body = json!({ "name": name, "kind": kind, "hosts": hosts, "packs": packs, "secret": secret });
    let added = server.request(reqwest::Method::POST, "/api/v1/vault/credentials", Some(body)).await?;
    assert_eq!(added.status, 200, "{}", added.body);
    Ok(())
}

/// Every form `secret` could take in what a pack gets back.
fn encodings(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    vec![
        secret.to_owned(),
        b64.encode(secret),
        b64.encode(format!("you typed {secret}")),
        secret.chars().rev().collect(),
        serde_json::to_string(&secret.chars().map(String::from).collect::<Vec<_>>()).unwrap_or_default(),
        form.clone(),
        form.replace('+', "%20"),
    ]
}

fn leaked(text: &str, secret: &str) -> Option<String> {
    encodings(secret).into_iter().find(|e| text.contains(e.as_str()))
}

#[tokio::test]
async fn a_login_and_a_cookie_jar_reach_their_site_and_reading_resumes_only_on_a_fresh_page() -> Result<()> {
    let (server, site) = setup().await?;
    add(&server, "shop", "login", &["browser"], json!({ "username": "ada", "password": LOGIN_PASSWORD })).await?;
    let cookie = "session-7f3a9c1e5d";
    add(&server, "shop-session", "cookies", &["browser"], json!({ "cookies": [{ "name": "sid", "value": cookie }] }))
        .await?;
    let login = |then: Value| {
        let mut actions = vec![
            json!({ "action": "navigate", "url": site.url("/login") }),
            json!({ "action": "use_credential", "name": "shop", "username_selector": "#user",
                    "password_selector": "#pass", "submit_selector": "#go" }),
            // Waiting for the site's answer says only that it came.
            json!({ "action": "wait_for", "selector": "#verdict" }),
        ];
        actions.extend(then.as_array().cloned().unwrap_or_default());
        json!({ "actions": actions })
    };

    // Reading the page the login landed on (it echoes the password) is refused...
    let read = server
        .call("browser.interact", login(json!([{ "action": "extract", "name": "echo", "selector": "#echo" }])))
        .await?;
    assert_eq!(read.code(), "unauthorized", "{}", read.body);
    assert!(read.message().contains("navigate"), "the refusal says how to read again: {}", read.message());
    // ...until the pack navigates to a fresh page: the site kept the login.
    let then = json!([
        { "action": "navigate", "url": site.url("/account") },
        { "action": "extract", "name": "account", "selector": "#account" }
    ]);
    let done = server.call("browser.interact", login(then)).await?;
    let out = done.output();
    assert_eq!(out["extracted"]["account"], json!(["signed in as ada"]), "{out}");
    let logins = site.received_by(FIXTURE_HOST).into_iter().filter(|r| r.uri.starts_with("/welcome")).count();
    assert_eq!(logins, 2, "both logins reached the site: {:?}", site.received());
    assert!(
        leaked(&done.body.to_string(), LOGIN_PASSWORD).is_none()
            && leaked(&read.body.to_string(), LOGIN_PASSWORD).is_none()
    );

    // A cookie jar stays in the session's context: the session is write-only from then on.
    let session = server.session().await?;
    let jar = json!({ "actions": [
        { "action": "navigate", "url": site.url("/cookie/show") },
        { "action": "use_credential", "name": "shop-session" },
        { "action": "navigate", "url": site.url("/cookie/show") },
        { "action": "click", "selector": "#cookie" }
    ] });
    let used = server.call_in(&session, "browser.interact", jar).await?;
    assert_eq!(used.output()["final_url"], "", "the location of a page holding a credential is not shown");
    let sent = site.received_by(FIXTURE_HOST).iter().any(|r| r.cookie.as_deref().is_some_and(|c| c.contains(cookie)));
    assert!(sent, "the site got the cookie: {:?}", site.received());
    let reread = json!({ "actions": [
        { "action": "navigate", "url": site.url("/cookie/show") },
        { "action": "extract", "name": "cookie", "selector": "#cookie" }
    ] });
    let refused = server.call_in(&session, "browser.interact", reread).await?;
    assert_eq!(refused.code(), "unauthorized", "{}", refused.body);
    assert!(!used.body.to_string().contains(cookie) && !refused.body.to_string().contains(cookie));

    // Other hosts, and plain http for a credential that does not name it, are refused before anything is sent.
    let bare = json!({ "name": "bare", "kind": "login", "hosts": [FIXTURE_HOST], "packs": ["browser"],
                       "secret": { "username": "ada", "password": LOGIN_PASSWORD } });
    assert_eq!(server.request(reqwest::Method::POST, "/api/v1/vault/credentials", Some(bare)).await?.status, 200);
    for (url, name, why) in [
        (site.other_url("/login"), "shop", "may not be sent to `other.localhost`"),
        (site.url("/login"), "bare", "not sent over plain http"),
    ] {
        let attempt = json!({ "actions": [
            { "action": "navigate", "url": url },
            { "action": "use_credential", "name": name, "username_selector": "#user", "password_selector": "#pass",
              "submit_selector": "#go" }
        ] });
        let refused = server.call("browser.interact", attempt).await?;
        assert_eq!((refused.status, refused.code()), (403, "unauthorized"), "{}", refused.body);
        assert!(refused.message().contains(why), "{}", refused.message());
    }
    assert_eq!(site.received_by(OTHER_HOST).iter().filter(|r| r.uri.starts_with("/welcome")).count(), 0);
    let uses = server.audit("capability=browser.use_credential").await?;
    assert_eq!(uses.len(), 5, "every use is audited: {uses:?}");
    assert!(uses.iter().any(|r| r["outcome"] == "unauthorized" && r["details"]["name"] == "shop"), "{uses:?}");
    let log = std::fs::read(server.data_dir().join("helmdeck.db"))?;
    assert!(leaked(&String::from_utf8_lossy(&log), LOGIN_PASSWORD).is_none(), "no plaintext in the database");
    Ok(())
}

#[tokio::test]
async fn a_credential_is_refused_once_the_page_has_left_its_site_by_script_refresh_click_or_a_rewritten_form()
-> Result<()> {
    let (server, site) = setup().await?;
    add(&server, "shop", "login", &["browser", "spy"], json!({ "username": "ada", "password": LOGIN_PASSWORD }))
        .await?;
    let fill = json!({ "action": "use_credential", "name": "shop", "username_selector": "#user",
                       "password_selector": "#pass", "submit_selector": "#go" });
    // The pack checks that the login form is there, as it would; by then
    // the page that was on the credential's site has gone to the other one.
    let arrived = json!({ "action": "wait_for", "selector": "#user", "timeout_ms": 10000 });
    let ways = [
        ("a script", vec![json!({ "action": "navigate", "url": site.url("/leave/script") }), arrived.clone()]),
        ("a meta refresh", vec![json!({ "action": "navigate", "url": site.url("/leave/meta") }), arrived.clone()]),
        (
            "a click",
            vec![
                json!({ "action": "navigate", "url": site.url("/leave/link") }),
                json!({ "action": "click", "selector": "#away" }),
                arrived.clone(),
            ],
        ),
    ];
    for (how, mut actions) in ways {
        actions.push(fill.clone());
        let answer = server.call("browser.interact", json!({ "actions": actions })).await?;
        assert_eq!(answer.status, 403, "left by {how}: {}", answer.body);
        assert_eq!(answer.code(), "unauthorized", "left by {how}: {}", answer.body);
        assert!(answer.message().contains("other.localhost"), "left by {how}: {}", answer.message());
    }
    // A page the pack scripted (here: its form rewritten to post to the other host) takes no credential.
    let tamper = json!({ "url": site.url("/login"), "credential": "shop", "username_selector": "#user",
                         "password_selector": "#pass", "submit_selector": "#go", "action": site.other_url("/welcome") });
    let tampered = server.call("spy.tamper", tamper).await?;
    assert_eq!(tampered.output()["used"], "unauthorized", "{}", tampered.body);

    let elsewhere: Vec<String> = site.received_by(OTHER_HOST).iter().map(|r| r.carried()).collect();
    let reached = elsewhere.iter().find_map(|c| leaked(c, LOGIN_PASSWORD).map(|form| (c.clone(), form)));
    assert!(reached.is_none(), "the password reached the other host: {reached:?}");
    let anywhere = site.received().iter().any(|r| leaked(&r.carried(), LOGIN_PASSWORD).is_some());
    assert!(!anywhere, "nothing was typed anywhere: {:?}", site.received());
    Ok(())
}

/// What the spy does that acts on the page rather than reading it.
const ACTIONS: [&str; 2] = ["click_submit", "wait_for_answer"];

#[tokio::test]
async fn a_pack_cannot_read_back_a_credential_it_used_in_any_encoding() -> Result<()> {
    let (server, site) = setup().await?;
    // A password that URL encoding changes, typed into a field that shows it.
    add(&server, "shop", "login", &["spy"], json!({ "username": "ada", "password": TEXT_LOGIN_PASSWORD })).await?;
    let input = json!({ "url": site.url("/login-text"), "credential": "shop", "username_selector": "#user",
                        "password_selector": "#pass", "submit_selector": "#go" });
    let answer = server.call("spy.steal", input).await?;
    let out = answer.output();
    assert_eq!(out["used"], "ok", "{out}");
    let attempts = out["attempts"].as_array().cloned().unwrap_or_default();
    assert!(attempts.len() > 30, "{out}");
    let answered: Vec<String> = attempts
        .iter()
        .filter(|a| !ACTIONS.contains(&a["name"].as_str().unwrap_or_default()) && a["outcome"] != "unauthorized")
        .map(|a| format!("{} -> {}: {}", a["name"], a["outcome"], a["value"]))
        .collect();
    assert!(answered.is_empty(), "reads of a page holding the credential were answered:\n{}", answered.join("\n"));
    for action in ACTIONS {
        let done = attempts.iter().find(|a| a["name"] == action).map(|a| &a["outcome"]);
        assert_eq!(done, Some(&json!("ok")), "acting on the page still works: {action}");
    }
    assert!(leaked(&answer.body.to_string(), TEXT_LOGIN_PASSWORD).is_none(), "{}", answer.body);
    let signed_in = site.received_by(FIXTURE_HOST).iter().any(|r| r.uri.contains("pass=tr0ub4dor%263+horse%2Fstaple"));
    assert!(signed_in, "the site got the login: {:?}", site.received());
    // The proxy audited the login request's URL: with the password masked in its encoded form too.
    let records = serde_json::to_string(&server.audit("capability=browser.request&limit=1000").await?)?;
    assert!(leaked(&records, TEXT_LOGIN_PASSWORD).is_none(), "the audit log holds the password");
    Ok(())
}
