//! [`Workspace`] on a real directory: confinement, caps, literal patching.

use super::workspace::{EntryKind, MAX_FILE_BYTES, Workspace, sha256};
use crate::ErrorCode;

fn workspace() -> (tempfile::TempDir, Workspace) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ws/src")).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside").unwrap();
    std::fs::write(dir.path().join("ws/src/main.rs"), "fn main() { old(); old(); }\n").unwrap();
    let ws = Workspace::open(&dir.path().join("ws")).unwrap();
    (dir, ws)
}

#[test]
fn paths_leading_outside_are_refused_whatever_their_spelling() {
    let (dir, ws) = workspace();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("ws/link")).unwrap();
    std::os::unix::fs::symlink("../..", dir.path().join("ws/src/up")).unwrap();
    for path in ["../secret.txt", "src/../../secret.txt", "/etc/passwd", "link", "src/up/secret.txt"] {
        let err = ws.read(path, 1024).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized, "{path}: {err}");
        assert!(err.message.contains("outside the workspace"), "{}", err.message);
        let err = ws.write(path, b"x", true).unwrap_err();
        assert_eq!(err.code, ErrorCode::Unauthorized, "{path}: {err}");
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(), "outside");
    assert_eq!(ws.remove("link", false).map(|()| "removed"), Ok("removed"), "removing the link itself is fine");
    assert_eq!(std::fs::read_to_string(dir.path().join("secret.txt")).unwrap(), "outside");
}

#[test]
fn reads_are_capped_and_hashed() {
    let (_dir, ws) = workspace();
    let (content, digest) = ws.read("./src/main.rs", 1024).unwrap();
    assert_eq!(digest, sha256(&content));
    assert_eq!(ws.read("src/main.rs", 5).unwrap_err().code, ErrorCode::ResourceExhausted);
    assert_eq!(ws.read("src/none.rs", 5).unwrap_err().code, ErrorCode::NotFound);
    assert_eq!(ws.read("src", 5).unwrap_err().code, ErrorCode::InvalidInput);
    let big = vec![b'x'; MAX_FILE_BYTES as usize + 1];
    assert_eq!(ws.write("big", &big, false).unwrap_err().code, ErrorCode::ResourceExhausted);
}

#[test]
fn patch_is_literal_and_refuses_ambiguous_or_missing_text() {
    let (_dir, ws) = workspace();
    let err = ws.patch("src/main.rs", "old()", "new()", 1).unwrap_err();
    assert!(err.message.contains("occurs 2 times"), "{}", err.message);
    assert_eq!(ws.patch("src/main.rs", "o.d", "x", 5).unwrap_err().code, ErrorCode::InvalidInput, "no regex");
    let done = ws.patch("src/main.rs", "old()", "new()", 2).unwrap();
    assert_eq!(done.replacements, 2);
    let (content, digest) = ws.read("src/main.rs", 1024).unwrap();
    assert_eq!(content, b"fn main() { new(); new(); }\n");
    assert_eq!(done.sha256, digest);
}

#[test]
fn writes_make_parents_on_request_and_listings_glob_and_cap() {
    let (_dir, ws) = workspace();
    assert_eq!(ws.write("a/b/c.txt", b"hi", false).unwrap_err().code, ErrorCode::NotFound);
    ws.write("a/b/c.txt", b"hi", true).unwrap();
    for i in 0..5 {
        ws.write(&format!("a/n{i}.rs"), b"", false).unwrap();
    }
    let (all, truncated) = ws.list(".", None, true, 100).unwrap();
    assert!(!truncated);
    assert!(all.iter().any(|e| e.path == "a/b" && e.kind == EntryKind::Directory));
    assert!(all.iter().any(|e| e.path == "a/b/c.txt" && e.size == 2));
    let (rust, _) = ws.list("", Some("**/*.rs"), true, 100).unwrap();
    assert_eq!(
        rust.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["a/n0.rs", "a/n1.rs", "a/n2.rs", "a/n3.rs", "a/n4.rs", "src/main.rs"]
    );
    let (top, _) = ws.list("", None, false, 100).unwrap();
    assert_eq!(top.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(), ["a", "src"]);
    let (few, truncated) = ws.list("a", Some("a/*.rs"), false, 2).unwrap();
    assert_eq!((few.len(), truncated), (2, true));
    assert_eq!(ws.remove("a", false).unwrap_err().code, ErrorCode::InvalidInput);
    ws.remove("a", true).unwrap();
    assert_eq!(ws.list("a", None, false, 10).unwrap_err().code, ErrorCode::NotFound);
}

#[test]
fn paths_the_system_refuses_are_invalid_input_naming_the_field() {
    let (dir, ws) = workspace();
    std::os::unix::fs::symlink("loop", dir.path().join("ws/loop")).unwrap();
    let long_name = "a".repeat(256);
    let long_path = vec!["d"; 2000].join("/");
    for path in [long_name.as_str(), long_path.as_str(), "a\0b", "loop/x"] {
        let err = ws.read(path, 1024).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput, "{}: {err}", path.len());
        assert!(err.message.contains("`path`"), "{}", err.message);
        assert!(err.message.len() < 300, "the message does not repeat a long path: {}", err.message);
    }
    assert!(ws.write(&"b".repeat(255), b"x", false).is_ok(), "255 bytes is a valid name");
}
