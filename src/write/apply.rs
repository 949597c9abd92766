//! The one writer: the only code that creates, replaces or removes files in a workspace.
//!
//! A change to a workspace ([`transact`]) is journaled on disk first (see `journal.rs`): every
//! later step, in either repo, can then be undone, by this process on an error or a signal,
//! or by the next strata command after a crash. Each file is written atomically (a flushed
//! temporary file in the same directory, renamed over the old one), in the line endings the
//! repo's git expects, and every step runs under `interrupt::step`. With `--commit`, each
//! repo gets a commit of strata's own paths only, built from HEAD's tree (see `git/commit.rs`).
//! `strata new` writes through a staging directory instead (`create.rs`).
//!
//! For tests, `STRATA_FAULT` injects failures at the points this module names (see
//! `util/fault.rs`).

use fs_err as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::git;
use crate::model::repo::Repo;
use crate::plan::{Action, Plan};
use crate::util::error::{Outcome, Stopped};
use crate::util::fault::{fail_after, fault, maybe_fail, maybe_hold};
use crate::util::fs::{remove_with_empty_parents, sync_file_system, write_renamed};
use crate::util::problem::Problems;
use crate::util::term::status;
use crate::write::error::{Doing, WriteError};
use crate::write::interrupt;
use crate::write::workspace::Workspace;

/// Refuses, before anything is read for the plan, a repo strata must not change: inside
/// another git repo, in the middle of a merge (rebase, cherry-pick, revert, bisect), or, with
/// `--commit`, without git, on a detached HEAD or with its index or branch locked. Every reason
/// in both repos is reported at once (exit code 2).
pub fn preflight(roots: &BTreeMap<Repo, PathBuf>, commit: bool) -> Result<(), Problems> {
    let mut problems = Problems::default();
    for (repo, root) in roots {
        if let Err(problem) = git::preflight(root, commit) {
            problems.push(crate::util::problem::Problem {
                subject: format!("the {repo} repo {}", problem.subject),
                ..problem
            });
        }
    }
    problems.into_result()
}

/// Refuses (exit 2) a change that would write or delete a path inside a git submodule (or
/// the submodule itself): its files are another repo's, which strata neither checks nor
/// commits. Each path is named with the git command that turns the submodule into plain files.
pub fn refuse_submodules<'a>(
    roots: &BTreeMap<Repo, PathBuf>,
    paths: impl IntoIterator<Item = (Repo, &'a str)>,
) -> Result<(), Problems> {
    let submodules: BTreeMap<Repo, Vec<String>> = roots
        .iter()
        .map(|(repo, root)| (*repo, git::submodules(root)))
        .collect();
    if submodules.values().all(Vec::is_empty) {
        return Ok(());
    }
    let mut found: BTreeMap<(Repo, String), String> = BTreeMap::new();
    for (repo, path) in paths {
        for module in &submodules[&repo] {
            let inside = path == module
                || path
                    .strip_prefix(module.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if inside {
                found
                    .entry((repo, module.clone()))
                    .or_insert_with(|| path.to_string());
            }
        }
    }
    let mut problems = Problems::default();
    for ((repo, module), path) in found {
        problems.push(
            crate::util::problem::Problem::new(
                format!("the {repo} repo's `{module}`"),
                format!("is a git submodule (another repo), and strata must write `{path}` in it"),
            )
            .hint(format!(
                "move the submodule elsewhere (`git mv {module} <new path>`), or make its files part of this repo (`git rm --cached {module}` and remove its `.git`), then run strata again"
            )),
        );
    }
    problems.into_result()
}

/// What `--commit` needs: the title of each repo's commit message (the body lists the repo's
/// files).
pub struct CommitRequest<'a> {
    pub message: &'a str,
    /// Paths this change takes out of the lock that are already gone from disk (deleted by
    /// hand, such as a stack file `pulumi stack rm` deleted): their removal is committed.
    pub gone: &'a [(Repo, String)],
}

/// One repo's part of a change: each path with the bytes to leave in the work tree (`None`:
/// delete it) and, for a commit, what to commit.
struct RepoChange {
    repo: Repo,
    root: PathBuf,
    ops: Vec<(String, Option<Vec<u8>>)>,
    commit: Option<RepoCommit>,
}

struct RepoCommit {
    head: git::HeadState,
    /// Path and the bytes git stores.
    written: Vec<(String, Vec<u8>)>,
    removed: Vec<String>,
    /// The commit's message: the command's title and this repo's files.
    message: String,
}

/// The paths a commit writes (with the bytes git stores) and removes.
type CommitPaths = (Vec<(String, Vec<u8>)>, Vec<String>);

/// Which paths of one repo a commit takes: this change's, and the removal of the files it
/// takes out that were already gone (`gone`). Earlier changes strata left uncommitted are
/// refused before anything is written (`Workspace::refuse_earlier_uncommitted`), except in a
/// repo without a commit yet: its first commit takes every file that holds what strata wrote.
/// The user's own changes stay uncommitted (and staged, if they were).
fn commit_paths(
    workspace: &Workspace,
    repo: Repo,
    ops: &[(String, Option<Vec<u8>>)],
    canonical: &BTreeMap<String, Vec<u8>>,
    request: &CommitRequest<'_>,
    first: bool,
) -> Result<CommitPaths> {
    let mut written: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut removed = Vec::new();
    for (path, bytes) in ops {
        match bytes {
            Some(_) => {
                written.insert(path.clone(), canonical[path].clone());
            }
            None => removed.push(path.clone()),
        }
    }
    removed.extend(
        request
            .gone
            .iter()
            .filter(|(r, _)| *r == repo)
            .map(|(_, p)| p.clone()),
    );
    if first {
        let lock = &workspace.locks[&repo];
        for (path, on_disk) in git::changed_paths(&workspace.roots[&repo])? {
            if !on_disk || written.contains_key(&path) {
                continue;
            }
            if path == crate::model::lock::FILE_NAME || path == crate::model::answers::FILE_NAME {
                if let Some(bytes) = workspace.read(repo, &path) {
                    written.insert(path, bytes);
                }
                continue;
            }
            if let (Some(recorded), Some(bytes)) =
                (lock.files.get(&path), workspace.read(repo, &path))
            {
                if crate::model::lock::hash(&bytes) == *recorded {
                    written.insert(path, bytes);
                }
            }
        }
    }
    removed.sort();
    removed.dedup();
    Ok((written.into_iter().collect(), removed))
}

/// The message of one repo's commit: the command's title, then what it changes in that repo,
/// path by path (the first 30).
fn repo_message(title: &str, repo: Repo, plan: &Plan, extra: &[(Repo, String, Vec<u8>)]) -> String {
    const SHOWN: usize = 30;
    let mut lines: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| c.repo == repo && c.touches_disk())
        .map(|c| format!("- {} `{}`", c.action.verb(), c.path))
        .collect();
    lines.extend(
        extra
            .iter()
            .filter(|(r, _, _)| *r == repo)
            .map(|(_, path, _)| format!("- updated `{path}`")),
    );
    let more = lines.len().saturating_sub(SHOWN);
    lines.truncate(SHOWN);
    if more > 0 {
        lines.push(format!("- and {more} more file(s)"));
    }
    format!("{title}\n\n{}\n", lines.join("\n"))
}

/// The journaled parts of a change, per repo, ready to run.
type Prepared = (
    BTreeMap<Repo, RepoChange>,
    BTreeMap<Repo, crate::write::journal::Journal>,
);

/// Applies a plan plus extra files (answers, locks) to both repos of a workspace, and with
/// `commit` makes one commit per repo: all or nothing, across both repos, even if the process
/// is killed (see the module's documentation).
///
/// A failure is a [`Stopped`] change, its cause first: refused while preparing (nothing was
/// changed), or rolled back (or not entirely, or not at all: the outcome says which). Returns
/// the repos that got a commit: none where the change leaves HEAD's tree as it was.
pub fn transact(
    workspace: &Workspace,
    plan: &Plan,
    extra: &[(Repo, String, Vec<u8>)],
    command: &str,
    commit: Option<CommitRequest<'_>>,
) -> Result<Vec<Repo>> {
    let roots = &workspace.roots;
    let (changes, journals) = match prepare(workspace, plan, extra, command, commit.as_ref()) {
        Ok(prepared) => prepared,
        // Bad input (a path through a link) is reported as such: exit 2, nothing written.
        Err(err) if err.is::<Problems>() => return Err(err),
        Err(err) => return Err(Stopped::error(Outcome::NothingChanged, err)),
    };
    interrupt::set_active(Some(interrupt::Active::Change(roots.clone())));
    let err = match run(&changes, &journals) {
        Ok(committed) => {
            if fault().as_deref() == Some("count-steps") {
                status!("strata: {} steps (STRATA_FAULT)", interrupt::steps());
            }
            return Ok(committed);
        }
        Err(err) => err,
    };
    let recovered = interrupt::exclusive(None, || crate::write::journal::recover(roots));
    let outcome = match recovered {
        Ok(Some(recovery)) if recovery.completed => {
            return Ok(changes
                .iter()
                .filter(|(_, c)| c.commit.is_some())
                .map(|(repo, _)| *repo)
                .collect())
        }
        Ok(Some(recovery)) if !recovery.warnings.is_empty() => {
            Outcome::RolledBackExcept(recovery.warnings)
        }
        Ok(_) => Outcome::RolledBack,
        Err(rollback) => Outcome::RollbackFailed(crate::util::error::cause_text(&rollback)),
    };
    Err(Stopped::error(outcome, err))
}

/// Everything a change will do, journaled per repo; nothing is written yet.
fn prepare(
    workspace: &Workspace,
    plan: &Plan,
    extra: &[(Repo, String, Vec<u8>)],
    command: &str,
    commit: Option<&CommitRequest<'_>>,
) -> Result<Prepared> {
    let mut changes: BTreeMap<Repo, RepoChange> = BTreeMap::new();
    let mut journals: BTreeMap<Repo, crate::write::journal::Journal> = BTreeMap::new();
    for (repo, root) in &workspace.roots {
        let (ops, canonical) = repo_ops(*repo, plan, extra)?;
        // Every path goes through the confinement check once more, now that the lock is held.
        workspace
            .confine(ops.iter().map(|(path, _)| (*repo, path.as_str())))
            .map_err(anyhow::Error::from)?;
        let repo_commit = match commit {
            Some(request) => {
                let head =
                    git::head_state(root)?.context("`--commit` needs a branch checked out")?;
                let first = head.commit.is_none();
                let (written, removed) =
                    commit_paths(workspace, *repo, &ops, &canonical, request, first)?;
                let mut message = repo_message(request.message, *repo, plan, extra);
                if first {
                    message.push_str("\nThe repo's first commit: it also holds every other file strata wrote here.\n");
                }
                Some(RepoCommit {
                    head,
                    written,
                    removed,
                    message,
                })
            }
            None => None,
        };
        let endings = &workspace.line_endings[repo];
        let ops: Vec<(String, Option<Vec<u8>>)> = ops
            .into_iter()
            .map(|(path, bytes)| {
                let bytes = bytes.map(|b| endings.to_worktree(&path, &b).into_owned());
                (path, bytes)
            })
            .collect();
        let journal = journal_of(*repo, root, command, &ops, repo_commit.as_ref())?;
        journals.insert(*repo, journal);
        changes.insert(
            *repo,
            RepoChange {
                repo: *repo,
                root: root.clone(),
                ops,
                commit: repo_commit,
            },
        );
    }
    Ok((changes, journals))
}

/// One repo's file operations (the bytes to leave, `None` to delete) and the bytes git stores
/// of each file written.
#[allow(clippy::type_complexity)]
fn repo_ops(
    repo: Repo,
    plan: &Plan,
    extra: &[(Repo, String, Vec<u8>)],
) -> Result<(Vec<(String, Option<Vec<u8>>)>, BTreeMap<String, Vec<u8>>), WriteError> {
    let mut ops = Vec::new();
    let mut canonical = BTreeMap::new();
    for change in plan.changes.iter().filter(|c| c.repo == repo) {
        match (&change.action, &change.new) {
            (Action::Create | Action::Update, Some(bytes)) => {
                canonical.insert(change.path.clone(), bytes.clone());
                ops.push((change.path.clone(), Some(bytes.clone())));
            }
            (Action::Delete, _) => ops.push((change.path.clone(), None)),
            (Action::Conflict(why), _) => {
                return Err(WriteError::Conflict {
                    repo,
                    path: change.path.clone(),
                    why: why.clone(),
                })
            }
            _ => {}
        }
    }
    for (_, name, bytes) in extra.iter().filter(|(r, _, _)| *r == repo) {
        canonical.insert(name.clone(), bytes.clone());
        ops.push((name.clone(), Some(bytes.clone())));
    }
    Ok((ops, canonical))
}

/// The journal of one repo's part of a change: each path's bytes before it, the directories
/// the change creates, and with a commit, HEAD, the index and the reflogs.
fn journal_of(
    repo: Repo,
    root: &Path,
    command: &str,
    ops: &[(String, Option<Vec<u8>>)],
    commit: Option<&RepoCommit>,
) -> Result<crate::write::journal::Journal> {
    let mut journal = crate::write::journal::Journal {
        pid: std::process::id(),
        repo: Some(repo),
        command: command.to_string(),
        ..Default::default()
    };
    let mut created = std::collections::BTreeSet::new();
    for (path, bytes) in ops {
        journal.entries.push(crate::write::journal::Entry {
            path: path.clone(),
            before: crate::write::journal::before_image(repo, root, path)?,
            after: bytes.as_deref().map(crate::model::lock::hash),
        });
        if bytes.is_some() {
            let mut dir = Path::new(path).parent();
            while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
                if fs::symlink_metadata(root.join(d)).is_ok() {
                    break;
                }
                created.insert(d.to_string_lossy().replace('\\', "/"));
                dir = d.parent();
            }
        }
    }
    let mut created: Vec<String> = created.into_iter().collect();
    created.sort_by_key(String::len);
    journal.created_dirs = created;
    if let Some(c) = commit {
        let git_dir = git::git_dir(root).context("`--commit` needs a git repo")?;
        journal.head = Some(c.head.clone());
        journal.index = Some(match fs::read(git_dir.join("index")) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).context("reading the git index"),
        });
        for log in ["logs/HEAD".to_string(), format!("logs/{}", c.head.branch)] {
            let size = fs::metadata(git::git_file(&git_dir, &log))
                .ok()
                .map(|m| m.len());
            journal.logs.push((log, size));
        }
    }
    Ok(journal)
}

/// The steps of a change, in order; the caller rolls back on an error.
fn run(
    changes: &BTreeMap<Repo, RepoChange>,
    journals: &BTreeMap<Repo, crate::write::journal::Journal>,
) -> Result<Vec<Repo>> {
    let both: Vec<(&Path, &crate::write::journal::Journal)> = journals
        .iter()
        .map(|(repo, journal)| (changes[repo].root.as_path(), journal))
        .collect();
    interrupt::step(|| crate::write::journal::write_all(&both))?;
    let fail_after = fail_after();
    let mut writes = 0;
    for (index, (_, change)) in changes.iter().enumerate() {
        if index > 0 {
            maybe_hold("between-repos");
            maybe_fail("between-repos")?;
        }
        let root = &change.root;
        for (path, bytes) in &change.ops {
            if fail_after == Some(writes) {
                bail!("injected fault after {writes} writes (STRATA_FAULT)");
            }
            writes += 1;
            interrupt::step(|| write_one(change.repo, root, path, bytes.as_deref()))?;
        }
        // Flushed all at once below, with the commits' objects: one `syncfs` per repo.
    }
    let mut committed = Vec::new();
    for (repo, change) in changes {
        let Some(commit) = &change.commit else {
            continue;
        };
        maybe_fail(&format!("commit:{repo}"))?;
        let root = &change.root;
        let id = interrupt::step(|| {
            git::write_commit(
                root,
                &commit.head,
                &commit.written,
                &commit.removed,
                &commit.message,
            )
            .with_context(|| format!("committing in the {repo} repo"))
        })?;
        if let Some(id) = id {
            interrupt::step(|| crate::write::journal::mark(root, "commit", &id))?;
            interrupt::step(|| git::move_branch(root, &commit.head, &id, &commit.message))?;
            committed.push(*repo);
        }
        interrupt::step(|| crate::write::journal::mark(root, "index-write", ""))?;
        interrupt::step(|| git::stage_paths(root, &commit.written, &commit.removed))?;
    }
    interrupt::step(|| -> Result<()> {
        for root in one_per_file_system(changes.values().map(|c| c.root.as_path())) {
            sync_file_system(root)?;
        }
        Ok(())
    })?;
    // The change is whole in both repos: this mark is what makes it stay after a crash.
    let coordinator = &changes[&Repo::Foundation].root;
    interrupt::step(|| crate::write::journal::mark(coordinator, "complete", ""))?;
    let removed = changes
        .values()
        .rev()
        .try_for_each(|change| interrupt::step(|| crate::write::journal::remove(&change.root)));
    interrupt::set_active(None);
    if let Err(err) = removed {
        status!("warning: the change is made, but its journal could not be deleted: {err:#}");
    }
    Ok(committed)
}

/// The roots to flush, one per file system: `syncfs` flushes a whole file system, and both
/// repos are usually on one (its second call flushed nothing new, at the cost of a disk round
/// trip). A root whose file system cannot be told is flushed on its own.
fn one_per_file_system<'a>(roots: impl Iterator<Item = &'a Path>) -> Vec<&'a Path> {
    let mut devices = Vec::new();
    let mut out = Vec::new();
    for root in roots {
        #[cfg(unix)]
        let device = fs::metadata(root)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m));
        #[cfg(not(unix))]
        let device: Option<u64> = None;
        match device {
            Some(device) if devices.contains(&device) => {}
            Some(device) => {
                devices.push(device);
                out.push(root);
            }
            None => out.push(root),
        }
    }
    out
}

/// Writes one file of a repo (or removes it, with the directories it empties).
fn write_one(repo: Repo, root: &Path, path: &str, bytes: Option<&[u8]>) -> Result<(), WriteError> {
    let full = root.join(path);
    let failed = |doing: Doing| {
        move |cause: anyhow::Error| WriteError::File {
            repo,
            path: path.to_string(),
            doing,
            cause,
        }
    };
    match bytes {
        Some(bytes) => {
            if let Some(dir) = full.parent() {
                fs::create_dir_all(dir)
                    .with_context(|| format!("creating directory `{}`", dir.display()))
                    .map_err(failed(Doing::Writing))?;
            }
            write_renamed(&full, bytes, None, false).map_err(failed(Doing::Writing))
        }
        None => remove_with_empty_parents(root, &full).map_err(failed(Doing::Removing)),
    }
}

/// Records the renders of an applied plan as the bases of later merges, in each repo. A
/// failure loses only merge bases, never work: it is reported and the command still succeeds.
pub fn record_bases(roots: &BTreeMap<Repo, PathBuf>, changes: &[crate::plan::Change]) {
    // A repo without git (`--no-git`) has no history to keep bases in.
    for (repo, root) in roots
        .iter()
        .filter(|(_, root)| git::git_dir(root).is_some())
    {
        let updates: Vec<(&str, Option<&[u8]>)> = changes
            .iter()
            .filter(|c| c.repo == *repo)
            .filter_map(|c| match c.action {
                Action::Create | Action::Update | Action::Unchanged => {
                    Some((c.path.as_str(), c.recorded()))
                }
                Action::KeepSeed if c.render.is_some() => Some((c.path.as_str(), c.recorded())),
                Action::Delete => Some((c.path.as_str(), None)),
                _ => None,
            })
            .collect();
        if let Err(err) = git::base::record(root, &updates) {
            status!(
                "warning: {repo}: could not record the merge bases of `strata upgrade`: {err:#}"
            );
        }
    }
}
