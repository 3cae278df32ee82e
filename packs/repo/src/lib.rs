//! Pack `repo`: clone a repository into the session workspace and hand the
//! agent a map of it (file tree summary, README, languages, entry points,
//! where the docs are), and push the result back. Credentials are vault
//! names; the host gives the key or token to git, the pack never sees it.
//! Use the same `_session_id` for every call of one task.

use helmdeck_sdk::fs::{Entry, EntryKind};
use helmdeck_sdk::prelude::*;
use std::collections::BTreeMap;

const TREE_LIMIT: u32 = 5000;
const README_EXCERPT: usize = 4000;

/// Input of `fetch`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchInput {
    /// The repository: `owner/repo` (GitHub), an `https://` URL,
    /// `ssh://user@host:port/path.git` or `user@host:path.git`.
    #[schemars(length(min = 3, max = 2048))]
    pub url: String,
    /// Name of the vault credential to authenticate with (an SSH key for SSH
    /// remotes, a token for HTTPS); omit for public repositories.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub credential: Option<String>,
    /// Branch to check out (default: the remote's default branch).
    pub branch: Option<String>,
    /// Workspace directory for the checkout (default: the repository's name).
    pub dir: Option<String>,
}

/// The checkout and a map of it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FetchOutput {
    /// Workspace path of the checkout: pass it as `path`/`cwd` to fs, cmd and git tools.
    pub path: String,
    pub branch: String,
    /// Commit at HEAD.
    pub head: String,
    /// The remote, normalised.
    pub remote: String,
    /// Files and directories, counted and summarised.
    pub tree: TreeSummary,
    /// The README, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readme: Option<Readme>,
    /// Languages by number of files, most first.
    pub languages: Vec<LanguageCount>,
    /// Files that start or describe the program: manifests, mains, scripts.
    pub entry_points: Vec<String>,
    /// Where documentation and contribution notes are.
    pub doc_hints: Vec<String>,
}

/// The shape of the file tree.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TreeSummary {
    pub files: u32,
    pub directories: u32,
    /// The tree had more than 5000 entries; counts cover the first 5000.
    pub truncated: bool,
    /// Top-level entries (directories end with `/`).
    pub top_level: Vec<String>,
}

/// A README excerpt.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readme {
    pub path: String,
    /// The first 4000 characters.
    pub excerpt: String,
    /// The README is longer than the excerpt.
    pub truncated: bool,
}

/// Files of one language.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LanguageCount {
    pub language: String,
    pub files: u32,
}

/// Input of `credentials` (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {}

/// Credentials usable with `fetch` and `push`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CredentialsOutput {
    pub credentials: Vec<vault::CredentialInfo>,
}

/// Input of `push`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushInput {
    /// The checkout's workspace path (from `fetch`).
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Vault credential to push with (default: the one used to fetch).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub credential: Option<String>,
}

helmdeck_sdk::pack! {
    name: "repo";

    /// Clone a repository into the session workspace and return where it is
    /// with a map of it: file counts and top-level layout, the README,
    /// languages, entry points and documentation hints. Pass `_session_id`
    /// to keep working on the checkout in later calls.
    fn fetch(input: FetchInput) -> ToolResult<FetchOutput> {
        let cloned = git::clone(&input.url, input.credential.as_deref(), input.branch.as_deref(), input.dir.as_deref())?;
        let (entries, truncated) = fs::list(&cloned.path, None, true, TREE_LIMIT)?;
        let relative: Vec<(String, EntryKind)> = entries
            .iter()
            .map(|e: &Entry| (e.path.strip_prefix(&format!("{}/", cloned.path)).unwrap_or(&e.path).to_owned(), e.kind))
            .collect();
        Ok(FetchOutput {
            tree: tree_summary(&relative, truncated),
            readme: readme(&cloned.path, &relative)?,
            languages: languages(&relative),
            entry_points: matching(&relative, is_entry_point),
            doc_hints: matching(&relative, is_doc),
            path: cloned.path,
            branch: cloned.branch,
            head: cloned.head,
            remote: cloned.remote,
        })
    }

    /// Push the checkout's current branch to the remote it was fetched
    /// from. A rejected push (the remote moved on) fails with
    /// `schema_mismatch` naming the ref; fetch again and redo the change.
    fn push(input: PushInput) -> ToolResult<git::Pushed> {
        git::push(&input.path, input.credential.as_deref())
    }

    /// List the vault credentials this pack may use for you (names, kinds,
    /// hosts and masked hints, never values): pick the `credential` of
    /// `fetch` from these.
    fn credentials(_input: CredentialsInput) -> ToolResult<CredentialsOutput> {
        Ok(CredentialsOutput { credentials: vault::credentials()? })
    }
}

fn tree_summary(entries: &[(String, EntryKind)], truncated: bool) -> TreeSummary {
    let count = |kind: EntryKind| entries.iter().filter(|(_, k)| *k == kind).count() as u32;
    let top_level = entries
        .iter()
        .filter(|(p, _)| !p.contains('/'))
        .map(|(p, k)| if *k == EntryKind::Directory { format!("{p}/") } else { p.clone() })
        .collect();
    TreeSummary { files: count(EntryKind::File), directories: count(EntryKind::Directory), truncated, top_level }
}

fn readme(root: &str, entries: &[(String, EntryKind)]) -> ToolResult<Option<Readme>> {
    let Some((name, _)) = entries
        .iter()
        .find(|(p, k)| *k == EntryKind::File && !p.contains('/') && p.to_ascii_lowercase().starts_with("readme"))
    else {
        return Ok(None);
    };
    let path = format!("{root}/{name}");
    let file = fs::read(&path, 1 << 20)?;
    let text = String::from_utf8_lossy(&file.content);
    let excerpt: String = text.chars().take(README_EXCERPT).collect();
    Ok(Some(Readme { truncated: excerpt.len() < text.len(), excerpt, path }))
}

fn languages(entries: &[(String, EntryKind)]) -> Vec<LanguageCount> {
    let mut counts: BTreeMap<&'static str, u32> = BTreeMap::new();
    for (path, kind) in entries {
        if *kind != EntryKind::File {
            continue;
        }
        let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        if let Some(language) = language_of(&ext) {
            *counts.entry(language).or_default() += 1;
        }
    }
    let mut list: Vec<LanguageCount> =
        counts.into_iter().map(|(language, files)| LanguageCount { language: language.to_owned(), files }).collect();
    list.sort_by(|a, b| b.files.cmp(&a.files).then(a.language.cmp(&b.language)));
    list
}

fn language_of(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "rs" => "Rust",
        "py" => "Python",
        "js" | "mjs" | "cjs" | "jsx" => "JavaScript",
        "ts" | "tsx" => "TypeScript",
        "go" => "Go",
        "java" => "Java",
        "kt" | "kts" => "Kotlin",
        "c" | "h" => "C",
        "cc" | "cpp" | "cxx" | "hpp" => "C++",
        "cs" => "C#",
        "rb" => "Ruby",
        "php" => "PHP",
        "swift" => "Swift",
        "sh" | "bash" => "Shell",
        "md" | "rst" => "Documentation",
        "html" | "css" | "scss" => "Web",
        "yaml" | "yml" | "toml" | "json" => "Config",
        _ => return None,
    })
}

fn is_entry_point(path: &str) -> bool {
    const NAMES: [&str; 20] = [
        "Cargo.toml",
        "package.json",
        "pyproject.toml",
        "setup.py",
        "go.mod",
        "pom.xml",
        "build.gradle",
        "Makefile",
        "CMakeLists.txt",
        "Dockerfile",
        "main.rs",
        "lib.rs",
        "main.py",
        "__main__.py",
        "index.js",
        "index.ts",
        "main.go",
        "Main.java",
        "test.sh",
        "run-tests.sh",
    ];
    let name = path.rsplit('/').next().unwrap_or(path);
    let depth = path.matches('/').count();
    depth <= 2 && (NAMES.contains(&name) || (depth == 0 && name.ends_with(".sh")))
}

fn is_doc(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower.starts_with("docs/") && lower.matches('/').count() == 1
        || ["contributing.md", "architecture.md", "changelog.md", "hacking.md", "development.md"].contains(&name)
}

fn matching(entries: &[(String, EntryKind)], keep: fn(&str) -> bool) -> Vec<String> {
    entries.iter().filter(|(p, k)| *k == EntryKind::File && keep(p)).map(|(p, _)| p.clone()).take(50).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> Vec<(String, EntryKind)> {
        [
            ("README.md", EntryKind::File),
            ("src", EntryKind::Directory),
            ("src/main.rs", EntryKind::File),
            ("src/util.rs", EntryKind::File),
            ("src/extra.rs", EntryKind::File),
            ("test.sh", EntryKind::File),
            ("docs", EntryKind::Directory),
            ("docs/guide.md", EntryKind::File),
            ("Cargo.toml", EntryKind::File),
        ]
        .into_iter()
        .map(|(p, k)| (p.to_owned(), k))
        .collect()
    }

    #[test]
    fn the_context_envelope_names_languages_entry_points_and_docs() {
        let t = tree();
        let summary = tree_summary(&t, false);
        assert_eq!((summary.files, summary.directories), (7, 2));
        assert!(summary.top_level.contains(&"src/".to_owned()));
        assert_eq!(languages(&t)[0].language, "Rust");
        assert_eq!(matching(&t, is_entry_point), ["src/main.rs", "test.sh", "Cargo.toml"]);
        assert_eq!(matching(&t, is_doc), ["docs/guide.md"]);
    }
}
