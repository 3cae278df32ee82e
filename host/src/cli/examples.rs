//! `helmdeck pack test NAME`: run an installed pack's manifest examples
//! against the host and report pass/fail per example. An example passes
//! when the call succeeds and its output contains `expected_output_subset`.
//! `${HELMDECK_URL}` in an input is the running server's base URL.

use super::pack::{call, info};
use super::target::Target;
use crate::{Error, Result};
use clap::Args;
use helmdeck_marketplace::Example;
use std::collections::BTreeMap;
use std::process::ExitCode;

/// Arguments of `helmdeck pack test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The installed pack (`text`, or `text@0.1.0`).
    name: String,
    /// Only this tool's examples.
    #[arg(long)]
    tool: Option<String>,
    /// A value for a `${NAME}` placeholder in example inputs (repeatable): `--var BASE=http://127.0.0.1:9`.
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,
}

fn parse_var(text: &str) -> std::result::Result<(String, String), String> {
    text.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

/// Run the examples; the exit code is a failure when any example fails.
pub async fn test(target: &Target, args: TestArgs) -> Result<ExitCode> {
    let view = info(target, &args.name).await?;
    let pack = view["name"].as_str().unwrap_or(&args.name).to_owned();
    let version = view["version"].as_str().unwrap_or_default().to_owned();
    let examples: BTreeMap<String, Vec<Example>> = serde_json::from_value(view["examples"].clone()).unwrap_or_default();
    let mut vars: BTreeMap<String, String> = args.vars.into_iter().collect();
    if let Target::Remote(remote) = target {
        vars.entry("HELMDECK_URL".into()).or_insert_with(|| remote.url.clone());
    }
    let selected: Vec<(&String, &Vec<Example>)> =
        examples.iter().filter(|(tool, _)| args.tool.as_ref().is_none_or(|t| t == *tool)).collect();
    if selected.iter().all(|(_, list)| list.is_empty()) {
        return Err(Error::not_found(format!(
            "pack `{pack}` {version} has no examples{}; add `examples:` to its helmdeck-pack.yaml",
            args.tool.as_ref().map(|t| format!(" for tool `{t}`")).unwrap_or_default()
        )));
    }
    let (mut passed, mut failed) = (0, 0);
    for (tool, list) in selected {
        for (i, example) in list.iter().enumerate() {
            let label = format!(
                "{pack}.{tool} #{}{}",
                i + 1,
                example.description.as_ref().map(|d| format!(" ({d})")).unwrap_or_default()
            );
            match run_one(target, &format!("{pack}.{tool}@{version}"), example, &vars).await {
                Ok(()) => {
                    passed += 1;
                    println!("PASS {label}");
                }
                Err(reason) => {
                    failed += 1;
                    println!("FAIL {label}: {reason}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn run_one(
    target: &Target,
    tool: &str,
    example: &Example,
    vars: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    let input = example.input_with(vars)?;
    let output = call(target, tool, input).await.map_err(|e| format!("error[{}]: {}", e.code, e.message))?;
    example.check(&output)
}
