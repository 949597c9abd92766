//! Git, through git2: the only module that knows about it.
//!
//! strata initialises repos on `main` with one commit, commits the files a command changed
//! (`--commit`), asks whether files it must touch have uncommitted changes, and can undo its
//! own commit when the other repo's commit fails. Machines without a git identity get a fixed
//! signature.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{Oid, Repository, RepositoryInitOptions, Signature, Status, StatusOptions};

fn signature(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(sig) => Ok(sig.to_owned()),
        Err(_) => Ok(Signature::now("strata", "strata@localhost")?),
    }
}

/// Initialises a repo on `main` and commits `files` (path, bytes), which are already on disk.
///
/// The objects are built in memory and written as one pack, and the index is read from the
/// commit's tree: far fewer files and directories than hashing every file into loose objects.
pub fn init_and_commit(dir: &Path, files: &[(&str, &[u8])], message: &str) -> Result<()> {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(dir, &options)
        .with_context(|| format!("initialising a git repo in `{}`", dir.display()))?;
    let odb = repo.odb()?;
    let mempack = odb.add_new_mempack_backend(1000)?;

    #[derive(Default)]
    struct Node<'a> {
        blobs: Vec<(&'a str, Oid)>,
        dirs: std::collections::BTreeMap<&'a str, Node<'a>>,
    }
    fn write<'a>(repo: &Repository, node: &Node<'a>) -> Result<Oid> {
        let mut builder = repo.treebuilder(None)?;
        for (name, oid) in &node.blobs {
            builder.insert(name, *oid, 0o100_644)?;
        }
        for (name, child) in &node.dirs {
            let oid = write(repo, child)?;
            builder.insert(name, oid, 0o040_000)?;
        }
        Ok(builder.write()?)
    }
    let mut root = Node::default();
    for (path, bytes) in files {
        let oid = repo.blob(bytes)?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().context("a file path has a name")?;
        let mut node = &mut root;
        for part in parts {
            node = node.dirs.entry(part).or_default();
        }
        node.blobs.push((name, oid));
    }
    let tree = repo.find_tree(write(&repo, &root)?)?;
    let sig = signature(&repo)?;
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[])?;

    let mut pack = git2::Buf::new();
    mempack.dump(&repo, &mut pack)?;
    let mut writer = odb.packwriter()?;
    std::io::Write::write_all(&mut writer, &pack)?;
    writer.commit()?;
    mempack.reset()?;

    let mut index = repo.index()?;
    index.read_tree(&tree)?;
    index.write()?;
    Ok(())
}

/// Paths among `paths` that have uncommitted changes (modified, staged, untracked or deleted).
pub fn dirty_paths(dir: &Path, paths: &[String]) -> Result<Vec<String>> {
    let Ok(repo) = Repository::open(dir) else {
        return Ok(Vec::new());
    };
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .disable_pathspec_match(true);
    for path in paths {
        options.pathspec(path);
    }
    let statuses = repo.statuses(Some(&mut options))?;
    let mut dirty: Vec<String> = statuses
        .iter()
        .filter(|entry| {
            entry.status() != Status::CURRENT && !entry.status().contains(Status::IGNORED)
        })
        .filter_map(|entry| entry.path().ok().map(str::to_string))
        .collect();
    dirty.sort();
    dirty.dedup();
    Ok(dirty)
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

/// What `commit_paths` needs to undo its commit.
pub struct Undo {
    dir: std::path::PathBuf,
    previous: Option<Oid>,
}

/// Stages `written` and `removed` paths and commits them on the current branch.
pub fn commit_paths(
    dir: &Path,
    written: &[String],
    removed: &[String],
    message: &str,
) -> Result<Undo> {
    let repo = Repository::open(dir)
        .with_context(|| format!("opening the git repo in `{}`", dir.display()))?;
    let previous = repo.head().ok().and_then(|h| h.target());
    let mut index = repo.index()?;
    for path in written {
        index
            .add_path(Path::new(path))
            .with_context(|| format!("staging `{path}`"))?;
    }
    for path in removed {
        index
            .remove_path(Path::new(path))
            .with_context(|| format!("staging the removal of `{path}`"))?;
    }
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = signature(&repo)?;
    let parents: Vec<git2::Commit> = previous
        .map(|oid| repo.find_commit(oid))
        .transpose()?
        .into_iter()
        .collect();
    let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)?;
    Ok(Undo {
        dir: dir.to_path_buf(),
        previous,
    })
}

impl Undo {
    /// Moves the branch back to where it was and resets the index to its tree.
    pub fn undo(self) -> Result<()> {
        let repo = Repository::open(&self.dir)?;
        let Some(previous) = self.previous else {
            return Ok(());
        };
        let commit = repo.find_commit(previous)?;
        let head = repo.head()?;
        let name = head.name().context("HEAD names a branch")?.to_string();
        repo.reference(
            &name,
            previous,
            true,
            "strata: undo a commit after a failure",
        )?;
        let mut index = repo.index()?;
        index.read_tree(&commit.tree()?)?;
        index.write()?;
        Ok(())
    }
}

/// Whether `dir` is inside a git work tree.
pub fn is_repo(dir: &Path) -> bool {
    Repository::open(dir).is_ok()
}
