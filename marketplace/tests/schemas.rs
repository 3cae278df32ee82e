//! The checked-in JSON Schemas describe the formats the Rust types read:
//! the built-in manifests and a catalog written by `publish` validate, and
//! documents the parser refuses are refused by the schema too.

use helmdeck_marketplace::{
    CATALOG_SCHEMA, CatalogMeta, MANIFEST_FILE, MANIFEST_SCHEMA, Manifest, PackSource, SigningKey, publish,
};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn validator(schema: &str) -> jsonschema::Validator {
    jsonschema::validator_for(&serde_json::from_str(schema).expect("schema is JSON")).expect("schema compiles")
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("YAML")
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator.iter_errors(doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

fn built_in_manifests() -> Vec<PathBuf> {
    let packs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs");
    let mut found: Vec<PathBuf> = std::fs::read_dir(packs)
        .unwrap()
        .map(|e| e.unwrap().path().join(MANIFEST_FILE))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found
}

#[test]
fn every_built_in_manifest_validates_against_the_manifest_schema() {
    let schema = validator(MANIFEST_SCHEMA);
    let manifests = built_in_manifests();
    assert!(manifests.len() >= 2, "found {manifests:?}");
    for path in manifests {
        let text = std::fs::read_to_string(&path).unwrap();
        Manifest::from_yaml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(errors(&schema, &yaml(&text)), Vec::<String>::new(), "{}", path.display());
    }
}

#[test]
fn a_catalog_of_the_built_in_packs_validates_against_the_catalog_schema() {
    let (schema, manifest_schema) = (validator(CATALOG_SCHEMA), validator(MANIFEST_SCHEMA));
    let catalog = tempfile::tempdir().unwrap();
    let key = SigningKey::generate().unwrap();
    let meta =
        CatalogMeta { name: "builtin".into(), description: "Built-in packs.".into(), maintainer: "Helmdeck".into() };
    for path in built_in_manifests() {
        let pack = tempfile::tempdir().unwrap();
        std::fs::copy(&path, pack.path().join(MANIFEST_FILE)).unwrap();
        let manifest = Manifest::from_yaml(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::write(pack.path().join(&manifest.component.file), b"\0asm stand-in").unwrap();
        let source = PackSource::read(pack.path(), None).unwrap();
        publish(&source, &source.signature(Some(&key)).unwrap(), catalog.path(), &meta).unwrap();
        let published = catalog.path().join(format!("packs/{}/{}/{MANIFEST_FILE}", manifest.name, manifest.version));
        assert_eq!(errors(&manifest_schema, &yaml(&std::fs::read_to_string(published).unwrap())), Vec::<String>::new());
    }
    let index = yaml(&std::fs::read_to_string(catalog.path().join("index.yaml")).unwrap());
    assert_eq!(errors(&schema, &index), Vec::<String>::new());
    assert!(index["packs"]["text"]["versions"][0]["signature"].is_string());
}

#[test]
fn documents_the_parser_refuses_are_refused_by_the_schema() {
    let schema = validator(MANIFEST_SCHEMA);
    let good =
        "name: p\nversion: 1.0.0\ndescription: d\ncomponent: {file: p.wasm}\ncapabilities: {http: {hosts: [a.test]}}\n";
    assert!(errors(&schema, &yaml(good)).is_empty());
    Manifest::from_yaml(good).unwrap();
    for bad in [
        good.replace("capabilities:", "capabilites:"),
        good.replace("hosts: [a.test]", "access: read"),
        good.replace("name: p", "name: P"),
        good.replace("p.wasm", "../p.wasm"),
        good.replace("http:", "sockets:"),
        good.replace("1.0.0", "1.0"),
    ] {
        assert!(Manifest::from_yaml(&bad).is_err(), "parser accepted {bad}");
        assert!(!errors(&schema, &yaml(&bad)).is_empty(), "schema accepted {bad}");
    }
    let catalog = validator(CATALOG_SCHEMA);
    let bad = "catalog_version: 2\nname: c\n";
    assert!(helmdeck_marketplace::Catalog::from_yaml(bad).is_err());
    assert!(!errors(&catalog, &yaml(bad)).is_empty());
}
