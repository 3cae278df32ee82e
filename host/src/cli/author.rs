//! The pack author's commands: `helmdeck key generate`, `pack new`,
//! `pack sign`, `pack verify` and `pack publish`. They work on files only
//! (no host needed) and write what `cosign` writes, so an author can use
//! either tool for keys and signatures.

use super::template;
use crate::{Error, Result};
use clap::{Args, Subcommand};
use helmdeck_marketplace::{
    CatalogMeta, PackSource, PublicKey, SigningKey, TrustPolicy, TrustRoot, publish as publish_pack, sign_manifest,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

/// The environment variables a signing-key password is read from, in order.
pub const PASSWORD_VARS: [&str; 2] = ["HELMDECK_SIGNING_KEY_PASSWORD", "COSIGN_PASSWORD"];

/// `helmdeck key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Write a new ECDSA P-256 key pair: PREFIX.key (encrypted, mode 0600) and PREFIX.pub.
    Generate {
        /// Path prefix of the two files.
        #[arg(long, default_value = "cosign", value_name = "PREFIX")]
        output_key_prefix: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Arguments of `helmdeck pack new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The pack's name (lower-case letters, digits, `-`, `_`).
    name: String,
    /// Where to create it (default: ./NAME).
    #[arg(long)]
    path: Option<PathBuf>,
    /// The guest SDK (`sdk-guest` of a Helmdeck checkout) to depend on by path.
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// Arguments of `helmdeck pack sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The pack directory or its helmdeck-pack.yaml (which must pin component.sha256).
    path: PathBuf,
    /// The private key (cosign.key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

/// Arguments of `helmdeck pack verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The pack directory or its helmdeck-pack.yaml, with helmdeck-pack.yaml.sig beside it.
    path: PathBuf,
    /// The publisher's public key (cosign.pub).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

/// Arguments of `helmdeck pack publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The pack directory (helmdeck-pack.yaml and its component).
    path: PathBuf,
    /// The catalog directory (created when missing); serve it as files or over HTTP.
    #[arg(long, value_name = "DIR")]
    catalog: PathBuf,
    /// Sign with this private key; without it, helmdeck-pack.yaml.sig beside the manifest is used.
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// Take the component from this file instead of the one the manifest names.
    #[arg(long, value_name = "FILE")]
    component: Option<PathBuf>,
    /// The catalog's name, when it is created.
    #[arg(long, default_value = "packs")]
    catalog_name: String,
    /// The catalog's description, when it is created.
    #[arg(long, default_value = "")]
    catalog_description: String,
    /// The catalog's maintainer, when it is created.
    #[arg(long, default_value = "")]
    maintainer: String,
}

/// `helmdeck key generate`.
pub fn key(cmd: KeyCommand) -> Result<ExitCode> {
    let KeyCommand::Generate { output_key_prefix, force } = cmd;
    let private = output_key_prefix.with_extension("key");
    let public = output_key_prefix.with_extension("pub");
    for path in [&private, &public] {
        if path.exists() && !force {
            return Err(Error::invalid_input(format!("`{}` exists; pass --force to overwrite it", path.display())));
        }
    }
    let password = password(true)?;
    let key = SigningKey::generate().map_err(market)?;
    let pem = key.to_encrypted_pem(password.as_bytes()).map_err(market)?;
    write_private(&private, pem.as_bytes())?;
    let public_key = key.public_key().map_err(market)?;
    std::fs::write(&public, public_key.to_pem()).map_err(|e| io("write", &public, e))?;
    eprintln!("wrote {} (private, mode 0600) and {}", private.display(), public.display());
    eprintln!("key id {}", public_key.id());
    Ok(ExitCode::SUCCESS)
}

/// `helmdeck pack sign`.
pub fn sign(args: SignArgs) -> Result<ExitCode> {
    let key = load_key(&args.key)?;
    let written = sign_manifest(&args.path, &key).map_err(market)?;
    eprintln!("wrote {}", written.display());
    Ok(ExitCode::SUCCESS)
}

/// `helmdeck pack verify`.
pub fn verify(args: VerifyArgs) -> Result<ExitCode> {
    let pem = std::fs::read_to_string(&args.key).map_err(|e| io("read", &args.key, e))?;
    let key = PublicKey::from_pem(&pem).map_err(market)?;
    let source = PackSource::read(&args.path, None).map_err(market)?;
    if !source.verbatim {
        return Err(Error::invalid_input(format!(
            "{} does not pin component.sha256: it cannot be verified",
            source.manifest_path.display()
        )));
    }
    let signature = source.signature(None).map_err(market)?;
    let roots = [TrustRoot::public_key(&key)];
    let policy = TrustPolicy { catalog: "local", roots: &roots };
    let subject = format!("`{}`", source.manifest_path.display());
    let material = helmdeck_marketplace::SignatureMaterial::Detached(signature);
    policy.verify(&subject, &source.manifest_bytes, Some(&material)).map_err(market)?;
    eprintln!(
        "verified: {} {} signed by key {}, component digest matches",
        source.manifest.name,
        source.manifest.version,
        key.id()
    );
    Ok(ExitCode::SUCCESS)
}

/// `helmdeck pack publish`.
pub fn publish(args: PublishArgs) -> Result<ExitCode> {
    let source = PackSource::read(&args.path, args.component.as_deref()).map_err(market)?;
    let key = args.key.as_deref().map(load_key).transpose()?;
    let signature = source.signature(key.as_ref()).map_err(market)?;
    let meta =
        CatalogMeta { name: args.catalog_name, description: args.catalog_description, maintainer: args.maintainer };
    let published = publish_pack(&source, &signature, &args.catalog, &meta).map_err(market)?;
    eprintln!(
        "published {} {} into {} (component sha256 {})",
        published.name,
        published.entry.version,
        published.index.display(),
        published.entry.component_sha256
    );
    Ok(ExitCode::SUCCESS)
}

/// `helmdeck pack new`.
pub fn new_pack(args: NewArgs) -> Result<ExitCode> {
    let dir = args.path.unwrap_or_else(|| PathBuf::from(&args.name));
    let sdk = match args.sdk {
        Some(sdk) => sdk,
        None => template::default_sdk().ok_or_else(|| {
            Error::invalid_input(
                "the guest SDK was not found; pass --sdk PATH (the `sdk-guest` directory of a Helmdeck checkout)",
            )
        })?,
    };
    template::write(&args.name, &dir, &sdk)?;
    eprintln!("created pack `{}` in {}", args.name, dir.display());
    eprintln!(
        "next: cd {} && cargo build --release --target wasm32-wasip2 (see docs/writing-a-pack.md)",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Decrypt the private key at `path` with the password from the environment or a prompt.
fn load_key(path: &Path) -> Result<SigningKey> {
    let pem = std::fs::read(path).map_err(|e| io("read", path, e))?;
    let password = password(false)?;
    SigningKey::from_encrypted_pem(&pem, password.as_bytes()).map_err(market)
}

/// The signing-key password: from [`PASSWORD_VARS`] (empty allowed), else
/// asked on the terminal without echo (twice when `confirm`).
fn password(confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(value) = PASSWORD_VARS.iter().find_map(|v| std::env::var(v).ok()) {
        return Ok(Zeroizing::new(value));
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid_input(format!(
            "no password for the signing key: set {} (it may be empty)",
            PASSWORD_VARS.join(" or ")
        )));
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map(Zeroizing::new)
            .map_err(|e| Error::internal(format!("cannot read the password: {e}")))
    };
    let first = prompt("password for the signing key: ")?;
    if confirm && *prompt("again: ")? != *first {
        return Err(Error::invalid_input("the passwords differ"));
    }
    Ok(first)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io("write", path, e))?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| io("protect", path, e))?;
    file.write_all(bytes).map_err(|e| io("write", path, e))
}

fn io(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::invalid_input(format!("cannot {action} `{}`: {e}", path.display()))
}

fn market(e: impl Into<crate::marketplace::MarketError>) -> Error {
    e.into().into()
}
