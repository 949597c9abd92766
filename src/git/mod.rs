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
mod rules;
mod status;

/// Sets libgit2's process-wide options, once, before any repo is opened.
///
/// libgit2 re-hashes every object it reads to check its id (`strict_hash_verification`);
/// git itself does not on a normal read (only `git fsck` and transfers check). With it, every
/// tree strata walks was hashed with SHA-1DC again, the costliest SHA-1 there is: most of the
/// git time of an `add env` over 300 services. Objects strata writes are still hashed once.
pub fn configure() {
    git2::opts::strict_hash_verification(false);
}

pub use commit::{head_state, move_branch, reset_branch, stage_paths, write_commit, HeadState};
pub use dir::{enclosing_repo, git_dir, git_file};
pub use init::init_and_commit;
pub use line_endings::LineEndings;
#[cfg(test)]
pub use status::untracked;
pub use status::{
    changed_among, changed_paths, dirty_paths, head_file, is_repo, is_shallow, preflight,
    submodules,
};
