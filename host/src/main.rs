//! The `helmdeck` binary: see `helmdeck --help`.

fn main() -> std::process::ExitCode {
    helmdeck::cli::run()
}
