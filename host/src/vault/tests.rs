use super::*;
use crate::store::SqliteStore;
use serde_json::json;

const TOKEN: &str = "tok-3f9a1c7e5b2d4f60a8c1e3b5d7f9a2c4";

fn store(dir: &Path) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(dir.join("helmdeck.db")).unwrap())
}

fn api_key(name: &str, hosts: &[&str], packs: &[&str]) -> CredentialInput {
    serde_json::from_value(json!({
        "name": name, "kind": "api_key", "hosts": hosts, "packs": packs, "secret": {"token": TOKEN}
    }))
    .unwrap()
}

fn intent<'a>(name: &'a str, pack: &'a str, host: &'a str, scope: &'a [String]) -> CredentialUse<'a> {
    let to = Destination { scheme: "https", host, port: Some(443), path: "/v1/x" };
    CredentialUse { name, pack, subject: "ada", scope, to }
}

#[tokio::test]
async fn the_first_start_creates_a_private_key_file_and_values_never_reach_the_database_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    let redactor = Redactor::default();
    let vault = Vault::open(store(dir.path()), None, &key_file, redactor.clone()).await.unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let meta = vault.add(api_key("api", &["api.example.com"], &["http"])).await.unwrap();
    assert_eq!(meta.hint, "token …a2c4");
    assert!(!serde_json::to_string(&vault.list().await.unwrap()).unwrap().contains(TOKEN));
    assert_eq!(redactor.mask_registered_text(&format!("x {TOKEN} y")), "x [REDACTED] y");
    drop(vault);
    let mut bytes = std::fs::read(dir.path().join("helmdeck.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("helmdeck.db-wal")) {
        bytes.extend(wal);
    }
    assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "plaintext token on disk");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(!bytes.windows(key_text.len()).any(|w| w == key_text.as_bytes()), "key in the database");
}

#[tokio::test]
async fn a_wrong_or_missing_key_refuses_to_open_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    let vault = Vault::open(store(dir.path()), None, &key_file, Redactor::default()).await.unwrap();
    vault.add(api_key("api", &["*"], &["*"])).await.unwrap();
    drop(vault);
    let wrong = VaultKey::generate().to_hex();
    let err = Vault::open(store(dir.path()), Some(&wrong), &key_file, Redactor::default()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthFailed);
    assert!(
        err.message.contains("HELMDECK_VAULT_KEY") && err.message.contains("Nothing was changed"),
        "{}",
        err.message
    );
    let moved = dir.path().join("elsewhere.key");
    std::fs::rename(&key_file, &moved).unwrap();
    let err = Vault::open(store(dir.path()), None, &key_file, Redactor::default()).await.unwrap_err();
    assert!(err.message.contains("missing"), "{}", err.message);
    assert!(!key_file.exists(), "no new key file is made for a vault that has one");
    std::fs::rename(&moved, &key_file).unwrap();
    let vault = Vault::open(store(dir.path()), None, &key_file, Redactor::default()).await.unwrap();
    let scope = vec!["*".to_owned()];
    let secret = vault.use_secret(&intent("api", "http", "x.test", &scope)).await.unwrap();
    assert_eq!(secret.primary().as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn rotation_reseals_everything_and_only_the_new_key_opens_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("vault.key");
    let vault = Vault::open(store(dir.path()), None, &key_file, Redactor::default()).await.unwrap();
    vault.add(api_key("one", &["*"], &["*"])).await.unwrap();
    vault.add(api_key("two", &["*"], &["*"])).await.unwrap();
    let old = std::fs::read_to_string(&key_file).unwrap();
    let new = vault.rotate().await.unwrap();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new.to_hex().as_str());
    let scope = vec!["*".to_owned()];
    assert!(vault.use_secret(&intent("two", "http", "x.test", &scope)).await.is_ok(), "usable after rotation");
    drop(vault);
    let err = Vault::open(store(dir.path()), Some(&old), &key_file, Redactor::default()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::AuthFailed);
    let reopened = Vault::open(store(dir.path()), None, &key_file, Redactor::default()).await.unwrap();
    let secret = reopened.use_secret(&intent("one", "http", "x.test", &scope)).await.unwrap();
    assert_eq!(secret.primary().as_deref(), Some(TOKEN));
}

#[tokio::test]
async fn a_use_must_fit_the_hosts_the_pack_acl_the_subjects_and_the_manifest_scope() {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::open(store(dir.path()), None, &dir.path().join("k"), Redactor::default()).await.unwrap();
    let mut input = api_key("api", &["api.example.com/v1/"], &["http"]);
    input.subjects = vec!["ada".into()];
    vault.add(input).await.unwrap();
    let any = vec!["*".to_owned()];
    assert!(vault.use_secret(&intent("api", "http", "api.example.com", &any)).await.is_ok());
    for (pack, host, scope, why) in [
        ("http", "evil.test", any.clone(), "may not be sent to `evil.test`"),
        ("scraper", "api.example.com", any.clone(), "not available to pack `scraper`"),
        ("http", "api.example.com", vec!["other".to_owned()], "does not list credential `api`"),
    ] {
        let err = vault.use_secret(&intent("api", pack, host, &scope)).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized, "{why}");
        assert!(err.message.contains(why), "{}", err.message);
    }
    let mut bob = intent("api", "http", "api.example.com", &any);
    bob.subject = "bob";
    assert_eq!(vault.use_secret(&bob).await.unwrap_err().code, ErrorCode::Unauthorized);
    assert_eq!(vault.use_secret(&intent("nope", "http", "x", &any)).await.unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(vault.visible_to("scraper", "ada", &any).await.unwrap().len(), 0);
    assert_eq!(vault.visible_to("http", "ada", &any).await.unwrap()[0].name, "api");
    assert!(vault.get("api").await.unwrap().last_used_at.is_some(), "uses are recorded");
}
