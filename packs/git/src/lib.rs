//! Pack `git`: local operations on a checkout in the session workspace
//! (made by `repo.fetch`, or a new repository made by `init`): commit every
//! change, show the diff, read the log. It cannot push; `repo.push` does. Commits carry the caller's token
//! subject as author and `helmdeck-agent` as committer.

use helmdeck_sdk::git::{Commit, FileStatus};
use helmdeck_sdk::prelude::*;

/// Input of `commit`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitInput {
    /// The checkout's workspace path (the `path` returned by `repo.fetch`).
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// The commit message: a short summary line, then details if useful.
    #[schemars(length(min = 1, max = 65536))]
    pub message: String,
}

/// The commit made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CommitOutput {
    pub commit: Commit,
}

/// Input of `init`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InitInput {
    /// Workspace-relative directory for the new repository, such as `project`
    /// (created when missing; files already there are kept, uncommitted).
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
}

/// The repository made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InitOutput {
    /// The checkout's workspace path; pass it to the other tools.
    pub path: String,
    /// The branch the first commit goes on.
    pub branch: String,
}

/// Input of `diff`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// The checkout's workspace path.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// Cut the diff at this many bytes (default 262144, at most 4194304).
    #[schemars(range(min = 1, max = 4194304))]
    pub max_bytes: Option<u32>,
}

/// Uncommitted changes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiffOutput {
    /// Changed files and how.
    pub files: Vec<FileStatus>,
    /// Unified diff against HEAD, new files included.
    pub diff: String,
}

/// Input of `log`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogInput {
    /// The checkout's workspace path.
    #[schemars(length(min = 1, max = 4096))]
    pub path: String,
    /// How many commits, newest first (default 20, at most 1000).
    #[schemars(range(min = 1, max = 1000))]
    pub max: Option<u32>,
}

/// Recent history.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LogOutput {
    pub commits: Vec<Commit>,
}

helmdeck_sdk::pack! {
    name: "git";

    /// Commit every change in the checkout (new, modified and deleted files;
    /// `.gitignore` is respected). Fails with `invalid_input` when there is
    /// nothing to commit.
    fn commit(input: CommitInput) -> ToolResult<CommitOutput> {
        Ok(CommitOutput { commit: git::commit_all(&input.path, &input.message)? })
    }

    /// Start a new, empty repository in the session workspace (for work
    /// that does not begin with a clone). Then write files (`fs.write`) and
    /// `commit`.
    fn init(input: InitInput) -> ToolResult<InitOutput> {
        let branch = git::init(&input.path)?;
        Ok(InitOutput { path: input.path, branch })
    }

    /// Show what changed since the last commit: the changed files and a
    /// unified diff.
    fn diff(input: DiffInput) -> ToolResult<DiffOutput> {
        let files = git::status(&input.path)?;
        let diff = git::diff(&input.path, input.max_bytes.unwrap_or(256 * 1024))?;
        Ok(DiffOutput { files, diff })
    }

    /// The newest commits of the checkout's current branch.
    fn log(input: LogInput) -> ToolResult<LogOutput> {
        Ok(LogOutput { commits: git::log(&input.path, input.max.unwrap_or(20))? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_takes_the_checkout_path() {
        for tool in Pack::describe().tools {
            assert_eq!(tool.input_schema["required"][0], "path", "{}", tool.name);
        }
    }
}
