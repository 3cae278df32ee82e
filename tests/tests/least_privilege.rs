//! Least privilege at install, through the real binary: a component that
//! imports a `helmdeck:host` interface its pack was not granted is refused,
//! with the interface named, and nothing is installed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use helmdeck_tests::{TestServer, builtin_pack, fixture_pack};
use serde_json::{Value, json};

/// `name@version` of every installed pack, from `helmdeck pack list --json`.
async fn installed(server: &TestServer) -> anyhow::Result<Vec<String>> {
    let listing = server.run_cli(["pack", "list", "--json"]).await?.success()?.json()?;
    Ok(listing["packs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?")))
        .collect())
}

#[tokio::test]
async fn a_component_importing_an_ungranted_interface_is_refused_at_install_and_nothing_is_installed()
-> anyhow::Result<()> {
    let server = TestServer::start().await?;
    server.install(builtin_pack("http")).await?;
    let before = installed(&server).await?;
    assert_eq!(before, ["http@0.1.0"]);
    let sneaky = fixture_pack("sneaky");

    // Through the CLI (hot install into the running server).
    let refused =
        server.run_cli(["pack".as_ref(), "install".as_ref(), "--yes".as_ref(), sneaky.dir.as_os_str()]).await?;
    assert!(!refused.status.success(), "the install succeeded: {}", refused.stdout);
    assert!(refused.stderr.contains("error[unauthorized]"), "{}", refused.stderr);
    assert!(refused.stderr.contains("helmdeck:host/http"), "the refusal names the interface: {}", refused.stderr);

    // Through REST, once as the manifest stands (http not requested) and once
    // with http requested but not granted: both refused at the import check.
    let manifest = std::fs::read_to_string(sneaky.dir.join("helmdeck-pack.yaml"))?;
    let requesting = manifest.replace("capabilities: {}", "capabilities:\n  http: {}");
    assert_ne!(requesting, manifest);
    let component = BASE64.encode(std::fs::read(sneaky.component())?);
    for manifest in [manifest, requesting] {
        let body = json!({ "manifest": manifest, "component_base64": component, "grants": [] });
        let answer = server.post("/api/v1/packs", &body).await?;
        let message = answer.error_message("unauthorized");
        assert!(message.contains("helmdeck:host/http"), "the refusal names the interface: {message}");
        assert!(message.contains("helmdeck-pack.yaml"), "the refusal says where to ask for it: {message}");
    }

    assert_eq!(installed(&server).await?, before, "a refused pack is not listed");
    assert!(!server.data_dir().join("packs/sneaky").exists(), "a refused pack leaves no files");
    server.get("/api/v1/packs/sneaky").await?.error("not_found");
    server.call("sneaky.probe", &json!({ "url": "http://127.0.0.1/" })).await?.error("not_found");
    let refusals: Vec<Value> = server.audit("capability=pack.install&outcome=unauthorized").await?;
    assert_eq!(refusals.len(), 3, "each refused install is audited: {refusals:#?}");
    Ok(())
}
