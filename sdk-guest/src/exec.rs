//! Commands in the session workspace (`helmdeck:host/exec`), sandboxed by
//! the host: own user, no network, private `/tmp`, limits on processes,
//! memory, CPU, wall time and output. Requires the `exec` capability.
//!
//! ```ignore
//! let out = exec::Command::new("sh").arg("-c").arg("cargo test").timeout_ms(120_000).run()?;
//! ```

use crate::ToolResult;
use crate::bindings::helmdeck::host::exec as wit;

/// A command under construction.
#[derive(Debug, Clone)]
pub struct Command {
    inner: wit::Command,
}

/// What came back; a non-zero exit code is a normal result.
#[derive(Debug, Clone)]
pub struct Output {
    /// None when a signal ended the process.
    pub exit_code: Option<i32>,
    /// The signal that ended it (9 after a timeout, 24 for the CPU limit).
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output past the cap was dropped.
    pub truncated: bool,
    /// The wall-clock limit ended it.
    pub timed_out: bool,
    pub duration_ms: u64,
}

impl Command {
    /// Run `program` (on the sandbox's PATH, or a path).
    pub fn new(program: &str) -> Command {
        Command {
            inner: wit::Command {
                program: program.to_owned(),
                args: Vec::new(),
                cwd: None,
                env: Vec::new(),
                stdin: None,
                timeout_ms: None,
                memory_mb: None,
                max_processes: None,
                cpu_seconds: None,
                max_output_bytes: None,
            },
        }
    }

    /// Add an argument.
    pub fn arg(mut self, arg: &str) -> Command {
        self.inner.args.push(arg.to_owned());
        self
    }

    /// Add arguments.
    pub fn args<'a>(mut self, args: impl IntoIterator<Item = &'a str>) -> Command {
        self.inner.args.extend(args.into_iter().map(str::to_owned));
        self
    }

    /// Working directory relative to the workspace root.
    pub fn cwd(mut self, cwd: &str) -> Command {
        self.inner.cwd = Some(cwd.to_owned());
        self
    }

    /// Set an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Command {
        self.inner.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Bytes for standard input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Command {
        self.inner.stdin = Some(bytes.into());
        self
    }

    /// Wall-clock limit (the host caps it at 600 s).
    pub fn timeout_ms(mut self, ms: u32) -> Command {
        self.inner.timeout_ms = Some(ms);
        self
    }

    /// Address-space limit per process in MiB.
    pub fn memory_mb(mut self, mb: u32) -> Command {
        self.inner.memory_mb = Some(mb);
        self
    }

    /// Processes the command may run at once.
    pub fn max_processes(mut self, n: u32) -> Command {
        self.inner.max_processes = Some(n);
        self
    }

    /// CPU seconds per process.
    pub fn cpu_seconds(mut self, s: u32) -> Command {
        self.inner.cpu_seconds = Some(s);
        self
    }

    /// Bytes kept of stdout and of stderr each.
    pub fn max_output_bytes(mut self, n: u32) -> Command {
        self.inner.max_output_bytes = Some(n);
        self
    }

    /// Run to completion.
    pub fn run(self) -> ToolResult<Output> {
        let o = wit::run(&self.inner)?;
        Ok(Output {
            exit_code: o.exit_code,
            signal: o.signal,
            stdout: o.stdout,
            stderr: o.stderr,
            truncated: o.truncated,
            timed_out: o.timed_out,
            duration_ms: o.duration_ms,
        })
    }
}
