//! `helmdeck vault …`: add, list, remove credentials and rotate the key.
//! Secret fields are read from files or stdin, never from arguments (which
//! other users can see in the process list).

use super::output;
use super::target::{Target, try_lock};
use crate::config::Config;
use crate::vault::{CredentialInput, CredentialKind, KeySource};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum VaultCommand {
    /// Add a credential. Secret fields come from files or stdin:
    /// `helmdeck vault add deploy --kind ssh-key --host git.example.com --pack repo --from-file private_key=id_ed25519`.
    Add(AddArgs),
    /// List credentials (metadata and masked hints only).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a credential.
    Rm { name: String },
    /// Re-encrypt every credential under a new key, in one transaction. Run
    /// it with the server stopped. With HELMDECK_VAULT_KEY, the new key is
    /// printed on stdout: put it in HELMDECK_VAULT_KEY before the next start.
    RotateKey,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name packs use (`${vault:NAME}`): letters, digits, `-`, `_`.
    name: String,
    #[arg(long, value_enum)]
    kind: CredentialKind,
    /// Host pattern where it may be used (repeat), `[scheme://]host[:port][/path]`:
    /// `api.example.com`, `*.example.com` or `*` (https and ssh only),
    /// `https://host/path/`; plain http only when named: `http://127.0.0.1`.
    #[arg(long = "host", required = true)]
    hosts: Vec<String>,
    /// Pack allowed to use it (repeat; `*` for any).
    #[arg(long = "pack", required = true)]
    packs: Vec<String>,
    /// Token subject allowed to use it (repeat); any when absent.
    #[arg(long = "subject")]
    subjects: Vec<String>,
    #[arg(long, default_value = "")]
    description: String,
    /// A non-secret field of the secret, `FIELD=VALUE` (username, host_key, token_url, ...).
    #[arg(long = "field", value_name = "FIELD=VALUE")]
    fields: Vec<String>,
    /// A field read from a file, `FIELD=PATH` (private_key=~/.ssh/id_ed25519).
    #[arg(long = "from-file", value_name = "FIELD=PATH")]
    from_files: Vec<String>,
    /// A field read from stdin (trailing newline removed), e.g. `token`.
    #[arg(long = "from-stdin", value_name = "FIELD")]
    from_stdin: Option<String>,
}

impl clap::ValueEnum for CredentialKind {
    fn value_variants<'a>() -> &'a [Self] {
        use CredentialKind::*;
        &[Login, Cookies, ApiKey, Oauth, SshKey, Basic, ProviderKey]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let dashed = match self {
            CredentialKind::ApiKey => Some("api-key"),
            CredentialKind::SshKey => Some("ssh-key"),
            CredentialKind::ProviderKey => Some("provider-key"),
            _ => None,
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).aliases(dashed))
    }
}

pub async fn run(config: Config, cmd: VaultCommand) -> Result<ExitCode> {
    match cmd {
        VaultCommand::RotateKey => rotate(config).await,
        VaultCommand::Add(args) => {
            let body = add_body(args)?;
            let target = Target::connect(config).await?;
            let added = match &target {
                Target::Remote(r) => r.send(Method::POST, "/api/v1/vault/credentials", Some(body)).await?,
                Target::Local(app) => {
                    let input: CredentialInput =
                        serde_json::from_value(body).map_err(|e| Error::invalid_input(format!("credential: {e}")))?;
                    json!(app.services.vault.add(input).await?)
                }
            };
            output::json(&added);
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::List { json } => {
            let listing = match Target::connect(config).await? {
                Target::Remote(r) => r.send(Method::GET, "/api/v1/vault/credentials", None).await?,
                Target::Local(app) => json!({ "credentials": app.services.vault.list().await? }),
            };
            print_list(&listing, json);
            Ok(ExitCode::SUCCESS)
        }
        VaultCommand::Rm { name } => {
            match Target::connect(config).await? {
                Target::Remote(r) => r.send(Method::DELETE, &format!("/api/v1/vault/credentials/{name}"), None).await?,
                Target::Local(app) => {
                    app.services.vault.remove(&name).await?;
                    Value::Null
                }
            };
            eprintln!("removed credential `{name}`");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn add_body(args: AddArgs) -> Result<Value> {
    let mut secret = Map::new();
    for pair in &args.fields {
        let (field, value) = split_pair(pair, "--field")?;
        secret.insert(field.to_owned(), Value::String(value.to_owned()));
    }
    for pair in &args.from_files {
        let (field, path) = split_pair(pair, "--from-file")?;
        let text = std::fs::read_to_string(PathBuf::from(path))
            .map_err(|e| Error::invalid_input(format!("--from-file {field}: cannot read `{path}`: {e}")))?;
        secret.insert(field.to_owned(), Value::String(text));
    }
    if let Some(field) = &args.from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Error::invalid_input(format!("stdin: {e}")))?;
        secret.insert(field.clone(), Value::String(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    Ok(json!({
        "name": args.name,
        "kind": args.kind,
        "description": args.description,
        "hosts": args.hosts,
        "packs": args.packs,
        "subjects": args.subjects,
        "secret": secret,
    }))
}

fn split_pair<'a>(pair: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    pair.split_once('=')
        .filter(|(field, _)| !field.is_empty())
        .ok_or_else(|| Error::invalid_input(format!("{flag} takes FIELD=VALUE")))
}

fn print_list(listing: &Value, as_json: bool) {
    if as_json {
        output::json(listing);
        return;
    }
    let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let join = |v: &Value| v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(",")).unwrap_or_default();
    let rows: Vec<Vec<String>> = listing["credentials"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| vec![text(&c["name"]), text(&c["kind"]), join(&c["hosts"]), join(&c["packs"]), text(&c["hint"])])
        .collect();
    output::table(&["NAME", "KIND", "HOSTS", "PACKS", "HINT"], &rows);
}

async fn rotate(config: Config) -> Result<ExitCode> {
    let paths = config.paths();
    paths.create()?;
    let Some(_lock) = try_lock(&paths)? else {
        return Err(Error::invalid_input(
            "a helmdeck server is using this data directory; stop it, then run `helmdeck vault rotate-key`",
        ));
    };
    let app = crate::app::Helmdeck::open(config).await?;
    let vault = &app.services.vault;
    let key = vault.rotate().await?;
    match vault.key_source() {
        KeySource::Env => {
            eprintln!("vault re-encrypted; set HELMDECK_VAULT_KEY to the new key below before the next start");
            println!("{}", key.to_hex().as_str());
        }
        KeySource::File(path) => eprintln!("vault re-encrypted; new key written to {}", path.display()),
    }
    Ok(ExitCode::SUCCESS)
}
