//! The workspace lock: one strata at a time on the two repos of a workspace.
//!
//! Every command that opens a workspace (`add`, `remove`, `list`) takes an exclusive advisory
//! lock (`flock`) on both repo directories, the foundation's first, before it reads anything.
//! A second run waits, saying `waiting for another strata on this workspace…` once, and goes on
//! when the first is done: it then reads what the first one left, never a half-written state.
//! The kernel drops the locks when a process ends, however it ends, so a crash leaves no stale
//! lock. With both locks held, an unfinished run's journal is recovered (see `journal.rs`).
//!
//! To find both repos before locking, the lock's `repo` line and the answers' `[repos]` table
//! are read unlocked: strata replaces those files atomically and never changes either value.

use fs_err::File;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::model::repo::Repo;
use crate::util::term::status;

/// The message a run prints while it waits for another.
pub const WAITING: &str = "waiting for another strata on this workspace…";

/// Held locks; dropping this releases them.
#[derive(Debug)]
pub struct WorkspaceLock {
    _files: Vec<File>,
}

/// Which repo `dir` is, and where the other one is, from its `strata.lock` and `strata.toml`.
/// `None` when they cannot be read (the caller's normal checks then report why).
fn locate(dir: &Path) -> Option<BTreeMap<Repo, PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Partial {
        repos: PartialRepos,
    }
    #[derive(serde::Deserialize)]
    struct PartialRepos {
        foundation_dir: String,
        gitops_dir: String,
    }
    let lock = fs_err::read_to_string(dir.join(crate::model::lock::FILE_NAME)).ok()?;
    let this = lock.lines().find_map(|line| match line.trim_end() {
        "repo foundation" => Some(Repo::Foundation),
        "repo gitops" => Some(Repo::Gitops),
        _ => None,
    })?;
    let answers = fs_err::read_to_string(dir.join(crate::model::answers::FILE_NAME)).ok()?;
    let partial: Partial = match repos_table(&answers) {
        Some(table) => toml::from_str(table)
            .or_else(|_| toml::from_str(&answers))
            .ok()?,
        None => toml::from_str(&answers).ok()?,
    };
    let (other, other_rel) = match this {
        Repo::Foundation => (Repo::Gitops, partial.repos.gitops_dir),
        Repo::Gitops => (Repo::Foundation, partial.repos.foundation_dir),
    };
    let other_dir = dir.join(other_rel).canonicalize().ok()?;
    // Both repos in one directory is no workspace (`Workspace::open` says so); locking it twice
    // would wait for ourselves.
    if other_dir == dir {
        return None;
    }
    Some(BTreeMap::from([
        (this, dir.to_path_buf()),
        (other, other_dir),
    ]))
}

/// The `[repos]` table of an answers file, from its header to the next table: parsed alone, it
/// spares parsing the whole file (hundreds of services) twice. Without multi-line strings
/// every line that starts with `[` is a table header or an array's line (which a valid file
/// cannot hold before `[repos]` repeats), so the table read alone is the table; any other
/// layout (`None`) is parsed whole.
fn repos_table(answers: &str) -> Option<&str> {
    if answers.contains("\"\"\"") || answers.contains("'''") {
        return None;
    }
    let start = if answers.starts_with("[repos]\n") {
        0
    } else {
        answers.find("\n[repos]\n")? + 1
    };
    let table = &answers[start..];
    let end = table[1..].find("\n[").map_or(table.len(), |at| at + 2);
    Some(&table[..end])
}

fn lock_dir(dir: &Path, said: &mut bool) -> Result<File> {
    let file =
        File::open(dir).with_context(|| format!("opening `{}` to lock it", dir.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            if !*said {
                status!("{WAITING}");
                *said = true;
            }
            file.lock()
                .with_context(|| format!("locking `{}`", dir.display()))?;
        }
        Err(std::fs::TryLockError::Error(err)) => {
            return Err(err).with_context(|| format!("locking `{}`", dir.display()))
        }
    }
    Ok(file)
}

/// Locks the workspace that `dir` (a canonical path to either repo) belongs to, waiting for
/// another strata to finish, then recovers an unfinished run, saying what it did on stderr.
pub fn lock(dir: &Path) -> Result<WorkspaceLock> {
    let mut said = false;
    let Some(roots) = locate(dir) else {
        return Ok(WorkspaceLock {
            _files: vec![lock_dir(dir, &mut said)?],
        });
    };
    let mut files = Vec::new();
    for root in roots.values() {
        files.push(lock_dir(root, &mut said)?);
    }
    if let Some(recovery) = crate::write::journal::recover(&roots)? {
        status!("strata: {recovery}");
    }
    Ok(WorkspaceLock { _files: files })
}
