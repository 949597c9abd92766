//! Git, through git2: the only folder that imports it.
//!
//! strata finds a repo's git directory (`dir`), initialises repos on `main` with one commit
//! (`init`), commits the files a command changed (`commit`, with `--commit`), asks whether
//! files it must touch have uncommitted changes (`status`), reads and writes files as git
//! converts their line endings (`line_endings`), records its last render of every file on
//! `refs/strata/base` (`base`) and merges a file's lines three ways (`merge`). Machines without
//! a git identity get a fixed signature. Nothing here knows of plans or workspaces: callers
//! pass paths and bytes.

pub(crate) mod base;
mod commit;
mod dir;
mod init;
mod line_endings;
pub(crate) mod merge;
mod pack;
mod status;

pub use commit::{head_state, move_branch, reset_branch, stage_paths, write_commit, HeadState};
pub use dir::{enclosing_repo, git_dir, git_file};
pub use init::init_and_commit;
pub use line_endings::LineEndings;
#[cfg(test)]
pub use status::untracked;
pub use status::{changed_paths, dirty_paths, head_file, preflight};
