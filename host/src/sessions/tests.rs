use super::*;
use crate::store::SqliteStore;

fn sessions(dir: &std::path::Path) -> Sessions {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.join("db.sqlite")).unwrap());
    Sessions::new(store, dir.join("sessions"))
}

#[tokio::test]
async fn a_session_is_usable_by_its_owner_only_and_counts_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let s = sessions(dir.path());
    let session = s.create(SessionSpec { max_tasks: Some(2), ..Default::default() }, "ada", false).await.unwrap();
    assert!(session.workspace().is_dir() && session.private_dir().is_dir());
    assert_eq!(s.acquire(&session.id, "bob").await.unwrap_err().code, ErrorCode::NotFound);
    s.acquire(&session.id, "ada").await.unwrap();
    s.acquire(&session.id, "ada").await.unwrap();
    assert_eq!(s.get(&session.id, "ada").await.unwrap().tasks, 2);
    let third = s.acquire(&session.id, "ada").await.unwrap_err();
    assert_eq!(third.code, ErrorCode::SessionUnavailable);
    assert!(third.message.contains("task limit"), "{}", third.message);
    let record = s.get(&session.id, "ada").await.unwrap();
    assert_eq!(record.state, SessionState::Closed);
    assert!(!session.dir().exists(), "a recycled session's directory is deleted");
}

#[tokio::test]
async fn closing_runs_the_hooks_once_and_later_use_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let s = sessions(dir.path());
    let session = s.create(SessionSpec::default(), "ada", false).await.unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = runs.clone();
    session
        .on_close(Box::new(move || {
            Box::pin(async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        }))
        .await;
    s.close(&session.id, "deleted").await.unwrap();
    s.close(&session.id, "deleted").await.unwrap();
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let err = s.acquire(&session.id, "ada").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::SessionUnavailable);
    assert!(err.message.contains("deleted"), "{}", err.message);
}

#[tokio::test]
async fn expired_sessions_are_closed_by_the_watchdog_pass() {
    let dir = tempfile::tempdir().unwrap();
    let s = sessions(dir.path());
    let session = s.create(SessionSpec { timeout_secs: Some(1), ..Default::default() }, "ada", false).await.unwrap();
    let keep = s.create(SessionSpec::default(), "ada", false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(s.expire().await.unwrap(), 1);
    assert_eq!(s.get(&session.id, "ada").await.unwrap().close_reason.as_deref(), Some("expired"));
    assert_eq!(
        s.list("ada", false).await.unwrap().iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        vec![keep.id.clone()]
    );
}

#[tokio::test]
async fn a_restart_closes_what_the_previous_process_left_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = sessions(dir.path());
    let session = before.create(SessionSpec::default(), "ada", false).await.unwrap();
    drop(before);
    let after = sessions(dir.path());
    assert_eq!(after.reap_previous().await.unwrap(), 1);
    assert!(!session.dir().exists());
    let record = after.get(&session.id, "ada").await.unwrap();
    assert_eq!(record.close_reason.as_deref(), Some("host restarted"));
    assert_eq!(after.acquire(&session.id, "ada").await.unwrap_err().code, ErrorCode::SessionUnavailable);
}

#[tokio::test]
async fn an_ephemeral_session_is_made_on_first_use_and_closed_on_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = sessions(dir.path());
    let slot = SessionSlot::new(s.clone(), "ada", None);
    assert_eq!(slot.id(), None);
    let first = slot.get().await.unwrap();
    assert_eq!(slot.get().await.unwrap().id, first.id, "one ephemeral session per call");
    assert!(first.ephemeral);
    slot.release().await.unwrap();
    assert!(first.is_closed() && !first.dir().exists());
    assert!(s.list("ada", true).await.unwrap().is_empty(), "ephemeral sessions are not listed");
}
