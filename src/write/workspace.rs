//! A workspace on disk: the two repos, their answers files and their locks.
//!
//! `-C DIR` may name either repo; its `strata.lock` says which one it is, and `strata.toml`
//! says where the other one is. The two answers files must agree. This module only reads.

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};

use crate::model::answers::{self, Answers};
use crate::model::lock::{self, Lock};
use crate::model::repo::Repo;
use crate::util::error::{Outcome, Stopped};
use crate::util::problem::{Problem, Problems};
use crate::util::term::status;
use crate::write::confine::Confined;
use crate::write::error::WriteError;

/// Both repos of a workspace, as read from disk.
#[derive(Debug)]
pub struct Workspace {
    pub roots: BTreeMap<Repo, PathBuf>,
    pub answers: Answers,
    pub locks: BTreeMap<Repo, Lock>,
    /// How each repo's git converts line endings: files are compared as git stores them.
    pub line_endings: BTreeMap<Repo, crate::git::LineEndings>,
    /// Symlink-free reading inside each repo.
    confined: std::cell::RefCell<BTreeMap<Repo, Confined>>,
    /// Held for as long as the workspace is open: no other strata reads or writes it.
    _lock: crate::write::wslock::WorkspaceLock,
}

fn read_text(path: &Path) -> Result<Option<String>> {
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(Problems::from(
            Problem::new(
                format!("`{}`", path.display()),
                "is not a regular file (a symbolic link?)",
            )
            .hint("strata never reads through a symbolic link; replace it with the real file"),
        )
        .into());
    }
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading `{}`", path.display())),
    }
}

/// Reads a repo's lock and answers; `known` is an already parsed answers file and its text,
/// Reads a repo's lock and answers, parsing the two on two threads. With `known` (an already
/// parsed answers file and its text), a byte-for-byte identical copy is not parsed again and
/// `None` is returned for it.
fn read_repo(dir: &Path, known: Option<&str>) -> Result<(Option<Answers>, Lock, String)> {
    let lock_path = dir.join(lock::FILE_NAME);
    let answers_path = dir.join(answers::FILE_NAME);
    let Some(lock_text) = read_text(&lock_path)? else {
        return Err(Problems::from(
            Problem::new(format!("`{}`", dir.display()), "is not a repo made by strata (it has no `strata.lock`)")
                .hint("run the command inside `<project>-foundation` or `<project>-gitops`, or pass `-C DIR`"),
        )
        .into());
    };
    let Some(answers_text) = read_text(&answers_path)? else {
        return Err(Problems::from(
            Problem::new(format!("`{}`", answers_path.display()), "is missing")
                .hint("restore it from git: `git checkout -- strata.toml`"),
        )
        .into());
    };
    let lock_name = lock_path.display().to_string();
    let (lock, answers) = std::thread::scope(|threads| {
        let lock = threads.spawn(|| Lock::parse(&lock_text, &lock_name));
        let answers = match known {
            Some(text) if text == answers_text => Ok(None),
            _ => Answers::parse(&answers_text, &answers_path.display().to_string()).map(Some),
        };
        (
            lock.join().expect("parsing the lock does not panic"),
            answers,
        )
    });
    let lock = lock.map_err(Problems::from)?;
    Ok((answers?, lock, answers_text))
}

impl Workspace {
    /// Opens the workspace that `dir` (either repo) belongs to.
    pub fn open(dir: &Path) -> Result<Workspace> {
        let dir = dir.canonicalize().map_err(|_| {
            Problems::from(
                Problem::new(format!("`{}`", dir.display()), "does not exist")
                    .hint("pass `-C` the path of a repo made by `strata new`"),
            )
        })?;
        if !dir.is_dir() {
            return Err(Problems::from(
                Problem::new(format!("`{}`", dir.display()), "is a file, not a directory")
                    .hint("pass `-C` the path of a repo made by `strata new`"),
            )
            .into());
        }
        let workspace_lock = crate::write::wslock::lock(&dir)?;
        let (answers, lock, text) = read_repo(&dir, None)?;
        let answers = answers.expect("parsed without a known copy");
        let this = lock.repo;
        let other = if this == Repo::Foundation {
            Repo::Gitops
        } else {
            Repo::Foundation
        };
        let other_rel = match other {
            Repo::Foundation => &answers.repos.foundation_dir,
            Repo::Gitops => &answers.repos.gitops_dir,
        };
        let other_dir = dir.join(other_rel);
        let other_dir = other_dir.canonicalize().map_err(|_| {
            Problems::from(
                Problem::new(format!("the {other} repo"), format!("is not at `{}`", other_dir.display()))
                    .hint(format!("clone it there, or set `repos.{other}_dir` in `strata.toml` of both repos to its path relative to each repo")),
            )
        })?;
        if other_dir == dir {
            return Err(Problems::from(
                Problem::new(
                    format!("`repos.{other}_dir` in `{}`", dir.join(answers::FILE_NAME).display()),
                    format!("points at this {this} repo itself, not at the {other} repo"),
                )
                .hint(format!("set `repos.{other}_dir` in `strata.toml` of both repos to the {other} repo's path")),
            )
            .into());
        }
        let (other_answers, other_lock, _) = read_repo(&other_dir, Some(&text))?;
        if other_lock.repo != other {
            return Err(Problems::from(
                Problem::new(
                    format!("`{}`", other_dir.display()),
                    format!("is a {} repo, expected the {other} repo", other_lock.repo),
                )
                .hint(format!("fix `repos.{other}_dir` in `strata.toml`")),
            )
            .into());
        }
        if other_answers.is_some_and(|other| other != answers) {
            return Err(Problems::from(
                Problem::new("the answers files", format!("`{}` and `{}` differ", dir.join(answers::FILE_NAME).display(), other_dir.join(answers::FILE_NAME).display()))
                    .hint("make both copies identical (copy the one you trust over the other), then run the command again"),
            )
            .into());
        }
        let roots = BTreeMap::from([(this, dir), (other, other_dir)]);
        let line_endings = roots
            .iter()
            .map(|(repo, root)| (*repo, crate::git::LineEndings::open(root)))
            .collect();
        let confined = roots
            .iter()
            .map(|(repo, root)| (*repo, Confined::new(root, Some(*repo))))
            .collect();
        Ok(Workspace {
            roots,
            answers,
            locks: BTreeMap::from([(this, lock), (other, other_lock)]),
            line_endings,
            confined: std::cell::RefCell::new(confined),
            _lock: workspace_lock,
        })
    }

    /// Reads a file of one repo, if it exists, as git stores it (line endings converted where
    /// the repo's git converts them). Never through a symbolic link: such a path reads as
    /// missing here, and [`Workspace::confine`] refuses it beforehand.
    pub fn read(&self, repo: Repo, path: &str) -> Option<Vec<u8>> {
        let bytes = self
            .confined
            .borrow_mut()
            .get_mut(&repo)?
            .read(path)
            .ok()??;
        Some(self.line_endings[&repo].to_git(path, bytes))
    }

    /// Refuses (exit code 2) every path among `paths` that goes through a symbolic link or a
    /// special file, naming each.
    pub fn confine<'a>(
        &self,
        paths: impl IntoIterator<Item = (Repo, &'a str)>,
    ) -> Result<(), crate::util::problem::Problems> {
        crate::write::confine::check_all(&mut self.confined.borrow_mut(), paths)
    }

    /// Every file under a directory of one repo, without following links (refused, exit 2).
    pub fn files_under(&self, repo: Repo, dir: &str) -> Result<Vec<String>> {
        let mut confined = self.confined.borrow_mut();
        let checker = confined.get_mut(&repo).context("both repos are open")?;
        let (files, _) = checker
            .walk(dir)
            .map_err(|refused| Problems::from(refused.problem()))?;
        Ok(files)
    }

    /// Refuses (exit 2) an `add` or `remove` on a workspace another strata wrote: rendered
    /// with this strata's templates, the change would carry part of an upgrade (or a
    /// downgrade) along.
    pub fn same_strata(&self) -> Result<(), Problems> {
        let running = env!("CARGO_PKG_VERSION");
        let written = &self.answers.strata_version;
        let old_lock = Repo::BOTH
            .iter()
            .any(|repo| self.locks[repo].format < lock::FORMAT);
        if version_newer(written, running) {
            return Err(newer_strata(written));
        }
        if version_newer(running, written) || old_lock {
            return Err(Problem::new(
                "the workspace",
                format!("was last written by strata {written}, older than this strata {running}"),
            )
            .hint("run `strata upgrade` first (see its changes with `strata upgrade --dry-run`), then this command")
            .into());
        }
        Ok(())
    }

    /// Says which lock an upgrade moves to the current format.
    pub fn note_lock_upgrades(&self) {
        for (repo, lock) in &self.locks {
            if lock.format < lock::FORMAT {
                status!(
                    "note: {repo}: `strata.lock` moves from format {} to {}",
                    lock.format,
                    lock::FORMAT
                );
            }
        }
    }

    /// Refuses (exit 2) an upgrade of a workspace a newer strata wrote.
    pub fn not_newer(&self) -> Result<(), Problems> {
        let written = &self.answers.strata_version;
        if version_newer(written, env!("CARGO_PKG_VERSION")) {
            return Err(newer_strata(written));
        }
        Ok(())
    }

    /// Refuses a change that must write or delete a file where a directory (or a special file)
    /// is: nothing is changed.
    fn refuse_non_files(&self, repo: Repo, paths: &[String]) -> Result<()> {
        for path in paths {
            if fs::symlink_metadata(self.roots[&repo].join(path)).is_ok_and(|m| !m.is_file()) {
                let cause = WriteError::NotAFile {
                    repo,
                    path: path.clone(),
                };
                return Err(Stopped::error(Outcome::NothingChanged, cause));
            }
        }
        Ok(())
    }

    /// Refuses (exit 1) a plan that changes files with uncommitted changes, unless they hold
    /// exactly what strata last wrote (then they risk nobody's work). `strata.lock` is strata's
    /// own bookkeeping; `strata.toml` is strata's when it reads exactly as strata writes the
    /// answers it holds. With `commit`, `--allow-dirty` does not lift the refusal: a commit of
    /// such a file would carry the user's edits in strata's commit.
    pub fn refuse_uncommitted(&self, plan: &crate::plan::Plan, commit: bool) -> Result<()> {
        let mut dirty = Vec::new();
        let current_answers = std::cell::OnceCell::new();
        for repo in Repo::BOTH {
            let mut paths: Vec<String> = plan
                .changes
                .iter()
                .filter(|c| c.repo == repo && c.touches_disk())
                .map(|c| c.path.clone())
                .collect();
            paths.push(answers::FILE_NAME.to_string());
            self.refuse_non_files(repo, &paths)?;
            for (path, staged) in crate::git::dirty_paths(&self.roots[&repo], &paths)? {
                let disk = self.read(repo, &path);
                // A staged change is the user's, whatever the file on disk holds.
                let strata_wrote = if staged {
                    false
                } else if path == answers::FILE_NAME {
                    disk.as_deref()
                        == Some(
                            current_answers
                                .get_or_init(|| self.answers.to_toml())
                                .as_bytes(),
                        )
                } else {
                    disk.is_some_and(|bytes| {
                        self.locks[&repo].files.get(&path) == Some(&lock::hash(&bytes))
                    })
                };
                if !strata_wrote {
                    dirty.push(format!("{repo}: `{path}`"));
                }
            }
        }
        if dirty.is_empty() {
            return Ok(());
        }
        Err(crate::util::error::Refusal {
            message: format!(
                "{} file(s) that strata must change have uncommitted changes; nothing was written",
                dirty.len()
            ),
            details: dirty,
            hint: if commit {
                "commit or stash them first; `--commit` would commit your edits of them along with strata's (without `--commit`, `--allow-dirty` writes and leaves them uncommitted)"
            } else {
                "commit or stash them first, or pass `--allow-dirty`"
            }
            .to_string(),
        }
        .into())
    }
}

impl Workspace {
    /// Refuses (exit 1) to delete a file its owner edited whose edits git does not hold (not
    /// committed, or a workspace without git): `--allow-dirty` lets strata write beside
    /// uncommitted changes, never destroy them. `--force` deletes them.
    pub fn refuse_deleting_uncommitted(&self, deletions: &[&crate::plan::Change]) -> Result<()> {
        let mut lost = Vec::new();
        for repo in Repo::BOTH {
            let paths: Vec<String> = deletions
                .iter()
                .filter(|c| c.repo == repo)
                .map(|c| c.path.clone())
                .collect();
            if paths.is_empty() {
                continue;
            }
            let root = &self.roots[&repo];
            let uncommitted: Vec<String> = if crate::git::is_repo(root) {
                crate::git::dirty_paths(root, &paths)?
                    .into_iter()
                    .map(|(path, _)| path)
                    .collect()
            } else {
                paths
            };
            lost.extend(uncommitted.into_iter().map(|p| format!("{repo}: `{p}`")));
        }
        if lost.is_empty() {
            return Ok(());
        }
        Err(crate::util::error::Refusal {
            message: format!(
                "{} file(s) you edited would be deleted, and git does not hold your edits of them; nothing was written",
                lost.len()
            ),
            details: lost,
            hint: "commit them first (git's history then keeps them), or pass `--force` to delete them with your edits".to_string(),
        }
        .into())
    }

    /// Refuses (exit 1) a `--commit` while a change strata made earlier is not committed: a
    /// file that holds what strata wrote (or a removal strata made) and differs from HEAD, or a
    /// `strata.lock` that differs from HEAD's. Committed along, it would carry this command's
    /// message; left out, the committed `strata.toml` would describe files that are not
    /// committed. The refusal names the earlier commands (`strata.toml`'s history since HEAD)
    /// and their files.
    pub fn refuse_earlier_uncommitted(&self) -> Result<()> {
        let mut details = Vec::new();
        let mut commands: Vec<String> = Vec::new();
        let mut hints = Vec::new();
        for repo in Repo::BOTH {
            let root = &self.roots[&repo];
            let head_lock = crate::git::head_file(root, lock::FILE_NAME)?.and_then(|bytes| {
                Lock::parse(&String::from_utf8_lossy(&bytes), lock::FILE_NAME).ok()
            });
            let lock = &self.locks[&repo];
            // A repo without a commit gets strata's files in its first one (apply.rs).
            if crate::git::head_state(root)?.is_some_and(|head| head.commit.is_none()) {
                continue;
            }
            let mut earlier = Vec::new();
            // Only a path strata wrote (the lock's) or removed (HEAD's lock's) can be an
            // earlier change: git's status of those alone, not of the whole work tree.
            let candidates: Vec<&str> = lock
                .files
                .keys()
                .chain(head_lock.iter().flat_map(|l| {
                    l.files
                        .keys()
                        .filter(|path| !lock.files.contains_key(*path))
                }))
                .map(String::as_str)
                .filter(|path| *path != answers::FILE_NAME && *path != lock::FILE_NAME)
                .collect();
            for (path, exists) in crate::git::changed_among(root, &candidates)? {
                let strata_wrote = if exists {
                    self.read(repo, &path)
                        .is_some_and(|bytes| lock.files.get(&path) == Some(&lock::hash(&bytes)))
                } else {
                    head_lock
                        .as_ref()
                        .is_some_and(|l| l.files.contains_key(&path))
                        && !lock.files.contains_key(&path)
                };
                if strata_wrote {
                    earlier.push(path);
                }
            }
            if earlier.is_empty() && head_lock.as_ref().map(|l| &l.files) != Some(&lock.files) {
                earlier.push(lock::FILE_NAME.to_string());
            }
            if earlier.is_empty() {
                continue;
            }
            if commands.is_empty() {
                let head_history = crate::git::head_file(root, answers::FILE_NAME)?
                    .and_then(|bytes| {
                        Answers::parse(&String::from_utf8_lossy(&bytes), answers::FILE_NAME).ok()
                    })
                    .map_or(0, |a| a.history.len());
                commands = self
                    .answers
                    .history
                    .iter()
                    .skip(head_history)
                    .cloned()
                    .collect();
            }
            hints.push(format!(
                "`git -C {} add -A && git -C {} commit`",
                root.display(),
                root.display()
            ));
            let shown = earlier.len().min(10);
            details.extend(earlier[..shown].iter().map(|p| format!("{repo}: `{p}`")));
            if earlier.len() > shown {
                details.push(format!(
                    "{repo}: and {} more file(s)",
                    earlier.len() - shown
                ));
            }
        }
        if details.is_empty() {
            return Ok(());
        }
        let named = if commands.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                commands
                    .iter()
                    .map(|c| format!("`strata {c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Err(crate::util::error::Refusal {
            message: format!(
                "strata's earlier change{named} is not committed, and `--commit` commits only this command's change; nothing was written"
            ),
            details,
            hint: format!(
                "commit the earlier change first (for example {}, after checking `git status`), or run this command without `--commit`",
                hints.join(" and ")
            ),
        }
        .into())
    }
}

fn newer_strata(written: &str) -> Problems {
    Problem::new(
        "the workspace",
        format!(
            "was last written by strata {written}, newer than this strata {}",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .hint(format!(
        "upgrade strata to {written} or later, then run the command again"
    ))
    .into()
}

/// Whether strata version `a` is newer than `b`, by semantic versioning: a pre-release comes
/// before its release (`0.3.0-rc1` < `0.3.0`). A version that does not parse is newer than
/// nothing (`strata.toml` validation refuses one).
pub fn version_newer(a: &str, b: &str) -> bool {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a > b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_semver() {
        assert!(version_newer("0.3.0", "0.3.0-rc1"));
        assert!(!version_newer("0.3.0-rc1", "0.3.0"));
        assert!(version_newer("0.3.0-rc2", "0.3.0-rc1"));
        assert!(version_newer("0.10.0", "0.9.0"));
        assert!(!version_newer("0.2.0", "0.2.0"));
        assert!(!version_newer("not a version", "0.2.0"));
    }
}
