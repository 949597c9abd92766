//! The errors of a change to a workspace, typed: what failed, at which path, in which repo.
//!
//! They are the causes a [`crate::util::error::Stopped`] change carries; what strata did about
//! them (nothing changed, rolled back) is its [`crate::util::error::Outcome`]. Each names the
//! repo-relative path and the repo, so that a message says where to look without a full path.

use std::path::PathBuf;

use crate::model::repo::Repo;

/// What strata was doing to a file when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doing {
    Reading,
    Writing,
    Removing,
}

impl std::fmt::Display for Doing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Doing::Reading => "reading",
            Doing::Writing => "writing",
            Doing::Removing => "removing",
        })
    }
}

/// Why a file of a change could not be read, written or removed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Where strata must write or delete a file there is a directory or a special file.
    #[error("`{path}` is not a regular file ({repo})")]
    NotAFile { repo: Repo, path: String },
    /// Reading, writing or removing the file failed.
    #[error("{doing} `{path}` ({repo})")]
    File {
        repo: Repo,
        path: String,
        doing: Doing,
        #[source]
        cause: anyhow::Error,
    },
    /// The plan holds a conflict (the edit refuses those before it writes).
    #[error("refusing to write `{path}` ({repo}): {why}")]
    Conflict {
        repo: Repo,
        path: String,
        why: String,
    },
}

/// Why one repo of an interrupted or failed change could not be rolled back.
#[derive(Debug, thiserror::Error)]
#[error("rolling back the {repo} repo (`{}`)", root.display())]
pub struct RollbackError {
    pub repo: Repo,
    pub root: PathBuf,
    #[source]
    pub cause: anyhow::Error,
}
