//! What a repo holds: whether strata may change it at all (`preflight`), which paths have
//! uncommitted changes, and a file of its HEAD commit. Reads only.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Repository, Status, StatusOptions};

use super::dir::git_file;
use super::line_endings::LineEndings;

/// Repos opened once per process, by root. libgit2 keeps a repo's index in memory once read,
/// and reading it hashes it whole (the index of a 300-service workspace is over a megabyte);
/// the checks of one command (submodules, uncommitted files, earlier changes) read it once.
static OPENED: std::sync::Mutex<Vec<(std::path::PathBuf, Repository)>> =
    std::sync::Mutex::new(Vec::new());

/// Runs `f` on the repo at `dir`, opened once per process, its index as the file holds it now
/// (read again only when the file changed, as libgit2 tells by its checksum); `None` when
/// `dir` is no git repo. `f` only reads: nothing it does to the index is written.
fn with_repo<T>(dir: &Path, f: impl FnOnce(&Repository) -> Result<T>) -> Result<Option<T>> {
    let mut opened = OPENED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let at = match opened.iter().position(|(root, _)| root == dir) {
        Some(at) => at,
        None => {
            let Ok(repo) = Repository::open(dir) else {
                return Ok(None);
            };
            opened.push((dir.to_path_buf(), repo));
            opened.len() - 1
        }
    };
    let repo = &opened[at].1;
    let fresh = repo.index().and_then(|mut index| {
        // A file deleted since it was read leaves libgit2's copy as it was: an index that no
        // longer exists is empty, as a repo opened now would find it.
        if index.path().is_some_and(|path| !path.exists()) {
            index.clear()
        } else {
            index.read(false)
        }
    });
    if fresh.is_err() {
        // An index that cannot be read now: the repo as opened anew sees it (and fails where
        // it would have).
        opened.remove(at);
        drop(opened);
        return match Repository::open(dir) {
            Ok(repo) => f(&repo).map(Some),
            Err(_) => Ok(None),
        };
    }
    f(repo).map(Some)
}

/// Paths among `paths` whose content differs from the HEAD commit: modified, deleted, or
/// present but not committed, each with whether the difference is staged in the index (a
/// staged change counts even when the work tree matches HEAD again). Only these paths are read
/// and hashed, so the cost does not grow with the size of the repo. A directory that is not a
/// git repo has no uncommitted changes.
pub fn dirty_paths(dir: &Path, paths: &[String]) -> Result<Vec<(String, bool)>> {
    Ok(with_repo(dir, |repo| dirty_in(repo, dir, paths))?.unwrap_or_default())
}

fn dirty_in(repo: &Repository, dir: &Path, paths: &[String]) -> Result<Vec<(String, bool)>> {
    let head = repo.head().ok().and_then(|head| head.peel_to_tree().ok());
    let mut head = TreeLookup::new(repo, head);
    let index = repo.index().ok();
    let endings = LineEndings::open(dir);
    let mut dirty = Vec::new();
    for path in paths {
        let committed = head.id(path);
        // A staged change counts even when the file on disk matches HEAD again: the commit
        // strata makes, and the index it writes, would drop it.
        let staged = index
            .as_ref()
            .map(|index| index.get_path(Path::new(path), 0).map(|entry| entry.id));
        if staged.is_some_and(|staged| staged != committed) {
            dirty.push((path.clone(), true));
            continue;
        }
        let on_disk = match fs_err::read(dir.join(path)) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading `{path}`")),
        };
        let changed = match (on_disk, committed) {
            (None, None) => false,
            (Some(bytes), Some(oid)) => {
                Oid::hash_object(ObjectType::Blob, &endings.to_git(path, bytes))? != oid
            }
            _ => true,
        };
        if changed {
            dirty.push((path.clone(), false));
        }
    }
    dirty.sort();
    dirty.dedup_by(|a, b| a.0 == b.0);
    Ok(dirty)
}

/// Many paths looked up in one tree, each directory's tree read once: `Tree::get_path` reads
/// every tree from the root down again, and libgit2 does not cache a tree of more than 4 KiB
/// (`services/` of 300 services), so each lookup inflated and hashed it anew.
pub(super) struct TreeLookup<'r> {
    repo: &'r Repository,
    /// Directory (`""` for the root) -> its tree, `None` when there is no such directory.
    trees: std::collections::HashMap<String, Option<git2::Tree<'r>>>,
}

impl<'r> TreeLookup<'r> {
    pub(super) fn new(repo: &'r Repository, root: Option<git2::Tree<'r>>) -> Self {
        let mut trees = std::collections::HashMap::new();
        trees.insert(String::new(), root);
        Self { repo, trees }
    }

    fn tree(&mut self, dir: &str) -> Option<&git2::Tree<'r>> {
        if !self.trees.contains_key(dir) {
            let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
            let id = self
                .tree(parent)
                .and_then(|tree| tree.get_name(name))
                .filter(|entry| entry.kind() == Some(ObjectType::Tree))
                .map(|entry| entry.id());
            let tree = id.and_then(|id| self.repo.find_tree(id).ok());
            self.trees.insert(dir.to_string(), tree);
        }
        self.trees.get(dir).and_then(Option::as_ref)
    }

    /// The id of the blob (or tree) at `path`, if the tree holds one.
    pub(super) fn id(&mut self, path: &str) -> Option<Oid> {
        self.entry(path).map(|(id, _)| id)
    }

    /// The id and mode of the entry at `path`, if the tree holds one.
    pub(super) fn entry(&mut self, path: &str) -> Option<(Oid, u32)> {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.tree(dir)?
            .get_name(name)
            .map(|entry| (entry.id(), entry.filemode_raw() as u32))
    }
}

/// Every path with uncommitted changes (not ignored), and whether it still exists on disk.
pub fn changed_paths(dir: &Path) -> Result<Vec<(String, bool)>> {
    let repo = Repository::open(dir)
        .with_context(|| format!("opening the git repo in `{}`", dir.display()))?;
    let mut options = StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = repo.statuses(Some(&mut options))?;
    Ok(statuses
        .iter()
        .filter(|entry| {
            entry.status() != Status::CURRENT && !entry.status().contains(Status::IGNORED)
        })
        .filter_map(|entry| {
            let path = entry.path().ok()?.to_string();
            let exists = dir.join(&path).exists();
            Some((path, exists))
        })
        .collect())
}

/// Among `paths`, those [`changed_paths`] lists (changed against HEAD or the index, or
/// untracked and not ignored), with whether each exists on disk, in the order `git status`
/// gives them. The same answer as filtering [`changed_paths`], without its walk of the whole
/// work tree (every directory read and every file stat-ed for untracked files, most of a
/// `--commit` on a big workspace): a path whose index entry matches HEAD and whose stat data
/// match the file on disk, not racily, is unchanged, as git's own status decides; any other
/// path is asked of libgit2 alone (`status_file`).
pub fn changed_among(dir: &Path, paths: &[&str]) -> Result<Vec<(String, bool)>> {
    with_repo(dir, |repo| changed_in(repo, dir, paths))?
        .with_context(|| format!("opening the git repo in `{}`", dir.display()))
}

fn changed_in(repo: &Repository, dir: &Path, paths: &[&str]) -> Result<Vec<(String, bool)>> {
    let head = repo.head().ok().and_then(|head| head.peel_to_tree().ok());
    let mut head = TreeLookup::new(repo, head);
    let index = repo.index()?;
    let index_time = index
        .path()
        .and_then(|path| fs_err::metadata(path).ok())
        .map(|meta| stamp(&meta));
    let mut changed = Vec::new();
    for path in paths {
        if let (Some(entry), Some(index_time)) = (index.get_path(Path::new(path), 0), index_time) {
            if head.entry(path) == Some((entry.id, entry.mode))
                && clean_stat(&entry, &dir.join(path), index_time)
            {
                continue;
            }
        }
        let status = match repo.status_file(Path::new(path)) {
            Ok(status) => status,
            Err(err) if err.code() == git2::ErrorCode::NotFound => continue,
            // A path git cannot answer on its own (a directory where the file was): the whole
            // status, filtered.
            Err(_) => {
                let wanted: std::collections::HashSet<&str> = paths.iter().copied().collect();
                return Ok(changed_paths(dir)?
                    .into_iter()
                    .filter(|(path, _)| wanted.contains(path.as_str()))
                    .collect());
            }
        };
        if status != Status::CURRENT && !status.contains(Status::IGNORED) {
            changed.push(((*path).to_string(), dir.join(path).exists()));
        }
    }
    let ignore_case = repo
        .config()
        .and_then(|c| c.get_bool("core.ignorecase"))
        .unwrap_or(false);
    if ignore_case {
        changed.sort_by_key(|(path, _)| path.to_ascii_lowercase());
    } else {
        changed.sort();
    }
    changed.dedup_by(|a, b| a.0 == b.0);
    Ok(changed)
}

/// A file's modification time as the index compares it.
#[cfg(unix)]
fn stamp(meta: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (meta.mtime(), meta.mtime_nsec())
}

#[cfg(not(unix))]
fn stamp(_meta: &std::fs::Metadata) -> (i64, i64) {
    (i64::MAX, 0)
}

/// Whether the file at `full` is what its index entry describes by its stat data alone: a
/// regular file with the entry's times, size, inode, owner and executable bit, and not racily
/// clean (changed in the same instant the index was written, which stat data cannot tell).
#[cfg(unix)]
fn clean_stat(entry: &git2::IndexEntry, full: &Path, index_time: (i64, i64)) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = fs_err::symlink_metadata(full) else {
        return false;
    };
    let executable = meta.mode() & 0o111 != 0;
    let mode_ok = match entry.mode {
        0o100_644 => !executable,
        0o100_755 => executable,
        _ => false,
    };
    let entry_mtime = (
        i64::from(entry.mtime.seconds()),
        i64::from(entry.mtime.nanoseconds()),
    );
    meta.file_type().is_file()
        && mode_ok
        && entry.mtime.seconds() == meta.mtime() as i32
        && entry.mtime.nanoseconds() == meta.mtime_nsec() as u32
        && entry.ctime.seconds() == meta.ctime() as i32
        && entry.ctime.nanoseconds() == meta.ctime_nsec() as u32
        && entry.file_size == meta.len() as u32
        && entry.ino == meta.ino() as u32
        && entry.dev == meta.dev() as u32
        && entry.uid == meta.uid()
        && entry.gid == meta.gid()
        && entry_mtime < index_time
}

#[cfg(not(unix))]
fn clean_stat(_entry: &git2::IndexEntry, _full: &Path, _index_time: (i64, i64)) -> bool {
    false
}

/// The bytes of a file in the HEAD commit, if there is one and it holds the file.
pub fn head_file(dir: &Path, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = Repository::open(dir)
        .with_context(|| format!("opening the git repo in `{}`", dir.display()))?;
    let Ok(head) = repo.head() else {
        return Ok(None);
    };
    let tree = head.peel_to_tree()?;
    let Ok(entry) = tree.get_path(Path::new(path)) else {
        return Ok(None);
    };
    let blob = entry.to_object(&repo)?.peel_to_blob()?;
    Ok(Some(blob.content().to_vec()))
}

/// Checks that strata may change the repo at `root` at all, and commit to it with `commit`:
/// the reason it may not, when it may not (exit code 2).
///
/// - A directory inside another git repo (a monorepo) is refused: strata's dirty check and its
///   commits work on a repo of its own, and guessing the outer repo's intent is not honest.
/// - A merge, rebase, cherry-pick, revert, bisect or `git am` in progress is refused: HEAD is
///   not the base the user will commit on, and the index holds their unfinished work.
/// - With `--commit`: a repo with no git at all, a bare repo, a detached HEAD, and a repo whose
///   index or branch is locked by another git process (or a stale lock) are refused.
pub fn preflight(root: &Path, commit: bool) -> Result<(), crate::util::problem::Problem> {
    use crate::util::problem::Problem;
    let subject = format!("`{}`", root.display());
    let repo = match Repository::open(root) {
        Ok(repo) => repo,
        Err(err) if err.code() == git2::ErrorCode::Owner => {
            return Err(not_safe(subject, root));
        }
        Err(_) => {
            if let Ok(outer) = Repository::discover(root) {
                let outer = outer
                    .workdir()
                    .unwrap_or_else(|| outer.path())
                    .display()
                    .to_string();
                return Err(Problem::new(subject, format!("lies inside the git repo `{outer}`, which strata does not commit to or check for uncommitted changes"))
                    .hint("make it a git repo of its own (`git init` in it) or move it out of the other repo"));
            }
            if commit {
                return Err(Problem::new(
                    subject,
                    "is not a git repo, so `--commit` has nothing to commit to",
                )
                .hint("run `git init` in both repos, or leave out `--commit`"));
            }
            return Ok(());
        }
    };
    let Some(workdir) = repo.workdir() else {
        return Err(Problem::new(subject, "is a bare git repo")
            .hint("run strata in a clone with a work tree"));
    };
    if workdir.canonicalize().ok() != root.canonicalize().ok() {
        return Err(Problem::new(subject, format!("lies inside the git repo `{}`, which strata does not commit to or check for uncommitted changes", workdir.display()))
            .hint("make it a git repo of its own (`git init` in it) or move it out of the other repo"));
    }
    let busy = match repo.state() {
        git2::RepositoryState::Clean => None,
        git2::RepositoryState::Merge => Some((
            "a merge",
            "finish it (`git commit`) or abort it (`git merge --abort`)",
        )),
        git2::RepositoryState::Revert | git2::RepositoryState::RevertSequence => {
            Some(("a revert", "finish it or abort it (`git revert --abort`)"))
        }
        git2::RepositoryState::CherryPick | git2::RepositoryState::CherryPickSequence => Some((
            "a cherry-pick",
            "finish it or abort it (`git cherry-pick --abort`)",
        )),
        git2::RepositoryState::Bisect => Some(("a bisect", "end it (`git bisect reset`)")),
        git2::RepositoryState::Rebase
        | git2::RepositoryState::RebaseInteractive
        | git2::RepositoryState::RebaseMerge => Some((
            "a rebase",
            "finish it (`git rebase --continue`) or abort it (`git rebase --abort`)",
        )),
        git2::RepositoryState::ApplyMailbox | git2::RepositoryState::ApplyMailboxOrRebase => {
            Some(("a `git am`", "finish it or abort it (`git am --abort`)"))
        }
    };
    if let Some((what, fix)) = busy {
        return Err(Problem::new(subject, format!("has {what} in progress"))
            .hint(format!("{fix}, then run strata again")));
    }
    let sparse = repo
        .config()
        .and_then(|c| c.get_bool("core.sparseCheckout"))
        .unwrap_or(false);
    if sparse {
        return Err(Problem::new(
            subject,
            "has a sparse checkout: the files outside it are absent from disk, and strata renders and checks the whole repo",
        )
        .hint("check out every file (`git sparse-checkout disable`), run strata, then narrow it again (`git sparse-checkout reapply`)"));
    }
    if !commit {
        return Ok(());
    }
    if repo.head_detached().unwrap_or(false) {
        return Err(Problem::new(
            subject,
            "has a detached HEAD, so `--commit` would make a commit no branch holds",
        )
        .hint("check out a branch first (`git switch main`), or leave out `--commit`"));
    }
    let mut locks = vec![repo.path().join("index.lock")];
    if let Ok(head) = repo.find_reference("HEAD") {
        if let Some(target) = head.symbolic_target().ok().flatten() {
            locks.push(git_file(repo.path(), &format!("{target}.lock")));
        }
    }
    for lock in locks {
        if lock.exists() {
            return Err(Problem::new(subject, format!("is locked by another git process: `{}` exists", lock.display()))
                .hint("wait for that git command to finish; if none is running, a crashed one left the lock: delete the file and run strata again"));
        }
    }
    if super::rules::signs(root) && !super::rules::git_available() {
        return Err(Problem::new(
            subject,
            "asks for signed commits (`commit.gpgsign`), which strata makes with the `git` command, and `git` does not run here",
        )
        .hint("install git, or leave out `--commit` and commit the change yourself (`git commit -S`)"));
    }
    Ok(())
}

/// The refusal of a repo git will not open because another user owns it (`safe.directory`):
/// it is a git repo, and strata may not skip its checks as if it were none.
fn not_safe(subject: String, root: &Path) -> crate::util::problem::Problem {
    let path = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    crate::util::problem::Problem::new(
        subject,
        "is a git repo owned by another user, which git refuses to work in (`safe.directory`), so strata cannot check or commit it",
    )
    .hint(format!(
        "if you trust it, run `git config --global --add safe.directory {}`, or run strata as the repo's owner",
        path.display()
    ))
}

/// The paths among `paths` that the index of the repo at `dir` does not hold (a test checks
/// that only files git tracks are embedded).
#[cfg(test)]
pub fn untracked<'a>(dir: &Path, paths: &'a [String]) -> Result<Vec<&'a String>> {
    let repo = Repository::open(dir)?;
    let index = repo.index()?;
    Ok(paths
        .iter()
        .filter(|path| index.get_path(Path::new(path), 0).is_none())
        .collect())
}

/// The paths of the submodules the index of the repo at `dir` holds (gitlinks).
pub fn submodules(dir: &Path) -> Vec<String> {
    let found = with_repo(dir, |repo| {
        Ok(repo
            .index()?
            .iter()
            .filter(|entry| entry.mode == 0o160_000)
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .collect())
    });
    found.ok().flatten().unwrap_or_default()
}

/// Whether `dir` is (the top of, or inside) a git repo.
pub fn is_repo(dir: &Path) -> bool {
    Repository::open(dir).is_ok()
}

/// Whether the repo at `dir` is a shallow clone (its history cut short).
pub fn is_shallow(dir: &Path) -> bool {
    Repository::open(dir).is_ok_and(|repo| repo.is_shallow())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `changed_among` answers as the whole status does, in every state a path can be in.
    #[test]
    fn the_status_of_some_paths_is_the_whole_status_filtered() {
        let dir = std::env::temp_dir().join(format!("strata-status-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        let repo = Repository::init(&dir).unwrap();
        let write = |path: &str, text: &str| {
            let full = dir.join(path);
            fs_err::create_dir_all(full.parent().unwrap()).unwrap();
            fs_err::write(full, text).unwrap();
        };
        let committed = [
            "clean", "edited", "staged", "deleted", "unstaged", "same", "a/dir", "b/x", "exec",
        ];
        for path in committed {
            write(path, path);
        }
        write(".gitignore", "ignored*\n");
        let mut index = repo.index().unwrap();
        for path in committed.iter().chain([&".gitignore"]) {
            index.add_path(Path::new(path)).unwrap();
        }
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.org").unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "first", &tree, &[])
            .unwrap();
        // Every file's stat data older than the index's: none is racily clean.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut index = repo.index().unwrap();
        index.read(true).unwrap();
        index.write().unwrap();

        write("edited", "changed");
        write("staged", "staged change");
        index.add_path(Path::new("staged")).unwrap();
        index.remove_path(Path::new("unstaged")).unwrap();
        index.write().unwrap();
        fs_err::remove_file(dir.join("deleted")).unwrap();
        write("same", "same"); // rewritten as it was: its stat data changed
        fs_err::remove_file(dir.join("a/dir")).unwrap();
        write("a/dir/inside", "a directory where a file was");
        write("new", "untracked");
        write("sub/new", "untracked in an untracked directory");
        write("ignored-one", "ignored");
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs_err::set_permissions(dir.join("exec"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let paths = [
            "clean",
            "edited",
            "staged",
            "deleted",
            "unstaged",
            "same",
            "a/dir",
            "b/x",
            "exec",
            "new",
            "sub/new",
            "ignored-one",
            "never",
        ];
        let whole = |paths: &[&str]| -> Vec<(String, bool)> {
            changed_paths(&dir)
                .unwrap()
                .into_iter()
                .filter(|(path, _)| paths.contains(&path.as_str()))
                .collect()
        };
        // Without the directory, every path is answered alone; with it, by the whole status.
        let files: Vec<&str> = paths.iter().copied().filter(|p| *p != "a/dir").collect();
        let expected = whole(&files);
        for path in [
            "edited", "staged", "deleted", "unstaged", "exec", "new", "sub/new",
        ] {
            assert!(
                expected.iter().any(|(p, _)| p == path),
                "{path}: {expected:?}"
            );
        }
        assert_eq!(changed_among(&dir, &files).unwrap(), expected);
        assert_eq!(changed_among(&dir, &paths).unwrap(), whole(&paths));
        // The answer once the repo is known to this process, and after the index changes.
        assert_eq!(changed_among(&dir, &files).unwrap(), expected);
        index.add_path(Path::new("edited")).unwrap();
        index.write().unwrap();
        assert_eq!(changed_among(&dir, &files).unwrap(), whole(&files));
        fs_err::remove_dir_all(&dir).unwrap();
    }
}
