//! What the report says about the machine and the code: CPU, cores,
//! kernel, git commit, time. Read from `/proc` and `git`; a fact that cannot
//! be read is reported as `unknown` rather than failing the run.

use crate::report::Machine;
use std::path::Path;
use std::process::Command;

const UNKNOWN: &str = "unknown";

impl Machine {
    /// Describe this machine and the checkout at `repo`.
    pub fn detect(repo: &Path) -> Machine {
        Machine {
            cpu: cpu_model().unwrap_or_else(|| UNKNOWN.into()),
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            kernel: read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| UNKNOWN.into()),
            load_average: read_trimmed("/proc/loadavg")
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_else(|| UNKNOWN.into()),
            git_commit: git(repo, &["rev-parse", "HEAD"]).unwrap_or_else(|| UNKNOWN.into()),
            git_dirty: git(repo, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()),
            time: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|_| UNKNOWN.into()),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" }.into(),
        }
    }
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_owned())
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(repo).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
