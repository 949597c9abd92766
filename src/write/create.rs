//! Creating a workspace (`strata new`): both repos are written into a staging directory beside
//! the target (one thread per repo), committed, and moved into place only when everything
//! succeeded. On any failure, or an interrupt, the staging directory goes and nothing was
//! written. Nothing here is journaled: no one else sees the staging directory.

use crate::util::error::{Outcome, Stopped};
use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::git;
use crate::model::repo::Repo;
use crate::plan::Plan;
use crate::util::fault::{fail_after, maybe_fail};
use crate::util::fs::remove_empty;
use crate::write::interrupt;

/// Writes the files of a repo being created in a staging directory nobody else sees (`strata
/// new`): on failure the whole staging directory is removed, so nothing needs undoing here.
#[derive(Default)]
pub struct Staged {
    writes: usize,
    fail_after: Option<usize>,
    /// Directories known to exist, so that each is checked once.
    known_dirs: std::collections::HashSet<PathBuf>,
}

impl Staged {
    pub fn new() -> Self {
        Self {
            writes: 0,
            fail_after: fail_after(),
            known_dirs: std::collections::HashSet::new(),
        }
    }

    fn count_write(&mut self) -> Result<()> {
        if self.fail_after == Some(self.writes) {
            bail!("injected fault after {} writes (STRATA_FAULT)", self.writes);
        }
        self.writes += 1;
        Ok(())
    }

    /// Writes a file that does not exist yet.
    pub fn write_new(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.count_write()?;
        let dir = path.parent().context("a file path has a parent")?;
        if !self.known_dirs.contains(dir) {
            fs::create_dir_all(dir)
                .with_context(|| format!("creating directory `{}`", dir.display()))?;
            self.known_dirs.insert(dir.to_path_buf());
        }
        fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))?;
        Ok(())
    }
}

/// A fresh staging directory beside `out`, on the same filesystem, so that moving it into
/// place is a rename.
fn staging_dir(out: &Path, project: &str, created: &[PathBuf]) -> Result<PathBuf> {
    let dir = tempfile::Builder::new()
        .prefix(&format!(".strata-new-{project}-"))
        .tempdir_in(out)
        .with_context(|| format!("creating a staging directory in `{}`", out.display()))?
        // Removed by `create` on every path, and by the interrupt handler on a signal.
        .keep();
    interrupt::set_active(Some(interrupt::Active::Staging(
        dir.clone(),
        created.to_vec(),
    )));
    Ok(dir)
}

/// Moves staged repos into place; on failure, moves back what was already moved.
fn move_all(moves: &[(PathBuf, PathBuf)]) -> Result<()> {
    let mut done: Vec<&(PathBuf, PathBuf)> = Vec::new();
    for pair in moves {
        let (from, to) = pair;
        let result = maybe_fail("before-move").and_then(|()| {
            // An existing empty directory is replaced; `rename` onto it is atomic.
            fs::rename(from, to)
                .with_context(|| format!("moving the new repo into `{}`", to.display()))
        });
        if let Err(err) = result {
            for (from, to) in done.into_iter().rev() {
                let _ = fs::rename(to, from);
            }
            return Err(err);
        }
        done.push(pair);
    }
    Ok(())
}

/// Creates the repos of a new workspace from a plan of creates (`strata new`): each repo is
/// written into a staging directory beside its target (one thread per repo), committed when
/// `message` is given (with `refs/strata/base` at the first commit: strata's render of every
/// file, the base of later merges), and moved into place only when both are complete. On any
/// failure, or an interrupt, the staging directory goes and nothing was written.
pub fn create(
    out: &Path,
    project: &str,
    targets: &BTreeMap<Repo, PathBuf>,
    plan: &Plan,
    branch: &str,
    message: Option<&(dyn Fn(Repo) -> String + Sync)>,
) -> Result<()> {
    // The directories of `--out` that do not exist yet, the deepest first: a run that writes
    // nothing leaves none of them behind.
    let created: Vec<PathBuf> = out
        .ancestors()
        .take_while(|dir| !dir.as_os_str().is_empty() && fs::symlink_metadata(dir).is_err())
        .map(Path::to_path_buf)
        .collect();
    fs::create_dir_all(out)
        .with_context(|| format!("creating `{}`", out.display()))
        .map_err(|err| Stopped::error(Outcome::NothingWritten, err))?;
    let staging = match staging_dir(out, project, &created) {
        Ok(staging) => staging,
        Err(err) => {
            remove_empty(&created);
            return Err(Stopped::error(Outcome::NothingWritten, err));
        }
    };
    let write_repo = |repo: Repo, root: &Path| -> Result<()> {
        let mut writer = Staged::new();
        let mut committed: Vec<(&str, &[u8])> = Vec::new();
        for change in plan.changes.iter().filter(|c| c.repo == repo) {
            let bytes = change
                .new
                .as_deref()
                .context("a new workspace holds only files to create")?;
            interrupt::step(|| writer.write_new(&root.join(&change.path), bytes))?;
            committed.push((&change.path, bytes));
        }
        if let Some(message) = message {
            maybe_fail(&format!("commit:{repo}"))?;
            interrupt::step(|| -> Result<()> {
                git::init_and_commit(root, branch, &committed, &message(repo))?;
                git::base::record_head(root)
            })?;
        }
        Ok(())
    };
    let staged: BTreeMap<Repo, PathBuf> = targets
        .iter()
        .map(|(repo, target)| {
            let name = target.file_name().map(PathBuf::from).unwrap_or_default();
            (*repo, staging.join(name))
        })
        .collect();
    let results: Vec<Result<()>> = std::thread::scope(|threads| {
        let handles: Vec<_> = staged
            .iter()
            .map(|(repo, root)| threads.spawn(move || write_repo(*repo, root)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writing a repo does not panic"))
            .collect()
    });
    let moves: Vec<_> = staged
        .iter()
        .map(|(repo, from)| (from.clone(), targets[repo].clone()))
        .collect();
    // Moving into place (or, on a failure, undoing the moves) and removing the staging
    // directory run with the interrupt handler held off; after them nothing is in flight.
    let result = interrupt::exclusive(None, || {
        let result = results
            .into_iter()
            .collect::<Result<()>>()
            .and_then(|()| move_all(&moves));
        let _ = fs::remove_dir_all(&staging);
        if result.is_err() {
            remove_empty(&created);
        }
        result
    });
    result.map_err(|err| Stopped::error(Outcome::NothingWritten, err))
}
