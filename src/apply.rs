//! The one writer: the only code that creates, replaces or removes files.
//!
//! Every file is written atomically (a temporary file in the same directory, then a rename),
//! and every step is journalled so that a failure anywhere, in either repo, rolls both repos
//! back to exactly what they were. `strata new` renders into a staging directory beside the
//! target and moves it into place only when everything, commits included, succeeded.
//!
//! For tests, the environment variable `STRATA_FAULT` injects failures: `after-writes:N`
//! (fail after N file operations), `between-repos` (fail after the first repo is written),
//! `before-move` (fail before `new` moves its staging directory into place) and
//! `commit:<repo>` (fail the commit of that repo).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::plan::{Action, Plan};
use crate::repo::Repo;

/// The fault injected through `STRATA_FAULT`, if any.
pub fn fault() -> Option<String> {
    std::env::var("STRATA_FAULT").ok().filter(|v| !v.is_empty())
}

/// Fails with a clear message when the named fault is injected.
pub fn maybe_fail(point: &str) -> Result<()> {
    if fault().as_deref() == Some(point) {
        bail!("injected fault `{point}` (STRATA_FAULT)");
    }
    Ok(())
}

enum Step {
    /// A file was written; `previous` is what was there before (None: nothing).
    Wrote {
        path: PathBuf,
        previous: Option<Vec<u8>>,
    },
    /// A file was removed; its bytes are kept to restore it.
    Removed { path: PathBuf, previous: Vec<u8> },
    /// A directory was created.
    CreatedDir(PathBuf),
    /// An empty directory was removed.
    RemovedDir(PathBuf),
}

/// What has been done so far, so that it can be undone.
#[derive(Default)]
pub struct Journal {
    steps: Vec<Step>,
    writes: usize,
    fail_after: Option<usize>,
    /// Directories known to exist, so that each is checked once.
    known_dirs: std::collections::HashSet<PathBuf>,
}

impl Journal {
    pub fn new() -> Self {
        let fail_after =
            fault().and_then(|f| f.strip_prefix("after-writes:").and_then(|n| n.parse().ok()));
        Self {
            steps: Vec::new(),
            writes: 0,
            fail_after,
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

    fn ensure_dir(&mut self, dir: &Path) -> Result<()> {
        if self.known_dirs.contains(dir) {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut current = dir;
        while !current.exists() {
            missing.push(current.to_path_buf());
            match current.parent() {
                Some(parent) => current = parent,
                None => break,
            }
        }
        for dir in missing.into_iter().rev() {
            fs::create_dir(&dir)
                .with_context(|| format!("creating directory `{}`", dir.display()))?;
            self.steps.push(Step::CreatedDir(dir));
        }
        Ok(())
    }

    /// Writes a file atomically, remembering what it replaces.
    pub fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.count_write()?;
        let previous = match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading `{}`", path.display())),
        };
        let dir = path.parent().context("a file path has a parent")?;
        self.ensure_dir(dir)?;
        write_atomic(path, bytes)?;
        self.steps.push(Step::Wrote {
            path: path.to_path_buf(),
            previous,
        });
        Ok(())
    }

    /// Writes a file that does not exist yet, inside a directory nobody else sees (the staging
    /// directory of `strata new`): no temporary file and rename are needed there.
    pub fn write_new(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.count_write()?;
        let dir = path.parent().context("a file path has a parent")?;
        self.ensure_dir(dir)?;
        fs::write(path, bytes).with_context(|| format!("writing `{}`", path.display()))?;
        self.steps.push(Step::Wrote {
            path: path.to_path_buf(),
            previous: None,
        });
        Ok(())
    }

    /// Removes a file and then every directory it leaves empty, up to `root`.
    pub fn remove(&mut self, root: &Path, path: &Path) -> Result<()> {
        self.count_write()?;
        let previous = fs::read(path).with_context(|| format!("reading `{}`", path.display()))?;
        fs::remove_file(path).with_context(|| format!("removing `{}`", path.display()))?;
        self.steps.push(Step::Removed {
            path: path.to_path_buf(),
            previous,
        });
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == root || !d.starts_with(root) {
                break;
            }
            if fs::read_dir(d)
                .map(|mut entries| entries.next().is_none())
                .unwrap_or(false)
            {
                fs::remove_dir(d).with_context(|| format!("removing `{}`", d.display()))?;
                self.steps.push(Step::RemovedDir(d.to_path_buf()));
                dir = d.parent();
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Undoes every step, newest first. Errors are collected, not stopped at.
    pub fn rollback(self) -> Vec<String> {
        let mut errors = Vec::new();
        for step in self.steps.into_iter().rev() {
            let result = match &step {
                Step::Wrote {
                    path,
                    previous: Some(bytes),
                } => write_atomic(path, bytes),
                Step::Wrote {
                    path,
                    previous: None,
                } => fs::remove_file(path).map_err(Into::into),
                Step::Removed { path, previous } => write_atomic(path, previous),
                Step::CreatedDir(dir) => fs::remove_dir(dir).map_err(Into::into),
                Step::RemovedDir(dir) => fs::create_dir(dir).map_err(Into::into),
            };
            if let Err(err) = result {
                errors.push(format!("{err:#}"));
            }
        }
        errors
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    let name = path
        .file_name()
        .context("a file path has a name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.strata-{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let mut file =
            fs::File::create(&tmp).with_context(|| format!("creating `{}`", tmp.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("writing `{}`", tmp.display()))?;
        fs::rename(&tmp, path).with_context(|| format!("replacing `{}`", path.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Applies a plan plus extra files (answers, locks) to existing repos, all or nothing.
///
/// On failure every write already done, in both repos, is undone before the error returns.
pub fn apply(
    roots: &BTreeMap<Repo, PathBuf>,
    plan: &Plan,
    extra: &[(Repo, String, Vec<u8>)],
) -> Result<Journal> {
    let mut journal = Journal::new();
    let result = (|| -> Result<()> {
        for (index, repo) in Repo::BOTH.iter().enumerate() {
            let Some(root) = roots.get(repo) else {
                continue;
            };
            if index > 0 {
                maybe_fail("between-repos")?;
            }
            for change in plan.changes.iter().filter(|c| c.repo == *repo) {
                let path = root.join(&change.path);
                match (&change.action, &change.new) {
                    (Action::Create | Action::Update, Some(bytes)) => {
                        journal.write(&path, bytes)?
                    }
                    (Action::Delete, _) => journal.remove(root, &path)?,
                    (Action::Conflict(why), _) => {
                        bail!("refusing to write `{}`: {why}", change.path)
                    }
                    _ => {}
                }
            }
            for (_, name, bytes) in extra.iter().filter(|(r, _, _)| r == repo) {
                journal.write(&root.join(name), bytes)?;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(journal),
        Err(err) => {
            let errors = journal.rollback();
            if errors.is_empty() {
                Err(err.context("nothing was changed: every write was rolled back"))
            } else {
                Err(err.context(format!("rolling back also failed: {}", errors.join("; "))))
            }
        }
    }
}

/// A fresh staging directory beside `out`, on the same filesystem, so that moving it into
/// place is a rename.
pub fn staging_dir(out: &Path, project: &str) -> Result<PathBuf> {
    for attempt in 0..100u32 {
        let dir = out.join(format!(
            ".strata-new-{project}-{}-{attempt}",
            std::process::id()
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("creating staging directory in `{}`", out.display()))
            }
        }
    }
    bail!(
        "could not create a staging directory in `{}`",
        out.display()
    )
}

/// Moves staged repos into place; on failure, moves back what was already moved.
pub fn move_into_place(moves: &[(PathBuf, PathBuf)]) -> Result<()> {
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
