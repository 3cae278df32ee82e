//! Pack `cmd`: run a command in the session workspace, sandboxed by the
//! host (its own user, no network, a private `/tmp`, limits on processes,
//! memory, CPU, wall time and output). A failing command is a normal
//! result: read `exit_code`, `stdout` and `stderr`.

use helmdeck_sdk::prelude::*;
use std::collections::BTreeMap;

/// Input of `run`. Give `shell` (a command line for `sh -c`) or `program`
/// with `args`, not both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    /// A command line run with `sh -c`, such as `./run-tests.sh` or `cargo test 2>&1 | tail -50`.
    #[schemars(length(min = 1, max = 65536))]
    pub shell: Option<String>,
    /// A program to run directly (no shell), such as `make`.
    #[schemars(length(min = 1, max = 4096))]
    pub program: Option<String>,
    /// Arguments for `program`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Working directory relative to the workspace root (default: the root),
    /// such as the `path` returned by `repo.fetch`.
    pub cwd: Option<String>,
    /// Extra environment variables; the environment otherwise holds only
    /// PATH, HOME=/tmp, TMPDIR=/tmp and LANG=C.UTF-8.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Text written to the command's standard input.
    pub stdin: Option<String>,
    /// Wall-clock limit in milliseconds (default 60000, at most 600000).
    #[schemars(range(min = 1, max = 600000))]
    pub timeout_ms: Option<u32>,
    /// Memory limit per process in MiB (default 2048, at most 8192).
    #[schemars(range(min = 16, max = 8192))]
    pub memory_mb: Option<u32>,
    /// Processes the command may run at once (default 64, at most 512).
    #[schemars(range(min = 1, max = 512))]
    pub max_processes: Option<u32>,
    /// Bytes kept of stdout and of stderr each (default 1048576, at most 8388608).
    #[schemars(range(min = 1, max = 8388608))]
    pub max_output_bytes: Option<u32>,
}

/// What the command did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunOutput {
    /// The exit code; absent when a signal or a limit ended the command.
    pub exit_code: Option<i32>,
    /// Standard output (invalid UTF-8 replaced).
    pub stdout: String,
    /// Standard error (invalid UTF-8 replaced).
    pub stderr: String,
    /// Output past `max_output_bytes` was dropped.
    pub truncated: bool,
    /// The wall-clock limit stopped the command.
    pub timed_out: bool,
    /// Why the command was stopped, when it was: `timeout`, `cpu_limit` or `signal N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
    pub duration_ms: u64,
}

helmdeck_sdk::pack! {
    name: "cmd";

    /// Run a command in the session workspace (such as a repository's test
    /// script) and return its exit code and output. Commands have no
    /// network and run with limits; a fork bomb or a runaway loop is stopped
    /// and reported in `timed_out` / `stopped_by`. A non-zero exit code is
    /// not an error.
    fn run(input: RunInput) -> ToolResult<RunOutput> {
        let mut command = match (&input.shell, &input.program) {
            (Some(line), None) => exec::Command::new("sh").arg("-c").arg(line),
            (None, Some(program)) => exec::Command::new(program).args(input.args.iter().map(String::as_str)),
            _ => return Err(ToolError::invalid_input("give `shell` (a command line) or `program`, not both")),
        };
        if !input.args.is_empty() && input.program.is_none() {
            return Err(ToolError::invalid_input("`args` go with `program`; put them in the `shell` line instead"));
        }
        if let Some(cwd) = &input.cwd {
            command = command.cwd(cwd);
        }
        for (name, value) in &input.env {
            command = command.env(name, value);
        }
        if let Some(stdin) = &input.stdin {
            command = command.stdin(stdin.as_bytes());
        }
        if let Some(ms) = input.timeout_ms {
            command = command.timeout_ms(ms);
        }
        if let Some(mb) = input.memory_mb {
            command = command.memory_mb(mb);
        }
        if let Some(n) = input.max_processes {
            command = command.max_processes(n);
        }
        if let Some(n) = input.max_output_bytes {
            command = command.max_output_bytes(n);
        }
        let out = command.run()?;
        Ok(RunOutput {
            exit_code: out.exit_code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            truncated: out.truncated,
            timed_out: out.timed_out,
            stopped_by: stopped_by(out.timed_out, out.signal),
            duration_ms: out.duration_ms,
        })
    }
}

/// Name what ended the command when it did not exit by itself.
fn stopped_by(timed_out: bool, signal: Option<i32>) -> Option<String> {
    const SIGXCPU: i32 = 24;
    match (timed_out, signal) {
        (true, _) => Some("timeout".to_owned()),
        (false, Some(SIGXCPU)) => Some("cpu_limit".to_owned()),
        (false, Some(n)) => Some(format!("signal {n}")),
        (false, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_for_the_caller() {
        assert_eq!(stopped_by(true, Some(9)).as_deref(), Some("timeout"));
        assert_eq!(stopped_by(false, Some(24)).as_deref(), Some("cpu_limit"));
        assert_eq!(stopped_by(false, None), None);
        let schema = &Pack::describe().tools[0].input_schema;
        assert_eq!(schema["properties"]["timeout_ms"]["maximum"], 600000);
    }
}
