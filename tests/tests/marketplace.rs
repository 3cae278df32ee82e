//! The signed marketplace end to end: the real `helmdeck` binary, catalogs
//! served over HTTP on 127.0.0.1, packs built from `helmdeck pack new` for
//! wasm32-wasip2, and an independent cosign implementation in Python.

use helmdeck_marketplace::{CATALOG_SCHEMA, Catalog, MANIFEST_SCHEMA};
use helmdeck_tests::marketplace::{CatalogServer, Host, greeter, greeter_dir, python_interop};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// `mk-greeter` 1.0.0 ("Hello"), 1.1.0 ("Howdy") and 1.2.0 (which imports
/// `http` without requesting it) built once, and two key pairs.
struct Fixture {
    dir: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
    with_http: PathBuf,
}

impl Fixture {
    fn key(&self, name: &str) -> String {
        self.dir.join(format!("{name}.key")).display().to_string()
    }
    fn public(&self, name: &str) -> String {
        self.dir.join(format!("{name}.pub")).display().to_string()
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = helmdeck_tests::prebuilt::run_fixture("marketplace", |dir| {
            let host = Host::new();
            for name in ["publisher", "stranger"] {
                let prefix = dir.join(name).display().to_string();
                host.ok(&["key", "generate", "--output-key-prefix", &prefix]);
            }
            // Built from sources outside the target directory (cargo does
            // not watch files under it); the pack directories keep the
            // manifest and the component.
            let sources = tempfile::tempdir()?;
            for (version, greeting, uses_http) in
                [("1.0.0", "Hello", false), ("1.1.0", "Howdy", false), ("1.2.0", "Hey", true)]
            {
                let built = greeter(sources.path(), version, greeting, uses_http)?;
                let pack = greeter_dir(dir, version);
                std::fs::create_dir_all(&pack)?;
                for file in ["helmdeck-pack.yaml", "mk_greeter.wasm"] {
                    std::fs::copy(built.join(file), pack.join(file))?;
                }
            }
            Ok(())
        });
        let pack = |version: &str| greeter_dir(&dir, version);
        Fixture { v1: pack("1.0.0"), v2: pack("1.1.0"), with_http: pack("1.2.0"), dir }
    })
}

/// Publish `pack` into the catalog directory `catalog` with `key`.
fn publish(host: &Host, pack: &Path, catalog: &Path, key: &str) {
    host.ok(&[
        "pack",
        "publish",
        &pack.display().to_string(),
        "--catalog",
        &catalog.display().to_string(),
        "--key",
        key,
    ]);
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn installed(host: &Host) -> Value {
    serde_json::from_str(&host.ok(&["pack", "list", "--json"])).unwrap()
}

#[test]
fn a_pack_published_over_http_installs_upgrades_under_load_and_is_removed() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let catalog = work.path().join("catalog");
    let mut host = Host::new();
    publish(&host, &f.v1, &catalog, &f.key("publisher"));
    let served = CatalogServer::start(&catalog);
    host.serve(&[], &[]);
    host.ok(&["marketplace", "add", "acme", &served.url, "--key", &f.public("publisher")]);

    let search = host.ok(&["pack", "search", "greet"]);
    assert!(search.contains("mk-greeter") && search.contains("1.0.0") && search.contains("signed"), "{search}");
    let out = host.cli(&["pack", "install", "mk-greeter"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The server streams its download progress to the CLI.
    assert!(stderr(&out).contains("downloading mk-greeter 1.0.0 ("), "{}", stderr(&out));
    let rt = runtime();
    let (status, body) = rt.block_on(host.call("mk-greeter.greet", json!({"name": "Ada"})));
    assert_eq!((status, &body["output"]), (200, &json!({"greeting": "Hello, Ada!"})), "{body}");
    let list = installed(&host);
    assert!(list["packs"][0]["signer"].as_str().unwrap().starts_with("acme/key sha256:"), "{list}");
    let tested = host.cli(&["pack", "test", "mk-greeter"]);
    assert!(tested.status.success() && String::from_utf8_lossy(&tested.stdout).contains("1 passed, 0 failed"));

    publish(&host, &f.v2, &catalog, &f.key("publisher"));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<(u16, Value)>::new()));
    let host = Arc::new(host);
    rt.block_on(async {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                let (host, stop, seen) = (host.clone(), stop.clone(), seen.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = host.call("mk-greeter.greet", json!({"name": "Ada"})).await;
                        seen.lock().unwrap().push(answer);
                    }
                })
            })
            .collect();
        let upgrader = host.clone();
        let upgrade =
            tokio::task::spawn_blocking(move || upgrader.cli(&["pack", "upgrade", "mk-greeter"])).await.unwrap();
        assert!(upgrade.status.success(), "{}", stderr(&upgrade));
        // Calls after the upgrade returned see the new version at once.
        let (status, body) = host.call("mk-greeter.greet", json!({"name": "Ada"})).await;
        assert_eq!((status, &body["output"]["greeting"]), (200, &json!("Howdy, Ada!")), "{body}");
        stop.store(true, Ordering::Relaxed);
        for caller in callers {
            caller.await.unwrap();
        }
    });
    let seen = seen.lock().unwrap();
    let failures: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
    assert!(failures.is_empty(), "calls failed during the upgrade: {failures:?}");
    assert!(seen.iter().any(|(_, b)| b["output"]["greeting"] == "Hello, Ada!"), "no call ran on 1.0.0");
    let list = installed(&host);
    assert_eq!(list["packs"][0]["versions"], json!(["1.1.0"]), "the upgrade replaced 1.0.0: {list}");

    host.ok(&["pack", "remove", "mk-greeter"]);
    let (status, body) = rt.block_on(host.call("mk-greeter.greet", json!({"name": "Ada"})));
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    assert!(host.pack_files().is_empty(), "{:?}", host.pack_files());
}

/// Copy `catalog` to a new directory and let `tamper` change it; the copy's path.
fn tampered_copy(catalog: &Path, name: &str, tamper: impl FnOnce(&Path)) -> PathBuf {
    let copy = catalog.parent().unwrap().join(name);
    copy_dir(catalog, &copy);
    tamper(&copy);
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit_index(catalog: &Path, edit: impl FnOnce(&mut Catalog)) {
    let path = catalog.join("index.yaml");
    let mut index = Catalog::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut index);
    std::fs::write(path, index.to_yaml()).unwrap();
}

fn flip_a_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn each_refusal_names_the_failed_check_and_installs_nothing() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let catalog = work.path().join("catalog");
    let mut host = Host::new();
    publish(&host, &f.v1, &catalog, &f.key("publisher"));
    publish(&host, &f.v2, &catalog, &f.key("publisher"));
    let version_dir = catalog.join("packs/mk-greeter/1.1.0");
    let cases: Vec<(&str, PathBuf, String, &str)> = vec![
        (
            "unsigned",
            tampered_copy(&catalog, "unsigned", |c| {
                edit_index(c, |i| i.packs.get_mut("mk-greeter").unwrap().versions[1].signature = None)
            }),
            f.public("publisher"),
            "signature check failed",
        ),
        (
            "component byte",
            tampered_copy(&catalog, "component", |c| {
                flip_a_byte(&c.join("packs/mk-greeter/1.1.0/mk_greeter.wasm"), 5000)
            }),
            f.public("publisher"),
            "digest check failed",
        ),
        (
            "manifest byte",
            tampered_copy(&catalog, "manifest", |c| {
                let path = c.join("packs/mk-greeter/1.1.0/helmdeck-pack.yaml");
                let at = std::fs::read_to_string(&path).unwrap().find("Greets").unwrap();
                flip_a_byte(&path, at);
            }),
            f.public("publisher"),
            "signature check failed",
        ),
        ("wrong key", catalog.clone(), f.public("stranger"), "signature check failed"),
        (
            "digest mismatch",
            tampered_copy(&catalog, "digest", |c| {
                edit_index(c, |i| {
                    i.packs.get_mut("mk-greeter").unwrap().versions[1].component_sha256 =
                        helmdeck_marketplace::Digest::of(b"x")
                })
            }),
            f.public("publisher"),
            "digest check failed",
        ),
    ];
    assert!(version_dir.exists());
    host.serve(&[], &[]);
    // One version installed from the genuine catalog, so "unchanged" means something.
    host.ok(&["marketplace", "add", "genuine", &catalog.display().to_string(), "--key", &f.public("publisher")]);
    host.ok(&["pack", "install", "mk-greeter@1.0.0", "--catalog", "genuine"]);
    let (files_before, list_before) = (host.pack_files(), installed(&host));
    for (i, (case, location, key, check)) in cases.iter().enumerate() {
        let name = format!("case{i}");
        host.ok(&["marketplace", "add", &name, &location.display().to_string(), "--key", key]);
        let out = host.cli(&["pack", "install", "mk-greeter", "--catalog", &name]);
        assert!(!out.status.success(), "{case}: the install succeeded");
        assert!(stderr(&out).contains(check), "{case}: expected `{check}` in: {}", stderr(&out));
        assert_eq!(host.pack_files(), files_before, "{case}: the pack directory changed");
        assert_eq!(installed(&host), list_before, "{case}: the registry changed");
    }

    // The same through REST, naming the check too.
    let rt = runtime();
    let body = json!({"pack": "mk-greeter", "catalog": "case0", "grants": []});
    let (status, answer) = rt.block_on(host.request(reqwest::Method::POST, "/api/v1/marketplace/install", Some(body)));
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("unsigned"), "{answer}");

    // A downgrade is refused unless asked for, and then replaces the newer version.
    host.ok(&["pack", "install", "mk-greeter", "--catalog", "genuine"]);
    let files_before = host.pack_files();
    let out = host.cli(&["pack", "install", "mk-greeter@1.0.0", "--catalog", "genuine"]);
    assert!(!out.status.success() && stderr(&out).contains("downgrade check failed"), "{}", stderr(&out));
    assert_eq!(host.pack_files(), files_before);
    assert_eq!(installed(&host)["packs"][0]["version"], "1.1.0");
    host.ok(&["pack", "install", "mk-greeter@1.0.0", "--catalog", "genuine", "--allow-downgrade"]);
    assert_eq!(installed(&host)["packs"][0]["versions"], json!(["1.0.0"]));
}

#[test]
fn capabilities_beyond_the_manifest_or_the_grants_are_refused() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let mut host = Host::new();
    host.serve(&[], &[]);

    // Signed, but the component imports `http`, which its manifest does not request.
    let sneaky = work.path().join("sneaky");
    publish(&host, &f.with_http, &sneaky, &f.key("publisher"));
    host.ok(&["marketplace", "add", "sneaky", &sneaky.display().to_string(), "--key", &f.public("publisher")]);
    let out = host.cli(&["pack", "install", "mk-greeter", "--yes"]);
    assert!(!out.status.success(), "a component importing an unrequested capability was installed");
    assert!(
        stderr(&out).contains("imports `helmdeck:host/http") && stderr(&out).contains("not granted `http`"),
        "{}",
        stderr(&out)
    );
    assert!(host.pack_files().is_empty() && installed(&host)["packs"] == json!([]));
    host.ok(&["marketplace", "remove", "sneaky"]);

    // Honest about it: the upgrade needs `http` granted explicitly.
    let honest = work.path().join("honest-pack");
    copy_dir(&f.with_http, &honest);
    let manifest = honest.join("helmdeck-pack.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("capabilities: {}", "capabilities:\n  http: {}");
    std::fs::write(&manifest, text).unwrap();
    let catalog = work.path().join("honest");
    publish(&host, &f.v1, &catalog, &f.key("publisher"));
    host.ok(&["marketplace", "add", "honest", &catalog.display().to_string(), "--key", &f.public("publisher")]);
    host.ok(&["pack", "install", "mk-greeter"]);
    publish(&host, &honest, &catalog, &f.key("publisher"));
    let files_before = host.pack_files();
    let out = host.cli(&["pack", "upgrade", "mk-greeter"]);
    assert!(
        !out.status.success() && stderr(&out).contains("grant check failed") && stderr(&out).contains("--grant http"),
        "{}",
        stderr(&out)
    );
    assert_eq!(host.pack_files(), files_before);
    host.ok(&["pack", "upgrade", "mk-greeter", "--grant", "http"]);
    let list = installed(&host);
    assert_eq!(
        (&list["packs"][0]["version"], &list["packs"][0]["grants"]),
        (&json!("1.2.0"), &json!({"http": {}})),
        "{list}"
    );
}

#[test]
fn directory_installs_are_unsigned_and_refused_when_signatures_are_required() {
    let f = fixture();
    let mut open = Host::new();
    open.serve(&[], &[]);
    open.ok(&["pack", "install", &f.v1.display().to_string()]);
    let list = installed(&open);
    assert_eq!(
        (list["packs"][0]["name"].as_str(), &list["packs"][0]["signer"]),
        (Some("mk-greeter"), &Value::Null),
        "{list}"
    );
    assert!(open.ok(&["pack", "list"]).contains("unsigned"));

    let mut strict = Host::new();
    strict.serve(&[], &[("HELMDECK_REQUIRE_SIGNED", "1")]);
    let out = strict.cli(&["pack", "install", &f.v1.display().to_string()]);
    assert!(!out.status.success() && stderr(&out).contains("signature check failed"), "{}", stderr(&out));
    assert!(strict.pack_files().is_empty());
    let catalog = tempfile::tempdir().unwrap();
    publish(&strict, &f.v1, catalog.path(), &f.key("publisher"));
    strict.ok(&["marketplace", "add", "acme", &catalog.path().display().to_string(), "--key", &f.public("publisher")]);
    strict.ok(&["pack", "install", "mk-greeter"]);
    assert!(installed(&strict)["packs"][0]["signer"].is_string());
}

#[test]
fn the_built_in_packs_install_verified_on_first_start_and_pass_their_examples() {
    let work = tempfile::tempdir().unwrap();
    let catalog = work.path().join("catalog");
    let status = helmdeck_tests::marketplace::cargo()
        .args(["xtask", "publish", "--out"])
        .arg(&catalog)
        .current_dir(helmdeck_tests::prebuilt::workspace_root())
        .status()
        .unwrap();
    assert!(status.success(), "cargo xtask publish failed");
    let index_text = std::fs::read_to_string(catalog.join("index.yaml")).unwrap();
    let index: Value = serde_norway::from_str(&index_text).unwrap();
    let schema = |text: &str| jsonschema::validator_for(&serde_json::from_str(text).unwrap()).unwrap();
    let (catalog_schema, manifest_schema) = (schema(CATALOG_SCHEMA), schema(MANIFEST_SCHEMA));
    assert!(catalog_schema.is_valid(&index), "the bundled catalog does not match its schema");
    let packs: Vec<String> = index["packs"].as_object().unwrap().keys().cloned().collect();
    assert!(packs.contains(&"http".to_owned()) && packs.contains(&"text".to_owned()), "{packs:?}");
    for pack in &packs {
        let version = index["packs"][pack]["versions"][0]["version"].as_str().unwrap();
        let manifest: Value = serde_norway::from_str(
            &std::fs::read_to_string(catalog.join(format!("packs/{pack}/{version}/helmdeck-pack.yaml"))).unwrap(),
        )
        .unwrap();
        assert!(manifest_schema.is_valid(&manifest), "{pack}'s published manifest does not match the schema");
    }

    let key = helmdeck_tests::prebuilt::target_dir().join("helmdeck-dev-key/cosign.pub");
    let mut host = Host::new();
    let (catalog_arg, key_arg) = (catalog.display().to_string(), key.display().to_string());
    host.serve(
        &["--bundled-catalog", &catalog_arg, "--bundled-catalog-key", &key_arg],
        &[("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.1")],
    );
    let list = installed(&host);
    let listed: Vec<&str> = list["packs"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(listed, packs.iter().map(String::as_str).collect::<Vec<_>>(), "{list}");
    for pack in list["packs"].as_array().unwrap() {
        assert!(pack["signer"].as_str().unwrap().starts_with("builtin/key sha256:"), "{pack}");
    }
    let rt = runtime();
    let (status, audit) =
        rt.block_on(host.request(reqwest::Method::GET, "/api/v1/audit?capability=pack.install&outcome=ok", None));
    assert_eq!(status, 200, "{audit}");
    for pack in &packs {
        assert!(
            audit["records"].as_array().unwrap().iter().any(|r| r["pack"] == pack.as_str()),
            "no install record for {pack}: {audit}"
        );
    }
    for pack in &packs {
        let out = host.cli(&["pack", "test", pack]);
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && printed.contains(" 0 failed"), "pack test {pack}:\n{printed}{}", stderr(&out));
    }
}

#[test]
fn signatures_interoperate_with_an_independent_cosign_implementation() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let host = Host::new();
    let pack = work.path().join("pack");
    copy_dir(&f.v1, &pack);
    // Pin the digest so the manifest itself is what is signed.
    let catalog = work.path().join("catalog");
    publish(&host, &pack, &catalog, &f.key("publisher"));
    let published = catalog.join("packs/mk-greeter/1.0.0");
    let manifest = published.join("helmdeck-pack.yaml").display().to_string();
    let ours = published.join("helmdeck-pack.yaml.sig").display().to_string();

    // `helmdeck key generate` keeps the private key to its owner.
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(f.key("publisher")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(f.key("publisher"))
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    );

    // Ours verifies there.
    let out = python_interop(&["verify", &f.public("publisher"), &manifest, &ours]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Python decrypts our encrypted key and signs (high-S and low-S); both verify here.
    for half in ["high", "low"] {
        let sig = published.join("helmdeck-pack.yaml.sig");
        let out = python_interop(&[
            "sign",
            &f.key("publisher"),
            helmdeck_tests::marketplace::KEY_PASSWORD,
            &manifest,
            &sig.display().to_string(),
            half,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        host.ok(&["pack", "verify", &published.display().to_string(), "--key", &f.public("publisher")]);
    }
    // A key Python wrote in cosign's format signs here, and Python verifies the result.
    let theirs = work.path().join("theirs").display().to_string();
    let out = python_interop(&["generate", &theirs, helmdeck_tests::marketplace::KEY_PASSWORD]);
    assert!(out.status.success(), "{}", stderr(&out));
    host.ok(&["pack", "sign", &published.display().to_string(), "--key", &format!("{theirs}.key")]);
    let out = python_interop(&["verify", &format!("{theirs}.pub"), &manifest, &ours]);
    assert!(out.status.success(), "{}", stderr(&out));
    // And a wrong key fails on both sides.
    let out = python_interop(&["verify", &f.public("stranger"), &manifest, &ours]);
    assert!(!out.status.success());
    let out = host.cli(&["pack", "verify", &published.display().to_string(), "--key", &f.public("stranger")]);
    assert!(!out.status.success() && stderr(&out).contains("signature check failed"), "{}", stderr(&out));
}

/// The entry of `mk-greeter` 1.0.0 in `catalog`'s index, changed by `edit`.
fn edit_entry(catalog: &Path, edit: impl FnOnce(&mut helmdeck_marketplace::CatalogVersion)) {
    edit_index(catalog, |i| edit(&mut i.packs.get_mut("mk-greeter").unwrap().versions[0]));
}

/// `file:///…` of an absolute path (temporary directories need no escaping).
fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

#[test]
fn a_remote_catalog_names_no_local_file_and_no_address_the_allowlist_refuses() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let genuine = work.path().join("genuine");
    let mut host = Host::new();
    publish(&host, &f.v1, &genuine, &f.key("publisher"));
    let files = genuine.join("packs/mk-greeter/1.0.0");
    // Served over HTTP, pointing at the genuine signed files on this machine's disk:
    // only the `file:` references are wrong.
    let local_refs = tampered_copy(&genuine, "local-refs", |c| {
        edit_entry(c, |v| {
            v.manifest = file_url(&files.join("helmdeck-pack.yaml"));
            v.component = file_url(&files.join("mk_greeter.wasm"));
            v.signature = Some(file_url(&files.join("helmdeck-pack.yaml.sig")));
        })
    });
    // Served over HTTP, with the genuine component on 127.0.0.2, which no allowlist opens.
    let mirror = CatalogServer::start_on(&genuine, std::net::Ipv4Addr::new(127, 0, 0, 2));
    let elsewhere = tampered_copy(&genuine, "elsewhere", |c| {
        edit_entry(c, |v| v.component = format!("{}packs/mk-greeter/1.0.0/mk_greeter.wasm", mirror.url))
    });
    let (local_refs, elsewhere) = (CatalogServer::start(&local_refs), CatalogServer::start(&elsewhere));
    host.serve(&[], &[]);

    host.ok(&["marketplace", "add", "local-refs", &local_refs.url, "--key", &f.public("publisher")]);
    let out = host.cli(&["pack", "install", "mk-greeter", "--catalog", "local-refs"]);
    assert!(!out.status.success(), "a catalog served over HTTP had files from this machine's disk installed");
    assert!(stderr(&out).contains("`file:`"), "the refusal names the reference: {}", stderr(&out));
    assert!(host.pack_files().is_empty(), "{:?}", host.pack_files());

    // The catalog's own origin is open because the operator registered it; the mirror is not.
    host.ok(&["marketplace", "add", "elsewhere", &elsewhere.url, "--key", &f.public("publisher")]);
    let out = host.cli(&["pack", "install", "mk-greeter", "--catalog", "elsewhere"]);
    assert!(!out.status.success(), "the component was fetched from an address the guard refuses");
    assert!(stderr(&out).contains("HELMDECK_EGRESS_ALLOWLIST"), "{}", stderr(&out));
    assert!(host.pack_files().is_empty(), "{:?}", host.pack_files());

    // Once the operator allow-lists the mirror, the same install goes through.
    let allow = [("HELMDECK_EGRESS_ALLOWLIST", "127.0.0.2")];
    let mut open = Host::new();
    open.serve(&[], &allow);
    open.ok(&["marketplace", "add", "elsewhere", &elsewhere.url, "--key", &f.public("publisher")]);
    let out = open.cli_with(&["pack", "install", "mk-greeter", "--catalog", "elsewhere"], &allow);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn catalog_files_that_never_end_fail_fast_and_install_nothing() {
    let f = fixture();
    let work = tempfile::tempdir().unwrap();
    let genuine = work.path().join("genuine");
    let mut host = Host::new();
    publish(&host, &f.v1, &genuine, &f.key("publisher"));
    // A local catalog whose manifest is a FIFO nobody writes to.
    let fifo = tampered_copy(&genuine, "fifo", |c| {
        let manifest = c.join("packs/mk-greeter/1.0.0/helmdeck-pack.yaml");
        std::fs::remove_file(&manifest).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&manifest).status().unwrap().success());
    });
    // A local catalog whose manifest is /dev/zero.
    let zero = tampered_copy(&genuine, "zero", |c| edit_entry(c, |v| v.manifest = "file:///dev/zero".into()));
    // A catalog served over HTTP whose manifest never ends.
    let endless = tampered_copy(&genuine, "endless", |c| edit_entry(c, |v| v.manifest = "/endless".into()));
    let endless = CatalogServer::start(&endless);
    host.serve(&[], &[]);

    let cases = [
        ("fifo", fifo.display().to_string(), "not a regular file"),
        ("zero", zero.display().to_string(), "not a regular file"),
        ("endless", endless.url.clone(), "larger than the"),
    ];
    let rt = runtime();
    for (name, location, why) in cases {
        host.ok(&["marketplace", "add", name, &location, "--key", &f.public("publisher")]);
        let install = ["pack", "install", "mk-greeter", "--catalog", name];
        let out = host
            .cli_within(&install, std::time::Duration::from_secs(60))
            .unwrap_or_else(|| panic!("{name}: `pack install` was still reading after a minute"));
        assert!(!out.status.success() && stderr(&out).contains(why), "{name}: expected `{why}` in: {}", stderr(&out));
        // The server's own fetcher, through REST, the same way.
        let body = json!({"pack": "mk-greeter", "catalog": name, "grants": []});
        let (status, answer) =
            rt.block_on(host.request(reqwest::Method::POST, "/api/v1/marketplace/install", Some(body)));
        assert!(status >= 400 && answer["error"]["message"].as_str().unwrap_or("").contains(why), "{name}: {answer}");
        assert!(host.pack_files().is_empty(), "{name}: {:?}", host.pack_files());
    }
}
