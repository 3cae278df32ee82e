//! The sandbox for real, as root: each test uses its own uid at the top of
//! the session range so it cannot meet a running server's sessions.

use super::claims;
use super::sandbox::{Prepared, UID_BASE, UID_COUNT};
use super::{Plan, execute};
use crate::ErrorCode;
use crate::audit::Outcome;
use crate::caps::cleanup::CallCleanup;
use crate::engine::wit::host::exec::{Command, Output};
use std::path::Path;

fn command(program: &str, args: &[&str]) -> Command {
    Command {
        program: program.into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        cwd: None,
        env: Vec::new(),
        stdin: None,
        timeout_ms: Some(20_000),
        memory_mb: None,
        max_processes: None,
        cpu_seconds: None,
        max_output_bytes: None,
    }
}

/// Run `cmd` in `workspace` as `UID_BASE + UID_COUNT - slot`.
async fn run(workspace: &Path, slot: u32, cmd: Command) -> (Output, u32) {
    let uid = UID_BASE + UID_COUNT - slot;
    super::sandbox::hand_over(workspace, uid).unwrap();
    let plan = Plan::from_command(&cmd).unwrap();
    let prepared = Prepared::new(workspace, Path::new(""), uid, plan.limits).unwrap();
    (execute(cmd, plan, prepared, uid, &CallCleanup::default()).await.unwrap(), uid)
}

/// Live (not zombie) processes of `uid`, read from each process's `status`:
/// counted apart from the sandbox's own `live_processes`, which its
/// cleanup relies on, so a fault there cannot hide a survivor here.
fn live_processes(uid: u32) -> usize {
    let uid = uid.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter(|status| {
            let field = |name: &str| status.lines().find_map(|line| line.strip_prefix(name)).unwrap_or("").trim();
            field("Uid:").split_whitespace().next() == Some(uid.as_str()) && !field("State:").starts_with(['Z', 'X'])
        })
        .count()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn a_command_runs_as_its_own_user_in_the_workspace_with_a_bare_environment_and_no_network() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input.txt"), "from the host").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!(
        "id -u; pwd; cat input.txt; echo; env | sort | cut -d= -f1 | tr '\\n' ' '; echo; \
         echo made > output.txt; cat; (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo NET-OPEN || echo NET-CLOSED; \
         ls /proc/1/root 2>&1 | head -1; exit 3"
    );
    let mut cmd = command("bash", &["-c", &script]);
    cmd.stdin = Some(b"stdin bytes\n".to_vec());
    cmd.env = vec![("GREETING".into(), "hi".into())];
    let (out, uid) = run(dir.path(), 1, cmd).await;
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(out.exit_code, Some(3), "a non-zero exit is a normal result: {stdout} {}", text(&out.stderr));
    assert_eq!(lines[0], uid.to_string());
    assert_eq!(lines[1], "/tmp/workspace");
    assert_eq!(lines[2], "from the host");
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["GREETING", "HOME", "LANG", "PATH", "PWD", "SHLVL", "TMPDIR", "_"]
    );
    assert_eq!(lines[4], "stdin bytes");
    assert_eq!(lines[5], "NET-CLOSED", "the sandbox has no network");
    assert!(lines[6].contains("Permission denied"), "another user's process tree is closed: {}", lines[6]);
    assert_eq!(std::fs::read_to_string(dir.path().join("output.txt")).unwrap(), "made\n");
    assert!(!out.timed_out);
}

#[tokio::test]
async fn a_fork_bomb_stops_at_the_process_limit_and_nothing_survives_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command("bash", &["-c", "bomb() { bomb & bomb; }; bomb"]);
    cmd.max_processes = Some(32);
    cmd.timeout_ms = Some(3000);
    let (out, uid) = run(dir.path(), 2, cmd).await;
    let report = format!("{out:?} {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Resource temporarily unavailable"), "{report}");
    assert!(out.timed_out, "{report}");
    assert_eq!(live_processes(uid), 0, "every process of the bomb is gone");
}

#[tokio::test]
async fn a_busy_loop_meets_its_deadline_before_the_default_cpu_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command("sh", &["-c", "while :; do :; done"]);
    cmd.timeout_ms = Some(1500);
    let (out, uid) = run(dir.path(), 5, cmd).await;
    assert!(out.timed_out, "stopped by the deadline, not by the CPU limit: {out:?}");
    assert_eq!(live_processes(uid), 0);
}

#[tokio::test]
async fn a_runaway_command_is_killed_at_its_deadline_with_its_background_children() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command("sh", &["-c", "sleep 300 & sleep 300"]);
    cmd.timeout_ms = Some(500);
    let (out, uid) = run(dir.path(), 3, cmd).await;
    assert!(out.timed_out);
    assert_eq!((out.exit_code, out.signal), (None, Some(9)));
    assert_eq!(live_processes(uid), 0);
    let (out, uid) = run(dir.path(), 3, command("sh", &["-c", "sleep 300 & echo detached"])).await;
    assert_eq!((out.exit_code, text(&out.stdout).as_str(), out.timed_out), (Some(0), "detached\n", false));
    assert_eq!(live_processes(uid), 0, "a detached child does not outlive the command");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_dropped_mid_run_is_ended_whole_before_its_call_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let uid = UID_BASE + UID_COUNT - 6;
    let cmd = command("sh", &["-c", "sleep 300 & setsid sleep 300 & (sleep 300 &); sleep 300"]);
    let plan = Plan::from_command(&cmd).unwrap();
    let prepared = Prepared::new(dir.path(), Path::new(""), uid, plan.limits).unwrap();
    let cleanup = CallCleanup::default();
    let running = execute(cmd, plan, prepared, uid, &cleanup);
    let started = async {
        while live_processes(uid) < 4 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        out = running => panic!("the command ended on its own: {out:?}"),
        () = started => {}
    }
    // `running` is dropped here, as a cancelled call drops it.
    assert!(cleanup.finish(Outcome::Cancelled, "cancelled").await.is_empty(), "no record was cut off");
    assert_eq!(live_processes(uid), 0, "nothing of the command outlives its call's cleanup");
}

#[tokio::test]
async fn memory_and_output_limits_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command("sh", &["-c", "x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo ${#x}"]);
    cmd.memory_mb = Some(64);
    let (out, _) = run(dir.path(), 4, cmd).await;
    assert_ne!(text(&out.stdout).trim(), "300000000", "300 MB did not fit in 64 MiB");
    let mut cmd = command("sh", &["-c", "head -c 100000 /dev/zero"]);
    cmd.max_output_bytes = Some(1000);
    let (out, _) = run(dir.path(), 4, cmd).await;
    assert_eq!((out.stdout.len(), out.truncated, out.exit_code), (1000, true, Some(0)));
}

#[test]
fn a_claimed_uid_is_skipped_by_every_other_claimer_until_released() {
    let candidates = [UID_BASE + UID_COUNT - 20, UID_BASE + UID_COUNT - 21];
    let first = claims::claim(candidates).unwrap();
    let lock = format!("{}/{}", claims::CLAIMS_DIR, first.uid());
    // util-linux `flock` stands for another server: another process.
    let held_elsewhere =
        || !std::process::Command::new("flock").args(["--nonblock", &lock, "true"]).status().unwrap().success();
    assert!(held_elsewhere(), "another process finds the uid claimed");
    let second = claims::claim(candidates).unwrap();
    assert_ne!(second.uid(), first.uid());
    assert_eq!(claims::claim(candidates).unwrap_err().code, ErrorCode::ResourceExhausted);
    let uid = first.uid();
    drop(first);
    assert!(!held_elsewhere(), "dropping the claim releases the uid");
    assert_eq!(claims::claim(candidates).unwrap().uid(), uid);
}

#[test]
fn a_fresh_claim_kills_what_a_crashed_holder_left_running() {
    let uid = UID_BASE + UID_COUNT - 22;
    let mut left = std::process::Command::new("setpriv")
        .args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "sleep", "300"])
        .spawn()
        .unwrap();
    // setpriv starts as root: wait until `sleep` runs as the uid.
    let running = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        live_processes(uid) == 1
    });
    assert!(running, "the leftover process started");
    let claim = claims::claim_fresh([uid]).unwrap();
    assert_eq!(claim.uid(), uid);
    assert_eq!(live_processes(uid), 0, "nothing a previous holder left runs as the uid");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(left.wait().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn the_hand_over_never_follows_a_directory_swapped_for_a_symlink() {
    use std::os::unix::fs::MetadataExt;
    use std::sync::atomic::{AtomicBool, Ordering};
    let uid = UID_BASE + UID_COUNT - 23;
    let workspace = tempfile::tempdir().unwrap();
    let victim = tempfile::tempdir().unwrap();
    // The same names as in `d`: a walk that lists `d` and then chowns
    // `d/<name>` by path takes the victim's file whenever `d` is the link
    // at that moment.
    for i in 0..100 {
        std::fs::write(victim.path().join(format!("f{i}")), "root's").unwrap();
    }
    let ws = workspace.path().to_path_buf();
    std::fs::create_dir(ws.join("d")).unwrap();
    for i in 0..100 {
        std::fs::write(ws.join(format!("d/f{i}")), "").unwrap();
    }
    std::os::unix::fs::symlink(victim.path(), ws.join("d-link")).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // What a session's background process would do: `d` flips between a
    // directory and a link to the victim, atomically, as fast as it can.
    let swapper = std::thread::spawn({
        let (ws, stop) = (ws.clone(), stop.clone());
        move || {
            let dir = std::fs::File::open(&ws).unwrap();
            while !stop.load(Ordering::Relaxed) {
                let _ = rustix::fs::renameat_with(&dir, "d", &dir, "d-link", rustix::fs::RenameFlags::EXCHANGE);
            }
        }
    });
    for _ in 0..300 {
        let _ = super::sandbox::hand_over(&ws, uid);
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let taken: Vec<_> = std::fs::read_dir(victim.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain([victim.path().to_path_buf()])
        .filter(|p| p.symlink_metadata().unwrap().uid() != 0)
        .collect();
    assert!(taken.is_empty(), "the hand-over followed a swapped link to {taken:?}");
}
