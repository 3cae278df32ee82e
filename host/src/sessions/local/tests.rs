//! The local runtime against the real Chromium (the first of
//! [`CHROMIUM_CANDIDATES`] installed, or `HELMDECK_CHROMIUM`).

use super::*;
use std::path::Path;

fn runtime(profiles: &Path) -> LocalRuntime {
    let executable = std::env::var_os(CHROMIUM_ENV).map(PathBuf::from);
    LocalRuntime::new(LocalConfig::new(executable, profiles.to_path_buf()))
}

fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
}

/// The live processes whose process group is `pgid`.
fn process_group(pgid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| reap::process_group(*p) == Some(pgid) && alive(*p))
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state letter says it is gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

#[tokio::test]
async fn a_started_browser_runs_with_every_security_switch_and_stops_with_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime(dir.path());
    let id = rt.spawn(RuntimeSpec::default()).await.unwrap();
    let pid = rt.pid(&id).unwrap();
    let args = cmdline(pid);
    for switch in SECURITY_SWITCHES {
        assert!(args.contains(&format!("--{switch}")), "--{switch} missing from {args:?}");
    }
    assert!(args.iter().any(|a| a == &format!("--proxy-server={NOWHERE_PROXY}")), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("---") || a.contains("load-extension")), "{args:?}");
    assert!(rt.connect(&id).await.unwrap().cdp_url.starts_with("ws://127.0.0.1:"), "DevTools listens on loopback only");
    assert_eq!(rt.health(&id).await, Health::Running);
    let profile = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(profile, 1, "one fresh profile per browser");

    // The browser leads its own process group (its zygotes and utility
    // processes); the desktop build's crash handlers leave the group but
    // keep their database in the profile (the headless shell runs none).
    let group = process_group(pid);
    assert!(group.len() > 1, "the browser's helpers share its process group: {group:?}");
    let crash_handlers: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let marker = dir.path().display().to_string();
            alive(*p) && cmdline(*p).iter().any(|a| a.starts_with("--database=") && a.contains(&marker))
        })
        .collect();
    rt.terminate(&id).await.unwrap();
    assert!(!alive(pid), "the browser process is gone");
    assert!(group.iter().all(|p| !alive(*p)), "every process in its group is gone too: {group:?}");
    assert!(crash_handlers.iter().all(|p| !alive(*p)), "its crash handlers are gone too: {crash_handlers:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "its profile is deleted");
    assert!(matches!(rt.health(&id).await, Health::Exited { .. }));
    assert_eq!(rt.exec(&id, &["true".to_owned()]).await.unwrap_err().code, ErrorCode::InvalidInput);
}

#[tokio::test]
async fn the_desktop_builds_singleton_directory_goes_with_its_profile() {
    // `cargo xtask setup` installs the desktop build beside the headless shell.
    let desktop = PathBuf::from("/usr/lib/chromium/chromium");
    assert!(desktop.is_file(), "the desktop build is missing: run `cargo xtask setup`");
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::new(LocalConfig::new(Some(desktop), dir.path().to_path_buf()));
    let id = rt.spawn(RuntimeSpec::default()).await.unwrap();
    let profile = std::fs::read_dir(dir.path()).unwrap().flatten().next().unwrap().path();
    let socket = std::fs::read_link(profile.join("SingletonSocket")).expect("the desktop build links its socket");
    let singleton = socket.parent().unwrap().to_path_buf();
    assert!(singleton.is_dir(), "{}", singleton.display());
    rt.terminate(&id).await.unwrap();
    assert!(!singleton.exists(), "{} is left behind", singleton.display());
}

#[tokio::test]
async fn browsers_a_previous_process_left_are_reaped_but_ours_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let previous = runtime(dir.path());
    let left = previous.spawn(RuntimeSpec::default()).await.unwrap();
    let left_pid = previous.pid(&left).unwrap();
    // The previous process "dies" without stopping its browser.
    std::mem::forget(previous);

    let current = runtime(dir.path());
    let ours = current.spawn(RuntimeSpec::default()).await.unwrap();
    let ours_pid = current.pid(&ours).unwrap();
    assert_eq!(current.reap_orphans().await.unwrap(), 1, "one leftover browser");
    for _ in 0..100 {
        if !alive(left_pid) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!alive(left_pid), "the leftover browser was killed");
    assert!(alive(ours_pid), "a browser of this process is kept");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "only the live browser's profile remains");
    current.terminate(&ours).await.unwrap();
}

#[tokio::test]
async fn a_missing_executable_is_session_unavailable_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let rt = LocalRuntime::new(LocalConfig::new(Some("/nonexistent/chromium".into()), dir.path().to_path_buf()));
    let err = rt.spawn(RuntimeSpec::default()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionUnavailable);
    assert!(err.message.contains(CHROMIUM_ENV) && err.message.contains("apt-get install chromium"), "{}", err.message);
}
