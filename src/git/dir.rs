//! Where git lives: a repo's git directory, the path of one of git's own files in it (linked
//! work trees included), and the repo that encloses a directory. Reads only.

use std::path::Path;

use git2::Repository;

/// A repo's git directory, when `root` is the work tree of a git repo of its own.
pub fn git_dir(root: &Path) -> Option<std::path::PathBuf> {
    let repo = Repository::open(root).ok()?;
    let workdir = repo.workdir()?.canonicalize().ok()?;
    (workdir == root.canonicalize().ok()?).then(|| repo.path().to_path_buf())
}

/// The path of a file of git's own, named relative to a git directory (`index`, `logs/HEAD`,
/// `refs/heads/main`, `logs/refs/heads/main`). In a linked work tree (`git worktree add`) the
/// git directory holds only what is the work tree's own (HEAD, the index, HEAD's reflog); refs
/// and their reflogs live in the main repo's, which the `commondir` file names.
pub fn git_file(git_dir: &Path, name: &str) -> std::path::PathBuf {
    let shared = name.starts_with("refs/") || name.starts_with("logs/refs/");
    if shared {
        if let Ok(common) = fs_err::read_to_string(git_dir.join("commondir")) {
            return git_dir
                .join(common.trim_end_matches(['\n', '\r']))
                .join(name);
        }
    }
    git_dir.join(name)
}

/// The work tree of the git repo that holds `dir` (or would hold it, for a directory not yet
/// created: its nearest existing ancestor is asked), if any.
pub fn enclosing_repo(dir: &Path) -> Option<std::path::PathBuf> {
    // Absolute first: the ancestors of a relative `x` end in ``, which is no directory.
    let dir = std::path::absolute(dir).ok()?;
    let existing = dir.ancestors().find(|d| d.is_dir())?;
    let repo = Repository::discover(existing).ok()?;
    repo.workdir().map(Path::to_path_buf)
}
