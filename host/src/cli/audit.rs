//! `helmdeck audit tail|verify`: read the audit log straight from the
//! database (SQLite in WAL mode reads safely beside a running server).

use crate::audit::{Anchor, AuditLog, AuditQuery, AuditRecord, Outcome, Redactor};
use crate::config::Config;
use crate::store::{SqliteStore, Store};
use crate::{Error, Result};
use clap::{Args, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the newest records (oldest first), optionally following new ones.
    Tail(TailArgs),
    /// Walk the hash chain and report the first record that was altered or
    /// removed; prints the newest record as an anchor to keep elsewhere.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// `ID:HASH` printed by an earlier `verify` and kept away from this
    /// machine: also fail when the log no longer reaches that record with
    /// that hash (newest records removed, or the log replaced).
    #[arg(long, value_name = "ID:HASH")]
    anchor: Option<Anchor>,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// How many records.
    #[arg(short = 'n', long, default_value_t = 20)]
    lines: u32,
    /// Keep printing new records as they are appended.
    #[arg(short, long)]
    follow: bool,
    /// One JSON object per line instead of a summary line.
    #[arg(long)]
    json: bool,
    /// Only this actor's records.
    #[arg(long)]
    actor: Option<String>,
    /// Only this pack's records.
    #[arg(long)]
    pack: Option<String>,
    /// Only records with this outcome (`ok`, `cancelled` or an error code).
    #[arg(long, value_parser = parse_outcome)]
    outcome: Option<Outcome>,
}

fn parse_outcome(s: &str) -> std::result::Result<Outcome, String> {
    Outcome::parse(s).ok_or_else(|| format!("`{s}` is not `ok`, `cancelled` or an error code"))
}

pub async fn run(config: Config, cmd: AuditCommand) -> Result<ExitCode> {
    let path = config.paths().database;
    if !path.exists() {
        return Err(Error::not_found(format!("no database at `{}`; is --data-dir right?", path.display())));
    }
    let store: Arc<dyn Store> =
        Arc::new(tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await.map_err(Error::from)??);
    let log = AuditLog::new(store, Redactor::default());
    match cmd {
        AuditCommand::Verify(args) => verify(&log, args.anchor).await,
        AuditCommand::Tail(args) => tail(&log, args).await,
    }
}

async fn verify(log: &AuditLog, anchor: Option<Anchor>) -> Result<ExitCode> {
    let anchored = anchor.as_ref().map(|a| format!(", reaching anchored record {}", a.id)).unwrap_or_default();
    let report = log.verify(anchor).await?;
    match &report.first_break {
        None => {
            println!("audit chain intact: {} records verified{anchored}", report.records);
            if let Some(head) = &report.head {
                println!("anchor: {head}");
                println!(
                    "keep it away from this machine; `helmdeck audit verify --anchor {head}` later proves \
                     that no record up to it was removed or rewritten"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(broken) => {
            eprintln!("audit chain BROKEN at record {}: {}", broken.id, broken.reason);
            eprintln!("{} records verified before it; the log was altered outside Helmdeck", report.records);
            Ok(ExitCode::from(3))
        }
    }
}

async fn tail(log: &AuditLog, args: TailArgs) -> Result<ExitCode> {
    let query = |limit: u32| AuditQuery {
        actor: args.actor.clone(),
        pack: args.pack.clone(),
        outcome: args.outcome,
        limit: Some(limit),
        ..AuditQuery::default()
    };
    let page = log.query(query(args.lines.clamp(1, AuditQuery::MAX_LIMIT))).await?;
    let mut last_id = page.records.first().map_or(0, |r| r.id);
    for record in page.records.iter().rev() {
        print_record(record, args.json);
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let newer = log.query(query(AuditQuery::MAX_LIMIT)).await?;
        let seen = last_id;
        for record in newer.records.iter().rev().filter(|r| r.id > seen) {
            print_record(record, args.json);
            last_id = record.id;
        }
    }
}

fn print_record(r: &AuditRecord, as_json: bool) {
    if as_json {
        match serde_json::to_string(r) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("error: {e}"),
        }
        return;
    }
    let e = &r.event;
    let what = [e.pack.as_deref(), e.tool.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(".");
    let outcome = e.outcome.as_str();
    println!(
        "{:>6} {} {:<10} {:<9} {:<12} {:<24} {:<8} {} {}",
        r.id,
        r.ts,
        e.kind.as_str(),
        e.actor,
        outcome,
        e.capability.as_deref().unwrap_or("-"),
        e.decision.as_str(),
        if what.is_empty() { "-" } else { &what },
        e.target.as_deref().unwrap_or("")
    );
}
