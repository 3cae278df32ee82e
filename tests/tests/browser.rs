//! Browser sessions end to end: the real `helmdeck serve`, real Chromium,
//! the `browser` and `web` packs, and a fixture site on 127.0.0.1.

use anyhow::Result;
use helmdeck_tests::browser::{Answer, Server};
use helmdeck_tests::site::{BLOCK_RGB, DOWNLOAD_NAME, POPPED_PATH, Site};
use helmdeck_tests::wait_until;
use image::GenericImageView;
use serde_json::{Value, json};

async fn setup() -> Result<(Server, Site)> {
    Ok((Server::start().await?, Site::start().await?))
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("the artifact decodes as an image")
}

async fn image_of(server: &Server, answer: &Answer) -> Result<image::DynamicImage> {
    let id = answer.output()["artifact"]["id"].as_str().unwrap_or_default();
    Ok(decode(&server.artifact(id).await?))
}

#[tokio::test]
async fn screenshots_have_the_requested_size_and_colours_and_full_pages_are_taller() -> Result<()> {
    let (server, site) = setup().await?;
    let shot = server
        .call(
            "browser.screenshot_url",
            json!({ "url": site.url("/block"), "viewport": { "width": 400, "height": 300 } }),
        )
        .await?;
    let out = shot.output();
    assert_eq!((out["width"].as_u64(), out["height"].as_u64()), (Some(400), Some(300)));
    assert_eq!(out["title"], "Block");
    assert_eq!(out["final_url"], site.url("/block"));
    let png = image_of(&server, &shot).await?;
    assert_eq!(png.dimensions(), (400, 300));
    assert_eq!(png.get_pixel(100, 50).0[..3], BLOCK_RGB, "the block is painted red");
    assert_eq!(png.get_pixel(350, 250).0[..3], [255, 255, 255], "outside the block is white");

    let jpeg = server
        .call("browser.screenshot_url", json!({ "url": site.url("/block"), "format": "jpeg", "quality": 90, "viewport": { "width": 640, "height": 480 } }))
        .await?;
    assert_eq!(jpeg.output()["artifact"]["content_type"], "image/jpeg");
    let decoded = image_of(&server, &jpeg).await?;
    assert_eq!(decoded.dimensions(), (640, 480));
    let [r, g, b, _] = decoded.get_pixel(100, 50).0;
    assert!(r > 230 && g < 30 && b < 30, "jpeg block is still red: {r},{g},{b}");

    let element =
        server.call("browser.screenshot_url", json!({ "url": site.url("/block"), "selector": "#block" })).await?;
    assert_eq!(image_of(&server, &element).await?.dimensions(), (200, 100));

    let viewport = json!({ "width": 800, "height": 600 });
    let full = server
        .call("browser.screenshot_url", json!({ "url": site.url("/long"), "full_page": true, "viewport": viewport }))
        .await?;
    let full_png = image_of(&server, &full).await?;
    assert_eq!(full_png.width(), 800);
    assert!(
        full_png.height() > 600,
        "a full-page shot of a 3000 px page is taller than the viewport: {}",
        full_png.height()
    );
    assert_eq!(full.output()["height"].as_u64(), Some(u64::from(full_png.height())));
    Ok(())
}

#[tokio::test]
async fn artifacts_download_through_a_signed_link_that_refuses_tampering() -> Result<()> {
    let (server, site) = setup().await?;
    let pdf = server.call("browser.pdf", json!({ "url": site.url("/article"), "paper": "a4" })).await?;
    let artifact = &pdf.output()["artifact"];
    assert_eq!(artifact["content_type"], "application/pdf");
    let link = artifact["download_url"].as_str().unwrap_or_default();
    assert!(link.starts_with(&server.url) && link.contains("/shared/artifacts/"), "{link}");
    let (status, bytes) = server.fetch_public(link).await?;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"%PDF-"), "a PDF comes back without a token");
    let tampered = link.replacen("sig=", "sig=00", 1);
    assert_eq!(server.fetch_public(&tampered).await?.0, 401);
    let other_id = link.replacen("/shared/artifacts/", "/shared/artifacts/0", 1);
    assert_eq!(server.fetch_public(&other_id).await?.0, 401, "a signature is bound to its artifact");
    let uses = server.audit("capability=GET%20/shared/artifacts/%7Bid%7D").await?;
    assert_eq!(uses.len(), 3, "every use of a shared link is audited: {uses:?}");
    Ok(())
}

#[tokio::test]
async fn scrape_spa_extracts_delayed_content_and_reports_missing_fields_as_partial() -> Result<()> {
    let (server, site) = setup().await?;
    let schema = json!({
        "shop": { "selector": "h1.shop" },
        "total": { "selector": ".total", "type": "integer" },
        "open": { "selector": ".open", "type": "boolean" },
        "books": { "selector": "li.book", "list": true, "fields": {
            "name": { "selector": ".name" },
            "link": { "selector": ".name", "kind": "attribute", "attribute": "href" },
            "price": { "selector": ".price", "type": "number" }
        } }
    });
    let complete = server.call("web.scrape_spa", json!({ "url": site.url("/spa"), "schema": schema })).await?;
    let out = complete.output();
    assert_eq!(out["complete"], true, "{out}");
    assert_eq!(out["data"]["shop"], "Ada's Books");
    assert_eq!(out["data"]["total"], 1234);
    assert_eq!(out["data"]["open"], true);
    assert_eq!(out["data"]["books"][1], json!({ "name": "Emma", "link": "/b/2", "price": 4.25 }));

    let mut with_missing = schema.clone();
    with_missing["rating"] = json!({ "selector": ".rating" });
    let partial = server
        .call("web.scrape_spa", json!({ "url": site.url("/spa"), "schema": with_missing, "field_timeout_ms": 1500 }))
        .await?;
    let out = partial.output();
    assert_eq!(out["complete"], false);
    assert_eq!(out["data"]["shop"], "Ada's Books", "the fields that exist are still extracted");
    assert_eq!(out["data"]["rating"], Value::Null);
    assert_eq!(
        out["errors"],
        json!([{ "field": "rating", "code": "not_found", "message": "no element matches `.rating`" }])
    );
    Ok(())
}

#[tokio::test]
async fn interact_submits_a_form_and_a_failed_assertion_reports_its_step_and_a_screenshot() -> Result<()> {
    let (server, site) = setup().await?;
    let steps = |expected: &str| {
        json!({ "actions": [
            { "action": "navigate", "url": site.url("/form") },
            { "action": "type", "selector": "#name", "text": "Ada" },
            { "action": "select", "selector": "#colour", "value": "blue" },
            { "action": "click", "selector": "#send" },
            { "action": "assert_text", "text": expected, "selector": "#result" },
            { "action": "extract", "name": "result", "selector": "#result" }
        ] })
    };
    let done = server.call("browser.interact", steps("Thanks, Ada (blue)")).await?;
    let out = done.output();
    assert_eq!(out["steps"], 6);
    assert_eq!(out["extracted"]["result"], json!(["Thanks, Ada (blue)"]));
    assert!(out["final_url"].as_str().unwrap_or_default().contains("/thanks?name=Ada&colour=blue"), "{out}");

    let failed = server.call("browser.interact", steps("Thanks, Grace")).await?;
    assert_eq!(failed.status, 404);
    assert_eq!(failed.code(), "not_found");
    let details = &failed.body["error"]["details"];
    assert_eq!(details["step"], 4, "the failing step's index: {details}");
    assert_eq!(details["action"], "assert_text");
    assert!(failed.message().starts_with("step 4 (assert_text) failed"), "{}", failed.message());
    let shot = server.artifact(details["screenshot"]["id"].as_str().unwrap_or_default()).await?;
    assert_eq!(decode(&shot).dimensions(), (1280, 720), "a screenshot of the moment of failure");
    Ok(())
}

#[tokio::test]
async fn javascript_dialogs_are_answered_so_pages_and_navigations_never_stall() -> Result<()> {
    let (server, site) = setup().await?;
    let session = server.session().await?;
    let steps = json!({ "actions": [
        { "action": "navigate", "url": site.url("/dialogs") },
        { "action": "extract", "name": "answers", "selector": "#answers" },
        { "action": "click", "selector": "#arm" },
        { "action": "navigate", "url": site.url("/block") }
    ] });
    let done = server.call_in(&session, "browser.interact", steps).await?;
    let out = done.output();
    assert_eq!(
        out["extracted"]["answers"],
        json!(["confirm:false prompt:null"]),
        "the alert was accepted, the confirmation and the prompt dismissed: {out}"
    );
    assert!(out["final_url"].as_str().unwrap_or_default().ends_with("/block"), "leaving a guarded page works: {out}");
    // A call that ends on the guarded page leaves it in the session's kept
    // tab; clearing it for the next call must not stall either.
    let arm = json!({ "actions": [
        { "action": "navigate", "url": site.url("/dialogs") },
        { "action": "click", "selector": "#arm" }
    ] });
    server.call_in(&session, "browser.interact", arm).await?.output();
    let next = json!({ "actions": [{ "action": "extract", "name": "answers", "selector": "#answers" }] });
    let next = server.call_in(&session, "browser.interact", next).await?;
    assert_eq!(next.output()["final_url"], "about:blank");
    Ok(())
}

#[tokio::test]
async fn a_page_that_downloads_a_file_writes_nothing_to_disk() -> Result<()> {
    let (server, site) = setup().await?;
    let steps = json!({ "actions": [
        { "action": "navigate", "url": site.url("/download") },
        { "action": "wait_for", "selector": "#started" }
    ] });
    // In a session kept across calls, so the page (and its download) outlives
    // the call: Chromium asks for the file a moment after the click, and an
    // ephemeral context could be gone by then.
    let session = server.session().await?;
    server.call_in(&session, "browser.interact", steps).await?.output();
    let fetched = wait_until(|| async { Ok(server.requests_to("/file").await? > 0) }).await?;
    assert!(fetched, "the page asked for the file");
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
    // The browsers' profiles, wherever they live (their own HOME when they run as users of their own).
    let mut profiles = Vec::new();
    for pid in server.browsers().await?["instances"].as_array().into_iter().flatten() {
        let profile = helmdeck_tests::endpoints::browser_profile(pid.as_str().unwrap_or_default())?;
        profiles.extend(profile.parent().map(std::path::Path::to_path_buf));
    }
    let places = [home.join("Downloads"), server.data_dir().to_path_buf(), std::env::temp_dir()];
    for dir in places.into_iter().chain(profiles) {
        let found = walkdir(&dir).into_iter().find(|p| p.ends_with(DOWNLOAD_NAME));
        assert!(found.is_none(), "the browser saved a download: {found:?}");
    }
    Ok(())
}

#[tokio::test]
async fn windows_a_page_opens_are_closed_when_the_call_ends() -> Result<()> {
    let (server, site) = setup().await?;
    let steps = json!({ "actions": [
        { "action": "navigate", "url": site.url("/popup") },
        { "action": "click", "selector": "#open" },
        // The window has loaded before the call ends (an ephemeral context could go first).
        { "action": "wait_for", "selector": "#popped-loaded" }
    ] });
    let none_open = || async { Ok(!server.open_pages().await?.iter().any(|url| url.ends_with(POPPED_PATH))) };
    // A session kept across calls keeps its tab, but not the windows its pages opened.
    let session = server.session().await?;
    for calls in 1..=2 {
        let opened = server.call_in(&session, "browser.interact", steps.clone()).await?;
        let opened = opened.output();
        assert!(opened["final_url"].as_str().unwrap_or_default().ends_with("/popup"), "{opened}");
        let loaded = wait_until(|| async { Ok(server.requests_to(POPPED_PATH).await? == calls) }).await?;
        assert!(loaded, "the popup opened, through the session's guarded proxy");
        let closed = wait_until(none_open).await?;
        assert!(closed, "a popup outlived its call: {:?}", server.open_pages().await?);
    }
    server.call_in(&session, "browser.screenshot_url", json!({ "url": site.url("/block") })).await?.output();
    // An ephemeral session's context goes with its call, popups and all.
    server.call("browser.interact", steps).await?.output();
    assert!(
        wait_until(|| async { Ok(server.requests_to(POPPED_PATH).await? == 3) }).await?,
        "the ephemeral popup opened"
    );
    assert!(wait_until(none_open).await?, "an ephemeral popup outlived its call");
    Ok(())
}

/// Every file under `dir` (symlinks not followed; unreadable parts skipped).
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => pending.push(entry.path()),
                Ok(_) => files.push(entry.path()),
                Err(_) => {}
            }
        }
    }
    files
}

#[tokio::test]
async fn sessions_keep_their_own_cookies_and_deleting_one_frees_its_context() -> Result<()> {
    let (server, site) = setup().await?;
    let (a, b) = (server.session().await?, server.session().await?);
    let set = |v: &str| json!({ "url": site.url(&format!("/cookie/set?v={v}")), "actions": [{ "action": "wait_for", "selector": "#set" }] });
    let (set_a, set_b) = tokio::join!(
        server.call_in(&a, "browser.interact", set("alpha")),
        server.call_in(&b, "browser.interact", set("beta"))
    );
    set_a?.output();
    set_b?.output();
    let show = json!({ "url": site.url("/cookie/show"), "actions": [{ "action": "extract", "name": "cookie", "selector": "#cookie" }] });
    let (seen_a, seen_b) = tokio::join!(
        server.call_in(&a, "browser.interact", show.clone()),
        server.call_in(&b, "browser.interact", show.clone())
    );
    assert_eq!(
        seen_a?.output()["extracted"]["cookie"],
        json!(["flavour=alpha"]),
        "session a keeps its cookie across calls"
    );
    assert_eq!(seen_b?.output()["extracted"]["cookie"], json!(["flavour=beta"]), "and does not see b's");
    let next = json!({ "actions": [{ "action": "extract", "name": "cookie", "selector": "#cookie" }] });
    let next = server.call_in(&a, "browser.interact", next).await?;
    let next = next.output();
    assert_eq!(
        (&next["final_url"], &next["extracted"]["cookie"]),
        (&json!("about:blank"), &json!([])),
        "a session's next call starts on a blank page, not on what the last call left"
    );
    let fresh = server.call("browser.interact", show.clone()).await?;
    assert_eq!(fresh.output()["extracted"]["cookie"], json!(["none"]), "an ephemeral session starts empty");

    let held = |b: Value| b["stats"]["contexts"].as_u64().unwrap_or(0) - b["spare_contexts"].as_u64().unwrap_or(0);
    let two = wait_until(|| async { server.browsers().await.map(|b| held(b) == 2) }).await?;
    assert!(two, "the two named sessions hold a context each; the ephemeral one was released");
    let deleted = server.request(reqwest::Method::DELETE, &format!("/api/v1/sessions/{a}"), None).await?;
    assert_eq!(deleted.body["state"], "closed");
    let freed = wait_until(|| async { server.browsers().await.map(|b| held(b) == 1) }).await?;
    assert!(freed, "deleting a session disposes its browser context");
    let gone = server.call_in(&a, "browser.interact", show).await?;
    assert_eq!(gone.code(), "session_unavailable");
    Ok(())
}

#[tokio::test]
async fn a_killed_browser_is_reported_as_session_unavailable_and_the_next_call_works() -> Result<()> {
    let (server, site) = setup().await?;
    let session = server.session().await?;
    let shot = json!({ "url": site.url("/block") });
    server.call_in(&session, "browser.screenshot_url", shot.clone()).await?.output();
    let pool = server.browsers().await?;
    let pid = pool["instances"][0].as_str().unwrap_or_default().to_owned();
    assert!(!pid.is_empty(), "{pool}");
    std::process::Command::new("kill").args(["-KILL", &pid]).status()?;
    let detected = wait_until(|| async { server.browsers().await.map(|b| b["stats"]["crashes"] == 1) }).await?;
    assert!(detected, "the pool notices the dead browser");

    let lost = server.call_in(&session, "browser.screenshot_url", shot.clone()).await?;
    assert_eq!(lost.code(), "session_unavailable");
    assert!(lost.message().contains("crashed"), "{}", lost.message());
    server.call_in(&session, "browser.screenshot_url", shot.clone()).await?.output();
    server.call("browser.screenshot_url", shot).await?.output();
    let pool = server.browsers().await?;
    assert_ne!(pool["instances"][0].as_str(), Some(pid.as_str()), "a replacement browser serves the calls: {pool}");
    Ok(())
}

#[tokio::test]
async fn refused_addresses_are_blocked_and_audited_while_the_allowlisted_site_loads() -> Result<()> {
    let (server, site) = setup().await?;
    for url in [
        site.loopback_url("/block"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.1.2.3/".to_owned(),
    ] {
        let denied = server.call("browser.screenshot_url", json!({ "url": url })).await?;
        assert_eq!(denied.code(), "egress_denied", "{url}: {}", denied.body);
    }
    let navigations = server.audit("capability=browser.navigate&decision=deny&limit=100").await?;
    assert_eq!(navigations.len(), 3, "each refused navigation is audited: {navigations:?}");
    let redirected = server.call("browser.screenshot_url", json!({ "url": site.url("/to-metadata") })).await?;
    assert_eq!(
        redirected.code(),
        "egress_denied",
        "a redirect to the metadata address is refused: {}",
        redirected.body
    );

    let embeds = server.call("web.content", json!({ "url": site.url("/ssrf"), "format": "text" })).await?;
    assert!(embeds.output()["content"].as_str().unwrap_or_default().contains("Embeds"), "the allow-listed page loads");
    let refused = wait_until(|| async {
        let denied = server.audit("capability=browser.request&decision=deny&limit=100").await?;
        let targets: Vec<String> = denied.iter().filter_map(|r| r["target"].as_str().map(str::to_owned)).collect();
        Ok(["169.254.169.254/latest/meta-data/iam.png", "10.0.0.1/internal.png", "127.0.0.1", "[::ffff:7f00:1]"]
            .iter()
            .all(|t| targets.iter().any(|seen| seen.contains(t))))
    })
    .await?;
    assert!(refused, "every embedded request to a refused address is blocked and audited");
    let denial = &server.audit("capability=browser.request&decision=deny&limit=1").await?[0];
    assert_eq!(denial["outcome"], "egress_denied");
    assert!(denial["session"].is_string(), "proxy records carry the session: {denial}");
    Ok(())
}

#[tokio::test]
async fn bad_urls_unreachable_hosts_timeouts_and_selector_errors_map_to_the_closed_set() -> Result<()> {
    let (server, site) = setup().await?;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("browser.screenshot_url", json!({ "url": "file:///etc/passwd" }), "invalid_input"),
        ("browser.screenshot_url", json!({ "url": "http://" }), "invalid_input"),
        ("browser.screenshot_url", json!({ "url": "http://fixture.localhost:1/" }), "network_error"),
        ("browser.screenshot_url", json!({ "url": site.url("/hang"), "timeout_ms": 800 }), "timeout"),
        (
            "browser.screenshot_url",
            json!({ "url": site.url("/block"), "wait_for": "#never", "timeout_ms": 800 }),
            "timeout",
        ),
        ("browser.screenshot_url", json!({ "url": site.url("/block"), "selector": "#missing" }), "not_found"),
        (
            "browser.interact",
            json!({ "url": site.url("/form"), "actions": [{ "action": "click", "selector": "##bad" }] }),
            "invalid_input",
        ),
        (
            "browser.interact",
            json!({ "url": site.url("/form"), "actions": [{ "action": "select", "selector": "#colour", "value": "green" }] }),
            "not_found",
        ),
        (
            "browser.interact",
            json!({ "url": site.url("/form"), "actions": [{ "action": "press", "key": "NoSuchKey" }] }),
            "invalid_input",
        ),
    ];
    for (tool, input, code) in cases {
        let answer = server.call(tool, input.clone()).await?;
        assert_eq!(answer.code(), code, "{tool} {input}: {}", answer.body);
    }
    Ok(())
}

#[tokio::test]
async fn web_content_returns_the_readable_article_as_markdown() -> Result<()> {
    let (server, site) = setup().await?;
    let answer = server.call("web.content", json!({ "url": site.url("/article") })).await?;
    let out = answer.output();
    let text = out["content"].as_str().unwrap_or_default();
    assert!(text.contains("# Rust in Browsers") && text.contains("*pages*"), "{text}");
    assert!(!text.contains("Home · Shop") && !text.contains("Copyright"), "navigation and footer are left out: {text}");
    assert_eq!(out["title"], "Printed article");
    Ok(())
}

#[tokio::test]
async fn browsers_do_not_outlive_a_killed_server() -> Result<()> {
    let (mut server, site) = setup().await?;
    server.call("browser.screenshot_url", json!({ "url": site.url("/block") })).await?.output();
    let pool = server.browsers().await?;
    let pids: Vec<String> =
        pool["instances"].as_array().into_iter().flatten().filter_map(|p| p.as_str().map(str::to_owned)).collect();
    assert!(!pids.is_empty(), "{pool}");
    server.kill_hard()?;
    let gone = wait_until(|| async {
        Ok(pids.iter().all(|pid| {
            // A dead process may linger as a zombie until its (new) parent reaps it.
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| stat.split_whitespace().nth(2) == Some("Z"))
                .unwrap_or(true)
        }))
    })
    .await?;
    assert!(gone, "browsers {pids:?} survived the server");
    Ok(())
}
