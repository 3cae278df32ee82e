//! Real git remotes on 127.0.0.1 for the code-loop tests:
//!
//! - [`SshServer`]: OpenSSH's `sshd`, one `sshd -i` per connection accepted
//!   on a listener the test owns (race-free ports), logging in as the
//!   current user with one authorized key;
//! - [`GitHttpServer`]: `git http-backend` as CGI behind [`LoopbackHttp`],
//!   requiring HTTP basic authentication with one user and token;
//! - [`BareRepo`]: a bare repository seeded with a small project whose test
//!   script fails until a file is fixed.

use crate::loopback_http::{Handler, LoopbackHttp, Request, Response};
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

/// An SSH key pair made with `ssh-keygen`.
pub struct KeyPair {
    /// The OpenSSH private key text.
    pub private: String,
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    pub public: String,
}

impl KeyPair {
    /// A fresh ed25519 key pair under `dir` named `name`.
    pub fn generate(dir: &Path, name: &str) -> Result<KeyPair> {
        let path = dir.join(name);
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&path))?;
        Ok(KeyPair {
            private: std::fs::read_to_string(&path)?,
            public: std::fs::read_to_string(path.with_extension("pub"))?.trim().to_owned(),
        })
    }
}

/// `sshd` on a free loopback port.
pub struct SshServer {
    port: u16,
    /// The server's host key (public line), for pinning.
    pub host_key: String,
    _dir: tempfile::TempDir,
}

impl SshServer {
    /// Start accepting; `authorized` is the only key that may log in.
    pub fn start(authorized: &str) -> Result<SshServer> {
        // sshd's privilege separation directory (root only; CI must have it too).
        std::fs::create_dir_all("/run/sshd").context("creating /run/sshd (run the tests as root)")?;
        let dir = tempfile::tempdir()?;
        let host = KeyPair::generate(dir.path(), "host_key")?;
        let authorized_file = dir.path().join("authorized_keys");
        std::fs::write(&authorized_file, format!("{authorized}\n"))?;
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "HostKey {}\nAuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPidFile none\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 LogLevel ERROR\n",
                dir.path().join("host_key").display(),
                authorized_file.display()
            ),
        )?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let socket = OwnedFd::from(stream);
                let Ok(input) = socket.try_clone() else { continue };
                let child = Command::new("/usr/sbin/sshd")
                    .args(["-i", "-e", "-f"])
                    .arg(&config)
                    .stdin(Stdio::from(input))
                    .stdout(Stdio::from(socket))
                    .stderr(Stdio::piped())
                    .spawn();
                if let Ok(mut child) = child {
                    std::thread::spawn(move || {
                        let mut log = String::new();
                        if let Some(mut err) = child.stderr.take() {
                            let _ = err.read_to_string(&mut log);
                        }
                        let _ = child.wait();
                    });
                }
            }
        });
        Ok(SshServer { port, host_key: host.public, _dir: dir })
    }

    /// `ssh://USER@127.0.0.1:PORT/abs/path` for `repo`, as the current user.
    pub fn url(&self, repo: &BareRepo) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", current_user(), self.port, repo.path.display())
    }
}

/// `git http-backend` behind basic authentication.
pub struct GitHttpServer {
    http: LoopbackHttp,
}

impl GitHttpServer {
    /// Serve every repository under `root`; only `user`:`token` gets in.
    pub fn start(root: &Path, user: &str, token: &str) -> Result<GitHttpServer> {
        use base64::Engine as _;
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}")));
        let root = root.to_path_buf();
        let user = user.to_owned();
        let handler: Handler = Arc::new(move |req: &Request| {
            if req.header("authorization") != Some(expected.as_str()) {
                return Response {
                    status: 401,
                    headers: vec![("WWW-Authenticate".into(), "Basic realm=\"git\"".into())],
                    body: b"authentication required\n".to_vec(),
                };
            }
            cgi(&root, &user, req).unwrap_or_else(|e| Response {
                status: 500,
                headers: vec![],
                body: e.to_string().into_bytes(),
            })
        });
        Ok(GitHttpServer { http: LoopbackHttp::start(handler)? })
    }

    /// `http://127.0.0.1:PORT/<name>` for a repository under the root.
    pub fn url(&self, repo: &BareRepo) -> String {
        self.http.url(&format!("/{}", repo.path.file_name().unwrap_or_default().to_string_lossy()))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.http.port()
    }

    /// The requests received (to check what credentials arrived).
    pub fn requests(&self) -> Vec<Request> {
        self.http.requests()
    }
}

/// Run `git http-backend` for one request.
fn cgi(root: &Path, user: &str, req: &Request) -> Result<Response> {
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &req.method)
        .env("PATH_INFO", &req.path)
        .env("QUERY_STRING", &req.query)
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_TYPE", req.header("content-type").unwrap_or(""))
        .env("CONTENT_LENGTH", req.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in &req.headers {
        command.env(format!("HTTP_{}", name.to_ascii_uppercase().replace('-', "_")), value);
    }
    let mut child = command.spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let body = req.body.clone();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &body));
    let output = child.wait_with_output()?;
    let _ = writer.join();
    let split = output
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| output.stdout.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((end, gap)) = split else { bail!("http-backend wrote no headers") };
    let mut status = 200;
    let mut headers = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout[..end]).lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("status") {
                status = value.split_whitespace().next().unwrap_or("200").parse().unwrap_or(200);
            } else {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
    }
    Ok(Response { status, headers, body: output.stdout[end + gap..].to_vec() })
}

/// A bare repository with a seeded project: `src/status.txt` says
/// `broken`, and `run-tests.sh` fails until it says `fixed`.
pub struct BareRepo {
    /// Absolute path of the bare repository (`…/project.git`).
    pub path: PathBuf,
}

impl BareRepo {
    /// Create `root/project.git` on branch `main` with one commit.
    pub fn seeded(root: &Path) -> Result<BareRepo> {
        let path = root.join("project.git");
        run(Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&path))?;
        run(Command::new("git").args(["-C"]).arg(&path).args(["config", "http.receivepack", "true"]))?;
        let work = root.join("seed");
        run(Command::new("git").args(["init", "-q", "-b", "main"]).arg(&work))?;
        std::fs::create_dir_all(work.join("src"))?;
        std::fs::write(work.join("README.md"), "# Project\n\nRun `sh run-tests.sh`.\n")?;
        std::fs::write(work.join("src/status.txt"), "status: broken\n")?;
        std::fs::write(
            work.join("run-tests.sh"),
            "#!/bin/sh\nif grep -q 'status: fixed' src/status.txt; then echo 'all tests passed'; else echo 'FAIL: status is not fixed'; exit 1; fi\n",
        )?;
        let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&work).args(args));
        git(&["add", "."])?;
        git(&[
            "-c",
            "user.name=Seed",
            "-c",
            "user.email=seed@example.invalid",
            "commit",
            "-q",
            "-m",
            "Initial project",
        ])?;
        git(&["push", "-q", path.to_str().context("utf-8 path")?, "main"])?;
        Ok(BareRepo { path })
    }

    /// `git --git-dir <bare> <args>` output, trimmed.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git").arg("--git-dir").arg(&self.path).args(args).output()?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Add a commit to `main` behind the agent's back (from another clone).
    pub fn advance(&self, scratch: &Path) -> Result<()> {
        let work = scratch.join("other");
        run(Command::new("git").args(["clone", "-q"]).arg(&self.path).arg(&work))?;
        std::fs::write(work.join("NOTES.md"), "someone else was here\n")?;
        let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&work).args(args));
        git(&["add", "."])?;
        git(&[
            "-c",
            "user.name=Other",
            "-c",
            "user.email=o@example.invalid",
            "commit",
            "-q",
            "-m",
            "Concurrent change",
        ])?;
        git(&["push", "-q", "origin", "main"])
    }
}

/// Submodule declarations a hostile repository carries: one that asks
/// for a command as its update method, one fetched through `ext::` (a
/// command as transport), one from a local path, one whose path climbs out
/// of the working tree. Each names `marker` so a command that ran shows.
pub fn hostile_gitmodules(marker: &Path) -> String {
    let m = marker.display();
    format!(
        "[submodule \"run\"]\n\tpath = run\n\turl = https://git.example.com/x.git\n\tupdate = !touch {m}\n\
         [submodule \"ext\"]\n\tpath = ext\n\turl = ext::sh -c touch% {m}\n\
         [submodule \"local\"]\n\tpath = local\n\turl = file:///etc\n\
         [submodule \"out\"]\n\tpath = ../../outside\n\turl = https://git.example.com/y.git\n"
    )
}

impl BareRepo {
    /// Commit `.gitmodules` with `gitmodules` and a gitlink (a submodule
    /// entry) for each of `paths`, pushed to `main` from a scratch clone.
    pub fn add_submodules(&self, scratch: &Path, gitmodules: &str, paths: &[&str]) -> Result<()> {
        let work = scratch.join("with-submodules");
        run(Command::new("git").args(["clone", "-q"]).arg(&self.path).arg(&work))?;
        std::fs::write(work.join(".gitmodules"), gitmodules)?;
        let git = |args: &[&str]| run(Command::new("git").arg("-C").arg(&work).args(args));
        let head = self.git(&["rev-parse", "main"])?;
        git(&["add", ".gitmodules"])?;
        for path in paths {
            git(&["update-index", "--add", "--cacheinfo", &format!("160000,{head},{path}")])?;
        }
        git(&["-c", "user.name=Other", "-c", "user.email=o@example.invalid", "commit", "-q", "-m", "Submodules"])?;
        git(&["push", "-q", "origin", "main"])
    }
}

fn current_user() -> String {
    std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "root".to_owned())
}

fn run(command: &mut Command) -> Result<()> {
    let out = command.output().with_context(|| format!("running {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}
