//! Redaction: secret shapes and registered values never survive; ordinary
//! text does, untouched and uncopied.

use crate::audit::redact::MASK;
use crate::audit::{AuditEvent, AuditKind, Redactor};
use serde_json::json;
use std::borrow::Cow;

fn redacted(text: &str) -> String {
    Redactor::new().redact_text(text).into_owned()
}

#[test]
fn url_userinfo_is_masked_whole() {
    assert_eq!(redacted("https://alice:s3cret@example.com/repo.git"), format!("https://{MASK}@example.com/repo.git"));
    assert_eq!(
        redacted("clone ssh://git@host/x and ftp://u:p@ss@files.local/"),
        format!("clone ssh://{MASK}@host/x and ftp://{MASK}@files.local/")
    );
    assert_eq!(redacted("mail alice@example.com"), "mail alice@example.com", "not a URL");
}

#[test]
fn secret_looking_query_and_form_parameters_are_masked_and_others_kept() {
    assert_eq!(
        redacted("https://s3.example.com/b/k?X-Amz-Credential=AKIA1&X-Amz-Signature=abc123&part=2"),
        format!("https://s3.example.com/b/k?X-Amz-Credential={MASK}&X-Amz-Signature={MASK}&part=2")
    );
    assert_eq!(
        redacted("/cb?ACCESS_TOKEN=t0k&state=xyz&apiKey=k;session_id=s1#frag"),
        format!("/cb?ACCESS_TOKEN={MASK}&state=xyz&apiKey={MASK};session_id={MASK}#frag")
    );
    assert_eq!(redacted("password=hunter2&user=bob"), format!("password={MASK}&user=bob"));
    assert_eq!(redacted("POST body: client_secret=zz"), format!("POST body: client_secret={MASK}"));
    assert_eq!(
        redacted("/search?q=tokens&author=bob"),
        "/search?q=tokens&author=bob",
        "values and `author` are not secret"
    );
}

#[test]
fn bearer_and_basic_credentials_are_masked() {
    assert_eq!(
        redacted("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig-_~+/=="),
        format!("Authorization: Bearer {MASK}")
    );
    assert_eq!(redacted("sent Basic dXNlcjpwYXNz= then bearer abc"), format!("sent Basic {MASK} then bearer {MASK}"));
    assert_eq!(redacted("a basic example"), "a basic example");
}

#[test]
fn secret_looking_json_keys_are_masked_in_details_and_in_json_text() {
    let redactor = Redactor::new();
    let mut event = AuditEvent {
        details: Some(json!({
            "request": { "headers": { "Authorization": "Bearer zzz", "X-Api-Key": "k-1", "Accept": "text/html" } },
            "Password": "p4ss",
            "client_secret": { "nested": "s" },
            "keys": ["a", "b"],
            "prompt_tokens": 812,
            "author": "bob",
            "items": [{ "refresh_token": "r-1", "id": 7 }],
            "stdout": "{\"token\": \"abc\", \"ok\": true, \"name\":\"x\"}",
        })),
        ..AuditEvent::new(AuditKind::Capability, "alice")
    };
    redactor.redact_event(&mut event);
    assert_eq!(
        event.details.unwrap(),
        json!({
            "request": { "headers": { "Authorization": MASK, "X-Api-Key": MASK, "Accept": "text/html" } },
            "Password": MASK,
            "client_secret": MASK,
            "keys": MASK,
            "prompt_tokens": 812,
            "author": "bob",
            "items": [{ "refresh_token": MASK, "id": 7 }],
            "stdout": format!("{{\"token\": \"{MASK}\", \"ok\": true, \"name\":\"x\"}}"),
        })
    );
}

#[test]
fn registered_secret_values_are_masked_wherever_they_appear() {
    let vault_side = Redactor::new();
    let log_side = vault_side.clone();
    vault_side.register("correct-horse-battery").unwrap();
    vault_side.register("correct-horse-battery-staple").unwrap();
    vault_side.register("").unwrap();
    vault_side.register("correct-horse-battery").unwrap();

    let mut event = AuditEvent {
        target: Some("/repos?x=correct-horse-battery-staple".to_owned()),
        details: Some(json!({ "log": ["pushing with correct-horse-battery", "done"], "n": 1 })),
        ..AuditEvent::new(AuditKind::Capability, "alice")
    };
    log_side.redact_event(&mut event);
    assert_eq!(event.target.as_deref(), Some(format!("/repos?x={MASK}").as_str()), "the longer secret is masked whole");
    assert_eq!(event.details.unwrap(), json!({ "log": [format!("pushing with {MASK}"), "done"], "n": 1 }));
    let debug = format!("{log_side:?}");
    assert!(!debug.contains("horse") && debug.contains("registered: 2"), "{debug}");
}

#[test]
fn text_with_nothing_to_mask_is_returned_borrowed() {
    let redactor = Redactor::new();
    redactor.register("s3cr3t-value").unwrap();
    let text = "GET https://example.com/a?page=2&q=rust 200 in 14ms";
    assert!(matches!(redactor.redact_text(text), Cow::Borrowed(t) if t == text));
}
