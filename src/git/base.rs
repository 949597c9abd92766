//! The bases of three-way merges: what strata rendered last, recoverable without the strata
//! that rendered it.
//!
//! After every change strata records its pure render of each file it wrote (before any merge
//! with a person's edits) as a commit on `refs/strata/base` in the repo's own object database.
//! `strata.lock` holds the SHA-256 of each of those renders, so a base is trusted only when its
//! hash matches the lock. A clone that lacks the ref (it is not pushed unless asked) falls back
//! to the repo's history: strata's renders were committed, and the version of the file whose
//! hash matches the lock is the base. Nothing here is needed for correctness of the other
//! commands: without a base, an edited file is a conflict, as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use git2::{Oid, Repository, Signature};

use crate::model::lock::hash;
use crate::model::repo::Repo;

/// The ref that holds strata's last render of every file it owns.
pub const REF: &str = "refs/strata/base";

/// How many commits of history the fallback reads at most.
const HISTORY_LIMIT: usize = 5000;

/// The bytes strata last rendered at `path`, if they can be found and hash to `expected`.
fn find(repo: &Repository, path: &str, expected: &str) -> Option<Vec<u8>> {
    let from_ref = repo
        .find_reference(REF)
        .ok()
        .and_then(|r| r.peel_to_tree().ok())
        .and_then(|tree| blob_at(repo, &tree, path));
    if let Some(bytes) = from_ref.filter(|b| hash(b) == expected) {
        return Some(bytes);
    }
    let mut walk = repo.revwalk().ok()?;
    walk.push_head().ok()?;
    let mut seen: Option<Oid> = None;
    for oid in walk.take(HISTORY_LIMIT).flatten() {
        let tree = repo.find_commit(oid).ok()?.tree().ok()?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            continue;
        };
        if seen == Some(entry.id()) {
            continue;
        }
        seen = Some(entry.id());
        if let Ok(blob) = repo.find_blob(entry.id()) {
            if hash(blob.content()) == expected {
                return Some(blob.content().to_vec());
            }
        }
    }
    None
}

fn blob_at(repo: &Repository, tree: &git2::Tree<'_>, path: &str) -> Option<Vec<u8>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    Some(repo.find_blob(entry.id()).ok()?.content().to_vec())
}

/// Records strata's renders (`Some`) and removals (`None`) of one repo on [`REF`].
///
/// New objects are written loose, as `git add` writes them (`git gc` packs them later). They
/// used to go through libgit2's in-memory pack, whose delta search cost most of an `add
/// service` in a big workspace.
pub fn record(root: &Path, updates: &[(&str, Option<&[u8]>)]) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let repo = Repository::open(root).with_context(|| format!("opening `{}`", root.display()))?;
    let odb = repo.odb()?;
    let parent = repo
        .find_reference(REF)
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let mut index = git2::Index::new()?;
    if let Some(parent) = &parent {
        index.read_tree(&parent.tree()?)?;
    }
    for (path, bytes) in updates {
        match bytes {
            Some(bytes) => {
                // A render the last record holds already (most files of a big workspace) needs
                // nothing; a blob already in the repo (committed with the change) is not written
                // again.
                let id = Oid::hash_object(git2::ObjectType::Blob, bytes)?;
                if index
                    .get_path(Path::new(path), 0)
                    .is_some_and(|entry| entry.id == id)
                {
                    continue;
                }
                let id = if odb.exists(id) {
                    id
                } else {
                    odb.write(git2::ObjectType::Blob, bytes)?
                };
                let entry = git2::IndexEntry {
                    ctime: git2::IndexTime::new(0, 0),
                    mtime: git2::IndexTime::new(0, 0),
                    dev: 0,
                    ino: 0,
                    mode: 0o100644,
                    uid: 0,
                    gid: 0,
                    file_size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    id,
                    flags: u16::try_from(path.len().min(0xfff)).unwrap_or(0xfff),
                    flags_extended: 0,
                    path: path.as_bytes().to_vec(),
                };
                index.add(&entry)?;
            }
            None => {
                let _ = index.remove_path(Path::new(path));
            }
        }
    }
    let tree_id = index.write_tree_to(&repo)?;
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
        return Ok(());
    }
    let tree = repo.find_tree(tree_id)?;
    let signature = Signature::now("strata", "strata@localhost")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    let commit = repo.commit(
        None,
        &signature,
        &signature,
        "strata's last render of every file it owns (the base of `strata upgrade`)",
        &tree,
        &parents,
    )?;
    repo.reference(REF, commit, true, "strata: record the render")?;
    Ok(())
}

/// Points [`REF`] at HEAD's commit: the first commit of a new repo is strata's render of every
/// file.
pub fn record_head(root: &Path) -> Result<()> {
    let git = Repository::open(root)?;
    let head = git.head()?.peel_to_commit()?.id();
    git.reference(REF, head, true, "strata: record the render")?;
    Ok(())
}

/// The bases of both repos of a workspace, their gits opened once.
pub struct Bases(BTreeMap<Repo, Option<Repository>>);

impl Bases {
    /// Opens each repo's git; a repo without git has no bases.
    pub fn open(roots: &BTreeMap<Repo, PathBuf>) -> Bases {
        Bases(
            Repo::BOTH
                .iter()
                .map(|repo| (*repo, Repository::open(&roots[repo]).ok()))
                .collect(),
        )
    }

    /// The bytes strata last rendered at `path` of `repo`, if they hash to `expected`.
    pub fn find(&self, repo: Repo, path: &str, expected: &str) -> Option<Vec<u8>> {
        self.0[&repo]
            .as_ref()
            .and_then(|git| find(git, path, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_render_is_found_only_under_its_hash() {
        let dir = tempdir();
        let repo = Repository::init(&dir).unwrap();
        record(&dir, &[("a/b.yaml", Some(b"one\n")), ("c", Some(b"x"))]).unwrap();
        assert_eq!(find(&repo, "a/b.yaml", &hash(b"one\n")).unwrap(), b"one\n");
        assert!(find(&repo, "a/b.yaml", &hash(b"two\n")).is_none());
        record(&dir, &[("a/b.yaml", Some(b"two\n")), ("c", None)]).unwrap();
        assert_eq!(find(&repo, "a/b.yaml", &hash(b"two\n")).unwrap(), b"two\n");
        assert!(find(&repo, "c", &hash(b"x")).is_none());
        fs_err::remove_dir_all(&dir).unwrap();
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "strata-base-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        dir
    }
}
