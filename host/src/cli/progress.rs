//! Download progress on the terminal: an `indicatif` bar per download and a
//! line per step; plain lines when stderr is not a terminal. Local installs
//! report to it directly; installs through a server stream their events.

use crate::marketplace::Progress;
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use std::sync::Mutex;

/// A progress bar on stderr.
pub struct Bar {
    current: Mutex<Option<ProgressBar>>,
}

impl Bar {
    /// No download yet.
    pub fn new() -> Bar {
        Bar { current: Mutex::new(None) }
    }

    /// Show one event of a server's streamed install progress; the install's
    /// result when the event is the last (`done` or `error`).
    pub fn show(&self, event: Value) -> Option<Result<Value>> {
        match event["event"].as_str() {
            Some("start") => self.start(event["label"].as_str().unwrap_or("download"), event["total"].as_u64()),
            Some("advance") => self.advance(event["bytes"].as_u64().unwrap_or(0)),
            Some("finish") => self.finish(),
            Some("step") => self.step(event["what"].as_str().unwrap_or("")),
            Some("done") => return Some(Ok(event["report"].clone())),
            Some("error") => {
                return Some(Err(serde_json::from_value::<Error>(event["error"].clone()).unwrap_or_else(|_| {
                    Error::internal(format!("the server reported an unreadable error: {event}"))
                })));
            }
            _ => {}
        }
        None
    }

    fn with(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        if let Ok(mut current) = self.current.lock() {
            f(&mut current);
        }
    }
}

impl Progress for Bar {
    fn start(&self, label: &str, total: Option<u64>) {
        let bar = match total {
            Some(n) => ProgressBar::new(n).with_style(
                ProgressStyle::with_template("  {msg:<20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(label.to_owned());
        if bar.is_hidden() {
            eprintln!("  downloading {label}{}", total.map(|n| format!(" ({n} bytes)")).unwrap_or_default());
        }
        self.with(|current| *current = Some(bar));
    }

    fn advance(&self, bytes: u64) {
        self.with(|current| {
            if let Some(bar) = current {
                bar.inc(bytes);
            }
        });
    }

    fn finish(&self) {
        self.with(|current| {
            if let Some(bar) = current.take() {
                bar.finish();
            }
        });
    }

    fn step(&self, what: &str) {
        eprintln!("  {what}");
    }
}
