//! The pack template behind `helmdeck pack new`: a crate with one tool, its
//! unit test, and a manifest with an example, ready to build for
//! wasm32-wasip2 and publish (see `docs/writing-a-pack.md`).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The template's files: path in the new crate, contents with `{{name}}`,
/// `{{crate}}` and `{{sdk}}` placeholders.
const FILES: [(&str, &str); 4] = [
    ("Cargo.toml", include_str!("template/Cargo.toml.tmpl")),
    ("src/lib.rs", include_str!("template/lib.rs.tmpl")),
    ("helmdeck-pack.yaml", include_str!("template/helmdeck-pack.yaml.tmpl")),
    (".gitignore", include_str!("template/gitignore.tmpl")),
];

/// The SDK of the checkout this binary was built from, when it is still there.
pub fn default_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest");
    sdk.join("Cargo.toml").exists().then(|| sdk.canonicalize().unwrap_or(sdk))
}

/// Create pack `name` in `dir` (which must not exist or be empty), depending on the SDK at `sdk`.
pub fn write(name: &str, dir: &Path, sdk: &Path) -> Result<()> {
    if !helmdeck_marketplace::is_pack_name(name) {
        return Err(Error::invalid_input(format!(
            "`{name}` is not a pack name: 1-32 lower-case letters, digits, `-` or `_`, starting with a letter"
        )));
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::invalid_input(format!(
            "`{}` exists and is not empty; choose another --path",
            dir.display()
        )));
    }
    let sdk = std::path::absolute(sdk).map_err(|e| Error::invalid_input(format!("--sdk `{}`: {e}", sdk.display())))?;
    if !sdk.join("Cargo.toml").exists() {
        return Err(Error::invalid_input(format!(
            "--sdk `{}` has no Cargo.toml; point it at `sdk-guest`",
            sdk.display()
        )));
    }
    let sdk_text = sdk.display().to_string();
    for (path, template) in FILES {
        let text = template
            .replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
            .replace("{{sdk}}", &sdk_text);
        let target = dir.join(path);
        let written =
            target.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(&target, text));
        written.map_err(|e| Error::invalid_input(format!("cannot write `{}`: {e}", target.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pack_has_a_valid_manifest_naming_its_component() {
        let dir = tempfile::tempdir().unwrap();
        let pack = dir.path().join("my-pack");
        write("my-pack", &pack, &default_sdk().unwrap()).unwrap();
        let manifest = helmdeck_marketplace::Manifest::from_yaml(
            &std::fs::read_to_string(pack.join("helmdeck-pack.yaml")).unwrap(),
        )
        .unwrap();
        assert_eq!((manifest.name.as_str(), manifest.component.file.as_str()), ("my-pack", "my_pack.wasm"));
        assert_eq!(manifest.examples["greet"].len(), 1);
        let cargo = std::fs::read_to_string(pack.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"my-pack\"") && cargo.contains("sdk-guest"), "{cargo}");
        assert!(std::fs::read_to_string(pack.join("src/lib.rs")).unwrap().contains("name: \"my-pack\";"));
        assert!(write("my-pack", &pack, &default_sdk().unwrap()).unwrap_err().message.contains("not empty"));
        assert!(write("My Pack", &dir.path().join("x"), &default_sdk().unwrap()).is_err());
    }
}
