//! What the end-to-end tests run: the `helmdeck` and `helmdeck-mcp` binaries and every pack (the
//! built-in ones under `packs/` and the fixtures under `tests/fixtures/`),
//! built once per test run with the same steps as `cargo xtask`
//! ([`helmdeck_build`]) and laid out as installable pack directories.
//!
//! "Once per run": within a process the first caller builds and the others
//! wait for it. Under nextest, where every test is its own process, the
//! processes of one run (same `NEXTEST_RUN_ID`) take turns on a lock file and
//! reuse the first one's result, recorded in the run's directory under
//! `<target>/helmdeck-tests/runs/`. That directory also holds a hard link to
//! the binary the run built, so a rebuild elsewhere (another checkout sharing
//! the target directory) cannot swap the binary under a running suite.

use anyhow::{Context, Result, bail};
use helmdeck_build::{PackCrate, Progress, Workspace, assemble};
use helmdeck_marketplace::{MANIFEST_FILE, Manifest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// A pack directory ready for `helmdeck pack install DIR`.
#[derive(Debug, Clone)]
pub struct BuiltPack {
    /// The directory: `helmdeck-pack.yaml` and the component.
    pub dir: PathBuf,
    /// The manifest as written there, `component.sha256` included.
    pub manifest: Manifest,
}

impl BuiltPack {
    /// The component file inside [`BuiltPack::dir`].
    pub fn component(&self) -> PathBuf {
        self.dir.join(&self.manifest.component.file)
    }
}

/// Everything built for this run.
#[derive(Debug)]
pub struct Prebuilt {
    /// The `helmdeck` binary (a hard link owned by this run).
    pub helmdeck: PathBuf,
    /// The `helmdeck-mcp` stdio bridge (likewise).
    pub bridge: PathBuf,
    /// Pack directories by crate directory, relative to the workspace root
    /// (`packs/http`, `tests/fixtures/spin`).
    pub packs: BTreeMap<String, BuiltPack>,
}

/// What a run built, recorded in its run directory so that the run's other
/// processes reuse it.
#[derive(Debug, Serialize, Deserialize)]
struct Stamp {
    helmdeck: PathBuf,
    bridge: PathBuf,
    packs: BTreeMap<String, PathBuf>,
}

/// Directories whose members are pack crates.
const PACK_PARENTS: [&str; 2] = ["packs", "tests/fixtures"];

/// A run directory older than this belongs to a finished run and is removed.
const STALE_RUN: Duration = Duration::from_secs(3600);

/// This run's build, made on first use. Panics with cargo's error when the
/// build fails: no test can run without it.
pub fn prebuilt() -> &'static Prebuilt {
    static BUILT: OnceLock<Prebuilt> = OnceLock::new();
    BUILT.get_or_init(|| match build_or_reuse() {
        Ok(built) => built,
        Err(e) => panic!("the test support could not build helmdeck and the packs: {e:#}"),
    })
}

/// The `helmdeck` binary under test.
pub fn helmdeck_bin() -> &'static Path {
    &prebuilt().helmdeck
}

/// The `helmdeck-mcp` stdio bridge under test.
pub fn bridge_bin() -> &'static Path {
    &prebuilt().bridge
}

/// The built-in pack built from `packs/<dir>` (`http`, `text`).
pub fn builtin_pack(dir: &str) -> &'static BuiltPack {
    pack_at(&format!("packs/{dir}"))
}

/// The fixture pack built from `tests/fixtures/<dir>` (`spin`, `slow-1.0`, ...).
pub fn fixture_pack(dir: &str) -> &'static BuiltPack {
    pack_at(&format!("tests/fixtures/{dir}"))
}

fn pack_at(key: &str) -> &'static BuiltPack {
    let packs = &prebuilt().packs;
    packs
        .get(key)
        .unwrap_or_else(|| panic!("no pack crate at `{key}`; there are: {:?}", packs.keys().collect::<Vec<_>>()))
}

/// Fixture directory `name`, made by `make` once per run and shared by the
/// run's processes, which take turns on a lock as they do for the build:
/// for fixtures that take a build to make. It lives in the run's directory
/// (removed once stale), not in the system's temporary directory, and no two
/// processes build it at once (two cargo builds of one crate into the shared
/// target directory would overwrite each other's output). Panics if `make`
/// fails: the tests that need it cannot run.
pub fn run_fixture(name: &str, make: impl FnOnce(&Path) -> Result<()>) -> PathBuf {
    prebuilt(); // the build empties the run directory first
    let run_dir = run_dir();
    let dir = run_dir.join(name);
    let made = (|| -> Result<()> {
        let lock = File::create(run_dir.join(format!("{name}.lock"))).context("creating the fixture lock")?;
        lock.lock().context("taking the fixture lock")?;
        if dir.join(".made").exists() {
            return Ok(());
        }
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        make(&dir)?;
        std::fs::write(dir.join(".made"), b"")?;
        Ok(())
    })();
    if let Err(e) = made {
        panic!("cannot make the `{name}` fixture in {}: {e:#}", dir.display());
    }
    dir
}

/// The workspace root (the directory of the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Cargo's target directory for this workspace (`CARGO_TARGET_DIR` or
/// `target/`), where `cargo xtask setup` puts the test virtualenv.
pub fn target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match Workspace::locate(Path::new(env!("CARGO_MANIFEST_DIR"))) {
        Ok(ws) => ws.target_dir,
        Err(e) => panic!("cannot locate the workspace: {e}"),
    })
    .clone()
}

fn build_or_reuse() -> Result<Prebuilt> {
    let ws = Workspace::locate(Path::new(env!("CARGO_MANIFEST_DIR")))?;
    let root = tests_root();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let lock = File::create(root.join("build.lock")).context("creating the build lock")?;
    lock.lock().context("taking the build lock")?;
    let run_dir = run_dir();
    let stamp_path = run_dir.join("stamp.json");
    if let Some(stamp) = read_stamp(&stamp_path) {
        return load(stamp);
    }
    eprintln!("helmdeck-tests: building helmdeck and the packs for this run (the first build takes minutes)");
    let built = build(&ws, &run_dir)?;
    let stamp = Stamp {
        helmdeck: built.helmdeck.clone(),
        bridge: built.bridge.clone(),
        packs: built.packs.iter().map(|(k, p)| (k.clone(), p.dir.clone())).collect(),
    };
    std::fs::write(&stamp_path, serde_json::to_vec_pretty(&stamp)?).context("writing the build stamp")?;
    Ok(built)
}

/// `<target>/helmdeck-tests`: the build lock, and a directory per run under `runs/`.
fn tests_root() -> PathBuf {
    target_dir().join("helmdeck-tests")
}

/// This run's directory: its binaries, packs, stamp and fixtures.
fn run_dir() -> PathBuf {
    tests_root().join("runs").join(run_key())
}

/// The nextest run this process belongs to, or this process alone.
fn run_key() -> String {
    match std::env::var("NEXTEST_RUN_ID") {
        Ok(id) if !id.is_empty() => format!("nextest-{id}"),
        _ => format!("process-{}", std::process::id()),
    }
}

fn read_stamp(path: &Path) -> Option<Stamp> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn load(stamp: Stamp) -> Result<Prebuilt> {
    let packs = stamp.packs.into_iter().map(|(key, dir)| Ok((key, read_pack(dir)?))).collect::<Result<_>>()?;
    if let Some(gone) = [&stamp.helmdeck, &stamp.bridge].into_iter().find(|p| !p.exists()) {
        bail!("{} is gone; rerun the tests", gone.display());
    }
    Ok(Prebuilt { helmdeck: stamp.helmdeck, bridge: stamp.bridge, packs })
}

fn read_pack(dir: PathBuf) -> Result<BuiltPack> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = Manifest::from_yaml(&text).with_context(|| format!("{}", path.display()))?;
    Ok(BuiltPack { dir, manifest })
}

fn build(ws: &Workspace, run_dir: &Path) -> Result<Prebuilt> {
    remove_stale_runs(run_dir.parent().context("run directory has no parent")?);
    let _ = std::fs::remove_dir_all(run_dir);
    std::fs::create_dir_all(run_dir)?;
    let helmdeck = build_binary(ws, run_dir, "helmdeck", "helmdeck")?;
    let bridge = build_binary(ws, run_dir, "helmdeck-mcp", "helmdeck-mcp")?;

    let mut crates = Vec::new();
    for parent in PACK_PARENTS {
        crates.extend(PackCrate::discover(ws, &ws.root.join(parent))?);
    }
    let components = ws.build_packs(&crates, Progress::Quiet)?;
    let mut packs = BTreeMap::new();
    for (krate, wasm) in crates.iter().zip(&components) {
        let key = krate.dir.strip_prefix(&ws.root).unwrap_or(&krate.dir).to_string_lossy().into_owned();
        let dir = run_dir.join("packs").join(&krate.package);
        let manifest = assemble(krate, wasm, &dir)?;
        packs.insert(key, BuiltPack { dir, manifest });
    }
    Ok(Prebuilt { helmdeck, bridge, packs })
}

/// Build `package`'s binary `bin` and hard-link it into the run directory.
fn build_binary(ws: &Workspace, run_dir: &Path, package: &str, bin: &str) -> Result<PathBuf> {
    let built = ws.build_binary(package, bin, "dev", Progress::Quiet)?;
    let linked = run_dir.join(bin);
    std::fs::hard_link(&built, &linked)
        .or_else(|_| std::fs::copy(&built, &linked).map(drop))
        .with_context(|| format!("linking {} to {}", built.display(), linked.display()))?;
    Ok(linked)
}

/// Remove the directories of runs that ended long ago (best effort).
fn remove_stale_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else { return };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > STALE_RUN);
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
