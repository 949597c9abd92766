//! The first commit of a new repo (`strata new`): initialised on its branch, its blobs and trees
//! written as one pack built in memory (`pack.rs`), its index read from the commit's tree.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Repository, RepositoryInitOptions};

use super::pack::{tree_bytes, PackBuilder};

/// Initialises a repo on `branch` and commits `files` (path, bytes), which are already on disk.
///
/// The blobs and trees are written as one pack built here from the bytes in memory (no deltas,
/// fast compression); the commit object is libgit2's (`Repository::commit`), and the index
/// holds each file's id as hashed for the pack. This avoids hashing every file back from disk
/// and creating a loose object (and often a directory) per file, which was most of the time of
/// `strata new`.
pub fn init_and_commit(
    dir: &Path,
    branch: &str,
    files: &[(&str, &[u8])],
    message: &str,
) -> Result<()> {
    let mut options = RepositoryInitOptions::new();
    options.initial_head(branch).external_template(false);
    let repo = Repository::init_opts(dir, &options)
        .with_context(|| format!("initialising a git repo in `{}`", dir.display()))?;

    let mut pack = PackBuilder::default();
    #[derive(Default)]
    struct Node<'a> {
        entries: Vec<(&'a str, Oid)>,
        dirs: std::collections::BTreeMap<&'a str, Node<'a>>,
    }
    fn write_tree(pack: &mut PackBuilder, node: &Node<'_>) -> Result<Oid> {
        let mut entries: Vec<(Vec<u8>, i32, Oid)> = node
            .entries
            .iter()
            .map(|(name, oid)| (name.as_bytes().to_vec(), 0o100_644, *oid))
            .collect();
        for (name, child) in &node.dirs {
            let oid = write_tree(pack, child)?;
            entries.push((name.as_bytes().to_vec(), 0o040_000, oid));
        }
        pack.add(ObjectType::Tree, &tree_bytes(&mut entries))
    }
    let mut root = Node::default();
    let mut ids = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let oid = pack.add(ObjectType::Blob, bytes)?;
        ids.push(oid);
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().context("a file path has a name")?;
        let mut node = &mut root;
        for part in parts {
            node = node.dirs.entry(part).or_default();
        }
        node.entries.push((name, oid));
    }
    let tree = write_tree(&mut pack, &root)?;
    pack.write_to(&repo)?;
    let (author, committer) = super::commit::signatures(&repo)?;
    repo.commit(
        Some("HEAD"),
        &author,
        &committer,
        message,
        &repo.find_tree(tree)?,
        &[],
    )?;

    // The index carries each file's stat data, as `git add` would: later status checks (git's
    // and strata's) then trust it instead of reading and hashing every file again.
    let mut index = repo.index()?;
    for ((path, _), id) in files.iter().zip(ids) {
        super::commit::stage_one(&mut index, dir, path, id)
            .with_context(|| format!("staging `{path}`"))?;
    }
    index.write()?;
    Ok(())
}
