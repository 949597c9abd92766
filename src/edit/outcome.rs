//! What an edit did, as data: for a command's last lines of output (`Display`) or for scripts
//! (`Serialize`, `--json`). Printing it is the command's business.

use serde::Serialize;

use crate::model::repo::Repo;
use crate::plan::{Action, Change};

/// What a command did, for its last lines of output (`Display`) or for scripts (`Serialize`).
#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Both repos already hold what the edit renders.
    UpToDate,
    /// The diff was reported; nothing was written. `repos` counts what a write would do, and
    /// `files` is the plan: every file with its repo, action and reason.
    DryRun {
        repos: Vec<RepoSummary>,
        files: Vec<FilePlan>,
    },
    /// Written (and committed, when asked).
    Written {
        repos: Vec<RepoSummary>,
        files: Vec<FilePlan>,
    },
}

/// One file of a plan, for scripts.
#[derive(Debug, Serialize)]
pub struct FilePlan {
    pub repo: Repo,
    pub path: String,
    /// `create`, `update`, `unchanged`, `keep`, `delete` or `conflict`.
    pub action: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// The plan of every file: the changes, and the bookkeeping files (`strata.toml`,
/// `strata.lock`) that change with them.
pub(super) fn files(changes: &[Change], bookkeeping: &[(Repo, String, Vec<u8>)]) -> Vec<FilePlan> {
    let mut files: Vec<FilePlan> = changes
        .iter()
        .map(|c| FilePlan {
            repo: c.repo,
            path: c.path.clone(),
            action: match c.action {
                Action::Create => "create",
                Action::Update => "update",
                Action::Unchanged => "unchanged",
                Action::KeepSeed => "keep",
                Action::Delete => "delete",
                Action::Conflict(_) => "conflict",
            },
            reason: reason(c),
        })
        .collect();
    files.extend(bookkeeping.iter().map(|(repo, path, _)| FilePlan {
        repo: *repo,
        path: path.clone(),
        action: "update",
        reason: if path == crate::model::answers::FILE_NAME {
            "the answers change with the command".to_string()
        } else {
            "strata's record of the files it wrote".to_string()
        },
    }));
    files
}

/// Why a change does what it does.
fn reason(change: &Change) -> String {
    match &change.action {
        Action::Create if change.seed => "a seed: written once, then its owner's".to_string(),
        Action::Create => "strata renders it and it is not on disk".to_string(),
        Action::Update if change.render.is_some() && change.render != change.new => {
            "strata's render changed: merged with the edits on disk".to_string()
        }
        Action::Update => "strata's render changed".to_string(),
        Action::Unchanged => "on disk as strata renders it".to_string(),
        Action::KeepSeed => "a seed its owner keeps: never rewritten".to_string(),
        Action::Delete => "strata no longer renders it".to_string(),
        Action::Conflict(why) => why.clone(),
    }
}

/// The files one repo got.
#[derive(Debug, Serialize)]
pub struct RepoSummary {
    pub repo: Repo,
    pub created: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Seeds left as their owner has them.
    pub kept: usize,
    pub committed: bool,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::UpToDate => write!(f, "nothing to change: both repos are up to date"),
            Outcome::DryRun { .. } => write!(f, "dry run: nothing was written"),
            Outcome::Written { repos, .. } => {
                let mut lines = Vec::new();
                for summary in repos {
                    let parts: Vec<String> = [
                        (summary.created, "created"),
                        (summary.deleted, "deleted"),
                        (summary.kept, "kept (yours)"),
                        (summary.updated, "updated"),
                    ]
                    .into_iter()
                    .filter(|(n, _)| *n > 0)
                    .map(|(n, verb)| format!("{n} {verb}"))
                    .collect();
                    if !parts.is_empty() {
                        lines.push(format!(
                            "{}: {}{}",
                            summary.repo,
                            parts.join(", "),
                            if summary.committed { ", committed" } else { "" }
                        ));
                    }
                }
                write!(f, "{}", lines.join("\n"))
            }
        }
    }
}

/// The outcome of a written change: each repo's files by action, `strata.toml` and
/// `strata.lock` (`bookkeeping`, updated) counted with the rest, and whether it got a commit.
pub(super) fn summarize(
    changes: &[Change],
    bookkeeping: &[(Repo, String, Vec<u8>)],
    committed: &[Repo],
) -> Outcome {
    Outcome::Written {
        repos: counts(changes, bookkeeping, committed),
        files: files(changes, bookkeeping),
    }
}

/// The outcome of a dry run: what a write would do, file by file.
pub(super) fn dry_run(changes: &[Change], bookkeeping: &[(Repo, String, Vec<u8>)]) -> Outcome {
    Outcome::DryRun {
        repos: counts(changes, bookkeeping, &[]),
        files: files(changes, bookkeeping),
    }
}

/// Each repo's files by action, `strata.toml` and `strata.lock` counted with the rest.
fn counts(
    changes: &[Change],
    bookkeeping: &[(Repo, String, Vec<u8>)],
    committed: &[Repo],
) -> Vec<RepoSummary> {
    Repo::BOTH
        .into_iter()
        .map(|repo| {
            let count = |action: Action| {
                changes
                    .iter()
                    .filter(|c| c.repo == repo && c.action == action)
                    .count()
            };
            RepoSummary {
                repo,
                created: count(Action::Create),
                updated: count(Action::Update)
                    + bookkeeping.iter().filter(|(r, _, _)| *r == repo).count(),
                deleted: count(Action::Delete),
                kept: count(Action::KeepSeed),
                committed: committed.contains(&repo),
            }
        })
        .collect()
}
