//! strata's commits in an existing repo (`--commit`): HEAD's tree plus strata's own paths,
//! the branch moved only if it is still where strata found it (and put back on a rollback),
//! and the index updated for strata's paths alone.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{Oid, Repository, Signature};

use super::pack::{edit_tree, Edits, PackBuilder, Upsert};
use super::rules::Rules;

/// The author and committer of strata's commits, found as git finds them:
/// `GIT_AUTHOR_*` / `GIT_COMMITTER_*`, then `user.name` and `user.email` of the repo's config
/// (and `EMAIL`). Without an identity, git refuses to commit; strata commits as
/// `strata <strata@localhost>` and says so, with the command that sets one.
pub(super) fn signatures(repo: &Repository) -> Result<(Signature<'static>, Signature<'static>)> {
    let config = repo.config().ok();
    let from_config = |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok());
    let var = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
    let person = |role: &str| -> Option<(String, String)> {
        let name = var(&format!("GIT_{role}_NAME")).or_else(|| from_config("user.name"))?;
        let email = var(&format!("GIT_{role}_EMAIL"))
            .or_else(|| from_config("user.email"))
            .or_else(|| var("EMAIL"))?;
        Some((name, email))
    };
    let sign = |person: Option<(String, String)>| -> Result<Signature<'static>> {
        Ok(match person {
            Some((name, email)) => Signature::now(&name, &email)?,
            None => Signature::now(FALLBACK_NAME, FALLBACK_EMAIL)?,
        })
    };
    let (author, committer) = (person("AUTHOR"), person("COMMITTER"));
    if author.is_none() || committer.is_none() {
        crate::util::term::status_line(format_args!(
            "note: git has no identity here (`user.name` and `user.email`): strata commits as `{FALLBACK_NAME} <{FALLBACK_EMAIL}>`; set yours (`git config --global user.name ...` and `user.email ...`) and `git commit --amend --reset-author` where it matters"
        ));
    }
    Ok((sign(author)?, sign(committer)?))
}

/// The identity of strata's commits where git has none.
pub(super) const FALLBACK_NAME: &str = "strata";
pub(super) const FALLBACK_EMAIL: &str = "strata@localhost";

/// Stages one file whose blob is known (`id`, already in the repo): an index entry with the
/// work tree file's stat data.
#[cfg(unix)]
pub(super) fn stage_one(index: &mut git2::Index, root: &Path, path: &str, id: Oid) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs_err::symlink_metadata(root.join(path))?;
    let executable = meta.mode() & 0o111 != 0;
    let mode = match index.get_path(Path::new(path), 0) {
        Some(entry) => entry.mode,
        None if executable => 0o100_755,
        None => 0o100_644,
    };
    // The index stores 32-bit stat fields (git truncates them the same way) and the size of the
    // file in the work tree, which differs from the blob's where line endings are converted.
    let entry = git2::IndexEntry {
        ctime: git2::IndexTime::new(meta.ctime() as i32, meta.ctime_nsec() as u32),
        mtime: git2::IndexTime::new(meta.mtime() as i32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        mode,
        uid: meta.uid(),
        gid: meta.gid(),
        file_size: meta.len() as u32,
        id,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    };
    index.add(&entry)?;
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn stage_one(index: &mut git2::Index, _root: &Path, path: &str, _id: Oid) -> Result<()> {
    index.add_path(Path::new(path))?;
    Ok(())
}

/// Where HEAD stood before a change: the branch it names and the commit it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadState {
    /// `refs/heads/<branch>`.
    pub branch: String,
    /// `None` for a branch with no commit yet.
    pub commit: Option<String>,
}

/// The branch HEAD names and its commit (`None` on a detached HEAD or without git).
pub fn head_state(root: &Path) -> Result<Option<HeadState>> {
    let Ok(repo) = Repository::open(root) else {
        return Ok(None);
    };
    let head = repo.find_reference("HEAD")?;
    let Some(branch) = head.symbolic_target().ok().flatten() else {
        return Ok(None);
    };
    let commit = repo.refname_to_id(branch).ok().map(|oid| oid.to_string());
    Ok(Some(HeadState {
        branch: branch.to_string(),
        commit,
    }))
}

/// Writes the objects of strata's commit: HEAD's tree plus `written` (path, the bytes git
/// stores) minus `removed`, and a commit on top of HEAD. Nothing else of the index or the
/// work tree enters it. The blobs and trees go into one pack (`pack.rs`), the commit object is
/// libgit2's, or git's own when the repo signs its commits; the change's `syncfs` flushes them
/// (apply.rs). The repo's `pre-commit` and `commit-msg` hooks run first (`rules.rs`). Returns
/// the commit's id, or `None` when the tree is HEAD's: strata makes no empty commit.
pub fn write_commit(
    root: &Path,
    head: &HeadState,
    written: &[(String, Vec<u8>)],
    removed: &[String],
    message: &str,
) -> Result<Option<String>> {
    let repo = Repository::open(root)
        .with_context(|| format!("opening the git repo in `{}`", root.display()))?;
    let parent = head
        .commit
        .as_deref()
        .map(|id| repo.find_commit(Oid::from_str(id)?))
        .transpose()?;
    let base = parent.as_ref().map(git2::Commit::tree).transpose()?;
    let mut edits: Edits<'_> = std::collections::BTreeMap::new();
    for (path, bytes) in written {
        edits.insert(path, Some(Upsert { bytes, mode: None }));
    }
    for path in removed {
        edits.insert(path, None);
    }
    let mut pack = PackBuilder::default();
    let tree_id = edit_tree(&repo, &mut pack, base.as_ref(), &edits)?;
    if base.as_ref().map(git2::Tree::id) == Some(tree_id) {
        return Ok(None);
    }
    pack.write_to(&repo)?;
    let rules = Rules::of(&repo, root);
    let paths: Vec<&str> = written.iter().map(|(path, _)| path.as_str()).collect();
    rules.pre_commit(&repo, tree_id, &paths)?;
    let message = rules.commit_msg(message)?;
    if rules.sign {
        let id = rules.signed_commit(
            &repo,
            tree_id,
            parent.as_ref().map(git2::Commit::id),
            &message,
        )?;
        return Ok(Some(id.to_string()));
    }
    let tree = repo.find_tree(tree_id)?;
    let (author, committer) = signatures(&repo)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let commit = repo.commit(None, &author, &committer, &message, &tree, &parents)?;
    Ok(Some(commit.to_string()))
}

/// Moves the branch HEAD names from `head.commit` to `commit`, only if it still points where
/// strata found it.
pub fn move_branch(root: &Path, head: &HeadState, commit: &str, message: &str) -> Result<()> {
    let repo = Repository::open(root)?;
    let new = Oid::from_str(commit)?;
    let log = format!("commit: {}", message.lines().next().unwrap_or_default());
    match &head.commit {
        Some(old) => {
            repo.reference_matching(&head.branch, new, true, Oid::from_str(old)?, &log)
                .with_context(|| format!("moving `{}`", head.branch))?;
        }
        None => {
            repo.reference(&head.branch, new, false, &log)
                .with_context(|| format!("creating `{}`", head.branch))?;
        }
    }
    // Not flushed here: the change's `syncfs` (apply.rs) flushes the ref with everything else
    // before the journal's `complete` mark, and until then a crash is rolled back from the
    // journal's `commit` mark, flushed before this move.
    Ok(())
}

/// Puts the branch back where it was (`previous`, or no branch), if it is still at `strata`'s
/// commit. Returns a warning when someone moved it since.
pub fn reset_branch(
    root: &Path,
    head: &HeadState,
    strata: &str,
    message: &str,
) -> Result<Option<String>> {
    let repo = Repository::open(root)?;
    let current = repo.refname_to_id(&head.branch).ok().map(|o| o.to_string());
    if current.as_deref() == head.commit.as_deref() {
        return Ok(None);
    }
    if current.as_deref() != Some(strata) {
        return Ok(Some(format!(
            "`{}` moved since the interrupted run (now at {}); left as is",
            head.branch,
            current.as_deref().unwrap_or("nothing")
        )));
    }
    match &head.commit {
        Some(previous) => {
            repo.reference_matching(
                &head.branch,
                Oid::from_str(previous)?,
                true,
                Oid::from_str(strata)?,
                message,
            )?;
        }
        None => repo.find_reference(&head.branch)?.delete()?,
    }
    Ok(None)
}

/// Stages strata's own paths in the index (`written`: path and the bytes git stores, just
/// committed; `removed` dropped), leaving every other entry, the user's staged changes
/// included, as it was. The entries carry the work tree files' stat data, so that git sees
/// them clean without reading them again; libgit2 then needs no attribute lookups either.
pub fn stage_paths(root: &Path, written: &[(String, Vec<u8>)], removed: &[String]) -> Result<()> {
    let repo = Repository::open(root)?;
    let mut index = repo.index()?;
    for (path, bytes) in written {
        let id = super::pack::object_id(git2::ObjectType::Blob, bytes)?;
        stage_one(&mut index, root, path, id).with_context(|| format!("staging `{path}`"))?;
    }
    for path in removed {
        index
            .remove_path(Path::new(path))
            .with_context(|| format!("staging the removal of `{path}`"))?;
    }
    // Flushed by the change's `syncfs` before the `complete` mark, as the ref is.
    index.write()?;
    Ok(())
}
