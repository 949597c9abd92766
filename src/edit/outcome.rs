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
    /// The diff was reported; nothing was written.
    DryRun,
    /// Written (and committed, when asked).
    Written { repos: Vec<RepoSummary> },
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
            Outcome::DryRun => write!(f, "dry run: nothing was written"),
            Outcome::Written { repos } => {
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
    let repos = Repo::BOTH
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
        .collect();
    Outcome::Written { repos }
}
