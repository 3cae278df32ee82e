//! The vault through the real binary: `${vault:NAME}` substitution at the
//! http boundary (allowed host, refused host, refused pack, echoed secret
//! masked, whatever the encoding and wherever the body is cut; plain
//! `http://` only when the credential says so), write-only
//! values over REST and the CLI, no plaintext on disk, and start-up with a
//! wrong key failing clearly without changing anything.

use anyhow::Result;
use base64::Engine as _;
use helmdeck_tests::live_server::{Instance, credential, find_secret, read_tree};
use helmdeck_tests::loopback_http::{Handler, LoopbackHttp, Request, Response};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::Arc;

const TOKEN: &str = "sk_live_Q8r2XvN5mT1pL7wK9cB4zD6hJ3fY0sA";

/// A server that echoes the request's `authorization` header and query back.
fn echo() -> Result<LoopbackHttp> {
    let handler: Handler = Arc::new(|req: &Request| Response {
        status: 200,
        headers: vec![("x-echo".into(), req.header("authorization").unwrap_or("").to_owned())],
        body: format!("auth={} query={}", req.header("authorization").unwrap_or(""), req.query).into_bytes(),
    });
    LoopbackHttp::start(handler)
}

#[tokio::test(flavor = "multi_thread")]
async fn placeholders_reach_allowed_hosts_only_and_echoed_secrets_come_back_masked() -> Result<()> {
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1"), ("HELMDECK_LOG", "debug")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let echo = echo()?;
    for (name, packs) in [("echo-token", ["http"]), ("repo-only", ["repo"])] {
        let body = credential(name, "api_key", &["http://127.0.0.1"], &packs, json!({ "token": TOKEN }));
        let (status, meta) =
            server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?;
        assert_eq!(status, 200, "{meta}");
    }

    let fetched = server
        .call_ok(
            &agent,
            "http.fetch",
            json!({ "url": echo.url("/?key=${vault:echo-token}"), "headers": { "authorization": "Bearer ${vault:echo-token}" } }),
        )
        .await?;
    let seen = echo.requests();
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "the host substituted it");
    assert_eq!(seen[0].query, format!("key={TOKEN}"));
    assert_eq!(fetched["body"], "auth=Bearer [REDACTED] query=key=[REDACTED]", "{fetched}");
    assert_eq!(fetched["headers"]["x-echo"], "Bearer [REDACTED]");
    assert!(!fetched["final_url"].as_str().unwrap().contains(TOKEN));

    let other_host = echo.url("/").replace("127.0.0.1", "localhost");
    let cases = [
        (
            json!({ "url": other_host, "headers": { "authorization": "Bearer ${vault:echo-token}" } }),
            "may not be sent to `localhost`",
        ),
        (
            json!({ "url": echo.url("/"), "headers": { "authorization": "Bearer ${vault:repo-only}" } }),
            "not available to pack `http`",
        ),
    ];
    for (input, why) in cases {
        let (status, refused) = server.call(&agent, "http.fetch", input).await?;
        assert_eq!((status, refused["error"]["code"].as_str()), (403, Some("unauthorized")), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains(why), "{refused}");
    }
    assert_eq!(echo.requests().len(), 1, "refused requests never left the host");
    let (status, missing) = server.call(&agent, "http.fetch", json!({ "url": echo.url("/?k=${vault:nope}") })).await?;
    assert_eq!((status, missing["error"]["code"].as_str()), (404, Some("not_found")), "{missing}");

    let audit = server.audit(&admin).await?;
    let uses: Vec<_> = audit.iter().filter(|r| r["capability"] == "vault.use").collect();
    assert!(uses.iter().any(|r| r["target"] == "echo-token" && r["outcome"] == "ok"), "every use is logged");
    assert!(uses.iter().any(|r| r["target"] == "repo-only" && r["decision"] == "deny"));
    let everything = format!("{}{}{}", serde_json::to_string(&audit)?, server.transcript().join(""), server.log());
    assert!(find_secret(everything.as_bytes(), TOKEN.as_bytes()).is_none(), "the token leaked");
    Ok(())
}

/// What the encoding echo sends after the echoed header.
const PADDING: &str = "and some ordinary text that compresses well, and some ordinary text that compresses well";

/// A server that echoes the request's `authorization` header as
/// `auth=VALUE` and a line of [`PADDING`], encoded as the query names: a content coding (`gzip`,
/// `br`, `deflate`, `gzip-twice`), a transfer coding (`te-gzip`), a
/// charset that changes every byte (`utf-16`), or as is (`plain`). It
/// encodes whether or not the request asked for it, as servers may.
fn encoding_echo() -> Result<LoopbackHttp> {
    let handler: Handler = Arc::new(|req: &Request| {
        // Text that compresses, so the compressed token is bits, not its bytes.
        let plain = format!("auth={}\n{PADDING}", req.header("authorization").unwrap_or("")).into_bytes();
        let (headers, body): (&[(&str, &str)], Vec<u8>) = match req.query.as_str() {
            "as=gzip" => (&[("content-encoding", "gzip")], gzip(&plain)),
            "as=br" => (&[("content-encoding", "br")], brotli_of(&plain)),
            "as=deflate" => (&[("content-encoding", "deflate")], zlib(&plain)),
            "as=gzip-twice" => (&[("content-encoding", "gzip, gzip")], gzip(&gzip(&plain))),
            "as=te-gzip" => (&[("transfer-encoding", "gzip")], gzip(&plain)),
            "as=utf-16" => (
                &[("content-type", "text/plain; charset=utf-16le")],
                String::from_utf8_lossy(&plain).encode_utf16().flat_map(u16::to_le_bytes).collect(),
            ),
            _ => (&[("content-type", "text/plain")], plain),
        };
        let headers = headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        Response { status: 200, headers, body }
    });
    LoopbackHttp::start(handler)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("zlib in memory");
    encoder.finish().expect("zlib in memory")
}

fn brotli_of(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &brotli::enc::BrotliEncoderParams::default())
        .expect("brotli in memory");
    out
}

/// A decompressor tried on a body.
type Decoder = fn(&[u8]) -> Option<Vec<u8>>;

/// Every way a pack could read the body of an `http.fetch` output: its
/// bytes, and those bytes decompressed (once or twice) or read as UTF-16.
fn readable_forms(output: &Value) -> Vec<Vec<u8>> {
    let raw = match (output["body"].as_str(), output["body_base64"].as_str()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (_, Some(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).unwrap_or_default(),
        _ => Vec::new(),
    };
    let decoders: [Decoder; 3] = [
        |b| read_all(flate2::read::MultiGzDecoder::new(b)),
        |b| read_all(flate2::read::ZlibDecoder::new(b)),
        |b| read_all(brotli::Decompressor::new(b, 4096)),
    ];
    let mut forms = vec![raw];
    for _ in 0..2 {
        let decoded: Vec<Vec<u8>> = forms.iter().flat_map(|f| decoders.iter().filter_map(|d| d(f))).collect();
        forms.extend(decoded);
    }
    let utf16: Vec<Vec<u8>> = forms.iter().map(|f| utf16le(f).into_bytes()).collect();
    forms.extend(utf16);
    forms
}

/// `bytes` read as UTF-16LE (a stray last byte dropped, bad units as `?`).
fn utf16le(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]]));
    char::decode_utf16(units).map(|c| c.unwrap_or('?')).collect()
}

fn read_all(mut reader: impl Read) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_echoed_secret_reaches_the_pack_masked_whatever_the_encoding_and_wherever_the_body_is_cut() -> Result<()> {
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let echo = encoding_echo()?;
    let body = credential("echo-token", "api_key", &["http://127.0.0.1"], &["http"], json!({ "token": TOKEN }));
    let (status, meta) = server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?;
    assert_eq!(status, 200, "{meta}");

    // (query, what the pack asks for in Accept-Encoding, max_bytes)
    let cases = [
        ("as=plain", None, Some(21)),
        ("as=gzip", Some("gzip"), None),
        ("as=br", Some("br"), None),
        ("as=deflate", None, None),
        ("as=gzip-twice", Some("gzip"), None),
        ("as=te-gzip", None, None),
        ("as=utf-16", None, None),
        // "auth=Bearer " is 12 bytes: the cut falls 1 and 9 bytes into the token.
        ("as=plain", None, Some(13)),
        ("as=plain", None, Some(21)),
        // A compressed body cut in its token, after decoding.
        ("as=gzip", Some("gzip"), Some(20)),
    ];
    for (query, accept, max_bytes) in cases {
        let mut headers = json!({ "authorization": "Bearer ${vault:echo-token}" });
        if let Some(accept) = accept {
            headers["accept-encoding"] = accept.into();
        }
        let mut input = json!({ "url": echo.url(&format!("/?{query}")), "headers": headers });
        if let Some(max) = max_bytes {
            input["max_bytes"] = max.into();
        }
        let (status, answer) = server.call(&agent, "http.fetch", input).await?;
        let case = format!("{query} (accept {accept:?}, max_bytes {max_bytes:?})");
        for form in readable_forms(&answer["output"]) {
            // Not the token, nor any prefix of it a cut could leave (8 bytes: `sk_live_`).
            assert!(
                find_secret(&form, &TOKEN.as_bytes()[..8]).is_none(),
                "{case}: the pack can read the token: {answer}"
            );
        }
        match status {
            200 => {
                let raw = answer["output"]["body"].as_str().unwrap_or_default();
                // The UTF-16 echo is read as UTF-16 (its mask is written in UTF-16 too).
                let text = match query {
                    "as=utf-16" => utf16le(raw.as_bytes()),
                    _ => raw.to_owned(),
                };
                assert!(text.starts_with("auth=Bearer ["), "{case}: the echo came back masked as text: {answer}");
                if max_bytes.is_none() {
                    assert_eq!(text, format!("auth=Bearer [REDACTED]\n{PADDING}"), "{case}: {answer}");
                }
            }
            // A coding the host cannot decode is refused rather than handed over unread.
            _ => assert_eq!(
                (status, answer["error"]["code"].as_str(), ["as=gzip-twice", "as=te-gzip"].contains(&query)),
                (502, Some("network_error"), true),
                "{case}: {answer}"
            ),
        }
    }
    assert_eq!(echo.requests().len(), cases.len(), "every case reached the server");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn values_are_write_only_and_never_on_disk_and_a_wrong_key_changes_nothing() -> Result<()> {
    let instance = Instance::new(&[])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let body = credential("api", "api_key", &["api.example.com"], &["http"], json!({ "token": TOKEN }));
    let (status, _) = server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?;
    assert_eq!(status, 200);
    let added = instance.cli_with_stdin(
        &[
            "vault",
            "add",
            "cli-token",
            "--kind",
            "api-key",
            "--host",
            "*.example.com",
            "--pack",
            "http",
            "--from-stdin",
            "token",
        ],
        &format!("{TOKEN}-cli\n"),
    )?;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let (status, listed) = server.send(&admin, reqwest::Method::GET, "/api/v1/vault/credentials", None).await?;
    assert_eq!(status, 200);
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 2);
    let (status, _) = server.send(&agent, reqwest::Method::GET, "/api/v1/vault/credentials", None).await?;
    assert_eq!(status, 403, "only admins manage the vault");
    let update = json!({ "hosts": ["api.example.com", "api2.example.com"] });
    let (status, changed) =
        server.send(&admin, reqwest::Method::PUT, "/api/v1/vault/credentials/api", Some(&update)).await?;
    assert_eq!((status, changed["hosts"].as_array().map(Vec::len)), (200, Some(2)));
    let listing = instance.cli(&["vault", "list"])?;
    assert!(String::from_utf8_lossy(&listing.stdout).contains("cli-token"));
    let everything =
        format!("{}{}{}", server.transcript().join(""), String::from_utf8_lossy(&listing.stdout), server.log());
    assert!(find_secret(everything.as_bytes(), TOKEN.as_bytes()).is_none(), "a value was shown");
    server.stop()?;

    for (path, bytes) in read_tree(instance.data.path()) {
        assert!(find_secret(&bytes, TOKEN.as_bytes()).is_none(), "plaintext in {}", path.display());
    }
    let before = read_tree(instance.data.path());
    let mut wrong = Instance { data: instance.data, env: vec![("HELMDECK_VAULT_KEY".into(), "ab".repeat(32))] };
    let failed = wrong.cli(&["serve", "--listen", "127.0.0.1:0"])?;
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("does not open this vault") && stderr.contains("Nothing was changed"), "{stderr}");
    assert_eq!(read_tree(wrong.data.path()), before, "the failed start changed the data directory");

    wrong.env.clear();
    let rotated = wrong.cli(&["vault", "rotate-key"])?;
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    let restarted = wrong.serve()?;
    let admin = wrong.token("operator", "admin")?;
    let (status, listed) = restarted.send(&admin, reqwest::Method::GET, "/api/v1/vault/credentials", None).await?;
    assert_eq!((status, listed["credentials"].as_array().map(Vec::len)), (200, Some(2)), "usable after rotation");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_credential_is_refreshed_on_first_use_and_its_tokens_never_reach_the_pack() -> Result<()> {
    let issuer: Handler = Arc::new(|req: &Request| {
        let form = String::from_utf8_lossy(&req.body);
        let ok = form.contains("grant_type=refresh_token") && form.contains("refresh_token=rt-9c1d7e3a5b8f2046");
        Response {
            status: if ok { 200 } else { 400 },
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"access_token":"at-4e8a2c6f0b1d3957","expires_in":3600,"token_type":"bearer"}"#.to_vec(),
        }
    });
    let issuer = LoopbackHttp::start(issuer)?;
    let api = echo()?;
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let secret = json!({
        "client_id": "helmdeck", "client_secret": "cs-71b3f0e9d2a4c658",
        "token_url": issuer.url("/token"), "refresh_token": "rt-9c1d7e3a5b8f2046"
    });
    let body = credential("calendar", "oauth", &["http://127.0.0.1"], &["http"], secret);
    assert_eq!(server.send(&admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await?.0, 200);
    for _ in 0..2 {
        let out = server
            .call_ok(
                &agent,
                "http.fetch",
                json!({ "url": api.url("/"), "headers": { "authorization": "Bearer ${vault:calendar}" } }),
            )
            .await?;
        assert_eq!(out["body"], "auth=Bearer [REDACTED] query=", "{out}");
    }
    assert_eq!(issuer.requests().len(), 1, "refreshed once, then reused until it expires");
    assert!(api.requests().iter().all(|r| r.header("authorization") == Some("Bearer at-4e8a2c6f0b1d3957")));
    let everything =
        format!("{}{}", server.transcript().join(""), serde_json::to_string(&server.audit(&admin).await?)?);
    for value in ["at-4e8a2c6f0b1d3957", "rt-9c1d7e3a5b8f2046", "cs-71b3f0e9d2a4c658"] {
        assert!(find_secret(everything.as_bytes(), value.as_bytes()).is_none(), "{value} leaked");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_never_goes_over_plain_http_unless_its_credential_names_http() -> Result<()> {
    let instance = Instance::new(&[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")])?;
    let admin = instance.token("operator", "admin")?;
    let agent = instance.token("agent-ada", "packs:call")?;
    let server = instance.serve()?;
    let echo = echo()?;
    let add = |name: &str, hosts: &[&str]| {
        let body = credential(name, "api_key", hosts, &["http"], json!({ "token": format!("{TOKEN}-{name}") }));
        let server = &server;
        let admin = &admin;
        async move { server.send(admin, reqwest::Method::POST, "/api/v1/vault/credentials", Some(&body)).await }
    };
    // A bare host pattern means the secure schemes only; so does `https://`.
    for (name, hosts) in [("bare", ["127.0.0.1"]), ("tls", ["https://127.0.0.1"])] {
        let (status, meta) = add(name, &hosts).await?;
        assert_eq!(status, 200, "{meta}");
        let input =
            json!({ "url": echo.url("/"), "headers": { "authorization": format!("Bearer ${{vault:{name}}}") } });
        let (status, refused) = server.call(&agent, "http.fetch", input).await?;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (403, Some("unauthorized")),
            "credential `{name}` ({hosts:?}) went over plain http: {refused}"
        );
        let message = refused["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("http://127.0.0.1"), "the refusal says how to allow plain http: {message}");
    }
    let (status, meta) = add("plain", &["http://127.0.0.1"]).await?;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(echo.requests().len(), 0, "no request carrying a secret left the host over plain http");
    let input = json!({ "url": echo.url("/"), "headers": { "authorization": "Bearer ${vault:plain}" } });
    server.call_ok(&agent, "http.fetch", input).await?;
    let seen = echo.requests();
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {TOKEN}-plain").as_str()), "named http: sent");

    for bad in ["ftp://127.0.0.1", "http://", "https://host:99999", "http://a b"] {
        let (status, refused) = add("broken", &[bad]).await?;
        assert_eq!((status, refused["error"]["code"].as_str()), (400, Some("invalid_input")), "{bad}: {refused}");
        assert!(refused["error"]["message"].as_str().unwrap_or_default().contains("`hosts`"), "{refused}");
    }
    Ok(())
}
