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

use super::pack::{edit_tree, Edits, PackBuilder, Upsert};
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
/// The last record's tree is edited along the changed paths only (a render it holds already,
/// most files of a big workspace, costs a hash), and the new blobs and trees go into one pack
/// (`pack.rs`; a blob committed with the change is not written again). It used to read the
/// whole tree into an index and write every new object loose: most of an `add env`.
pub fn record(root: &Path, updates: &[(&str, Option<&[u8]>)]) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let repo = Repository::open(root).with_context(|| format!("opening `{}`", root.display()))?;
    let parent = repo
        .find_reference(REF)
        .ok()
        .and_then(|r| r.peel_to_commit().ok());
    let base = parent.as_ref().map(git2::Commit::tree).transpose()?;
    let edits: Edits<'_> = updates
        .iter()
        .map(|(path, bytes)| {
            let upsert = bytes.map(|bytes| Upsert {
                bytes,
                mode: Some(0o100_644),
            });
            (*path, upsert)
        })
        .collect();
    let mut pack = PackBuilder::default();
    let tree_id = edit_tree(&repo, &mut pack, base.as_ref(), &edits)?;
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
        return Ok(());
    }
    pack.write_to(&repo)?;
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
