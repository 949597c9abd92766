//! The write-ahead journal: what a change is about to do to a repo, on disk before it starts,
//! so that a run that stops anywhere (an error, Ctrl-C, `kill -9`, a power cut) can be undone.
//!
//! Each repo gets its own journal, in its git directory (`.git/strata-journal`; a repo without
//! git keeps it at `.strata-journal` in its root). It is written whole (to a temporary file,
//! flushed, then renamed) before the first change, and holds, per path strata will write or
//! delete, the bytes and mode that were there before (or that nothing was) and a hash of what
//! strata will leave; the directories strata will create; and with `--commit`, the branch and
//! commit HEAD named, a copy of the index and the sizes of the reflogs. Marks are appended and
//! flushed as the run goes on: `commit <id>` before a branch moves, `index` before the index
//! is rewritten, and `complete` (in the foundation's journal) once both repos hold the whole
//! change. Then both journals are deleted, the gitops one first.
//!
//! [`recover`] is run by every command that opens a workspace, and by the interrupt handler:
//! with no `complete` mark it rolls both repos back; with one it only deletes the journals
//! (the change is whole). A rollback only puts back what still holds strata's bytes: a file,
//! branch or reflog that someone changed after the interrupted run is left as is and named.
//! Recovery is idempotent: interrupted itself, it simply runs again next time.

use fs_err as fs;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::git::{self, HeadState};
use crate::model::lock::hash;
use crate::model::repo::Repo;
use crate::util::error::{Outcome, Stopped};
use crate::write::error::{Doing, RollbackError, WriteError};

const MAGIC: &str = "strata-journal";
const FILE_NAME: &str = "strata-journal";
const PLAIN_FILE_NAME: &str = ".strata-journal";

/// One path a run writes or deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// The bytes before the run and their Unix mode; `None`: there was no file.
    pub before: Option<(Vec<u8>, u32)>,
    /// The hash of the bytes the run leaves; `None`: the run deletes the file.
    pub after: Option<String>,
}

/// Everything a run needs to undo its change to one repo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// `<pid>` of the run, which names its temporary files.
    pub pid: u32,
    pub repo: Option<Repo>,
    /// The command, for the message of the next run (`add env qa`).
    pub command: String,
    pub entries: Vec<Entry>,
    /// Directories the run creates, parents first.
    pub created_dirs: Vec<String>,
    /// With `--commit`: where HEAD stood.
    pub head: Option<HeadState>,
    /// With `--commit`: the index file before the run (`None`: there was none).
    pub index: Option<Option<Vec<u8>>>,
    /// With `--commit`: each reflog (path in the git directory) and its size before the run.
    pub logs: Vec<(String, Option<u64>)>,
    /// Marks appended as the run goes on.
    pub commit: Option<String>,
    pub index_written: bool,
    pub complete: bool,
}

/// Where a repo's journal lives.
pub fn path(root: &Path) -> PathBuf {
    match git::git_dir(root) {
        Some(dir) => dir.join(FILE_NAME),
        None => root.join(PLAIN_FILE_NAME),
    }
}

fn record(out: &mut Vec<u8>, tag: &str, payload: &[u8]) {
    out.extend_from_slice(format!("{tag} {}\n", payload.len()).as_bytes());
    out.extend_from_slice(payload);
    out.push(b'\n');
}

impl Journal {
    /// The journal's bytes, up to and including its `end` record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        record(&mut out, MAGIC, b"1");
        record(&mut out, "pid", self.pid.to_string().as_bytes());
        if let Some(repo) = self.repo {
            record(&mut out, "repo", repo.as_str().as_bytes());
        }
        record(&mut out, "command", self.command.as_bytes());
        if let Some(head) = &self.head {
            let commit = head.commit.as_deref().unwrap_or("-");
            record(
                &mut out,
                "head",
                format!("{commit} {}", head.branch).as_bytes(),
            );
        }
        match &self.index {
            Some(Some(bytes)) => record(&mut out, "index", bytes),
            Some(None) => record(&mut out, "no-index", b""),
            None => {}
        }
        for (log, size) in &self.logs {
            let size = size.map_or_else(|| "-".to_string(), |s| s.to_string());
            record(&mut out, "log", format!("{size} {log}").as_bytes());
        }
        for dir in &self.created_dirs {
            record(&mut out, "mkdir", dir.as_bytes());
        }
        for entry in &self.entries {
            record(&mut out, "file", entry.path.as_bytes());
            match &entry.before {
                Some((bytes, mode)) => {
                    record(&mut out, "mode", format!("{mode:o}").as_bytes());
                    record(&mut out, "before", bytes);
                }
                None => record(&mut out, "absent", b""),
            }
            record(
                &mut out,
                "after",
                entry.after.as_deref().unwrap_or("-").as_bytes(),
            );
        }
        record(&mut out, "end", b"");
        out
    }

    /// Reads a journal; a torn record at the end (a mark being appended when the run stopped)
    /// is ignored. A journal without its `end` record is refused.
    pub fn decode(bytes: &[u8]) -> Result<Journal> {
        let mut journal = Journal::default();
        let mut at = 0;
        let mut ended = false;
        let mut first = true;
        let mut current: Option<Entry> = None;
        let mut mode = 0o644;
        while at < bytes.len() {
            let Some(line_end) = bytes[at..].iter().position(|b| *b == b'\n') else {
                break;
            };
            let header = std::str::from_utf8(&bytes[at..at + line_end])
                .context("a journal record header is not UTF-8")?;
            let Some((tag, len)) = header.split_once(' ') else {
                break;
            };
            let Ok(len) = len.parse::<usize>() else {
                break;
            };
            let start = at + line_end + 1;
            if start + len + 1 > bytes.len() || bytes[start + len] != b'\n' {
                break;
            }
            let payload = &bytes[start..start + len];
            let text = || String::from_utf8_lossy(payload).to_string();
            at = start + len + 1;
            if first {
                if tag != MAGIC || payload != b"1" {
                    bail!("is not a strata journal of format 1");
                }
                first = false;
                continue;
            }
            if !ended {
                match tag {
                    "pid" => journal.pid = text().parse().unwrap_or(0),
                    "repo" => {
                        journal.repo = Repo::BOTH.into_iter().find(|r| r.as_str() == text());
                    }
                    "command" => journal.command = text(),
                    "head" => {
                        let text = text();
                        let (commit, branch) = text.split_once(' ').unwrap_or(("-", ""));
                        journal.head = Some(HeadState {
                            branch: branch.to_string(),
                            commit: (commit != "-").then(|| commit.to_string()),
                        });
                    }
                    "index" => journal.index = Some(Some(payload.to_vec())),
                    "no-index" => journal.index = Some(None),
                    "log" => {
                        let text = text();
                        let (size, log) = text.split_once(' ').unwrap_or(("-", ""));
                        journal.logs.push((log.to_string(), size.parse().ok()));
                    }
                    "mkdir" => journal.created_dirs.push(text()),
                    "file" => {
                        if let Some(entry) = current.take() {
                            journal.entries.push(entry);
                        }
                        mode = 0o644;
                        current = Some(Entry {
                            path: text(),
                            before: None,
                            after: None,
                        });
                    }
                    "mode" => mode = u32::from_str_radix(&text(), 8).unwrap_or(0o644),
                    "before" => {
                        if let Some(entry) = current.as_mut() {
                            entry.before = Some((payload.to_vec(), mode));
                        }
                    }
                    "absent" => {}
                    "after" => {
                        if let Some(entry) = current.as_mut() {
                            let text = text();
                            entry.after = (text != "-").then_some(text);
                        }
                    }
                    "end" => {
                        if let Some(entry) = current.take() {
                            journal.entries.push(entry);
                        }
                        ended = true;
                    }
                    other => bail!("has an unknown record `{other}`"),
                }
            } else {
                match tag {
                    "commit" => journal.commit = Some(text()),
                    "index-write" => journal.index_written = true,
                    "complete" => journal.complete = true,
                    other => bail!("has an unknown mark `{other}`"),
                }
            }
        }
        if !ended {
            bail!("is incomplete (it has no `end` record)");
        }
        Ok(journal)
    }
}

/// Writes the journals of both repos whole (a temporary file, flushed, renamed into place, its
/// directory flushed), with one disk round trip for all their files and one for all their
/// directories: each is written to its temporary file, then all are flushed at once (in parallel, so that the file system commits them
/// together), renamed into place, and their directories flushed at once.
pub fn write_all(journals: &[(&Path, &Journal)]) -> Result<()> {
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        let mut files = Vec::new();
        for (root, journal) in journals {
            let target = path(root);
            let dir = target.parent().context("a journal has a directory")?;
            let tmp = dir.join(format!("{FILE_NAME}.tmp-{}", std::process::id()));
            staged.push((tmp.clone(), target.clone()));
            let mut file = fs::File::create(&tmp)
                .with_context(|| format!("writing the journal `{}`", target.display()))?;
            file.write_all(&journal.encode())
                .with_context(|| format!("writing the journal `{}`", target.display()))?;
            files.push(file);
        }
        std::thread::scope(|threads| {
            let flushes: Vec<_> = files
                .iter()
                .map(|file| threads.spawn(move || file.sync_all()))
                .collect();
            flushes
                .into_iter()
                .try_for_each(|flush| flush.join().expect("a flush does not panic"))
        })
        .context("flushing the journals")?;
        let mut dirs: Vec<PathBuf> = Vec::new();
        for (tmp, target) in &staged {
            fs::rename(tmp, target)
                .with_context(|| format!("writing the journal `{}`", target.display()))?;
            if let Some(dir) = target
                .parent()
                .filter(|d| !dirs.iter().any(|seen| seen == d))
            {
                dirs.push(dir.to_path_buf());
            }
        }
        std::thread::scope(|threads| {
            let flushes: Vec<_> = dirs
                .iter()
                .map(|dir| threads.spawn(move || crate::util::fs::sync_dir(dir)))
                .collect();
            flushes
                .into_iter()
                .try_for_each(|flush| flush.join().expect("a flush does not panic"))
        })
    })();
    if result.is_err() {
        for (tmp, _) in &staged {
            let _ = fs::remove_file(tmp);
        }
    }
    result
}

/// Appends a mark (`commit <id>`, `index-write`, `complete`) and flushes it.
pub fn mark(root: &Path, tag: &str, payload: &str) -> Result<()> {
    let target = path(root);
    let mut bytes = Vec::new();
    record(&mut bytes, tag, payload.as_bytes());
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&target)
        .with_context(|| format!("opening the journal `{}`", target.display()))?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    Ok(())
}

/// Deletes a repo's journal (the run is over, one way or the other).
pub fn remove(root: &Path) -> Result<()> {
    let target = path(root);
    match fs::remove_file(&target) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            return Err(err).with_context(|| format!("deleting the journal `{}`", target.display()))
        }
    }
    if let Some(dir) = target.parent() {
        crate::util::fs::sync_dir(dir)?;
    }
    Ok(())
}

fn read(root: &Path) -> Result<Option<Journal>> {
    let target = path(root);
    // A journal being written when the run stopped was never renamed into place.
    if let Some(dir) = target.parent() {
        if let Ok(entries) = fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{FILE_NAME}.tmp-"))
                {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }
    match fs::read(&target) {
        Ok(bytes) => Journal::decode(&bytes)
            .map(Some)
            .with_context(|| format!("the journal `{}`", target.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading `{}`", target.display())),
    }
}

/// What [`recover`] did.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The interrupted command, as its journal names it.
    pub command: String,
    /// `true`: the change was whole and was kept; `false`: it was rolled back.
    pub completed: bool,
    /// Things left as they were because someone changed them after the interrupted run.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.completed {
            write!(
                f,
                "the last strata run (`{}`) stopped after it had changed both repos; its change is kept",
                self.command
            )?;
        } else {
            write!(
                f,
                "the last strata run (`{}`) did not finish; both repos were rolled back to before it",
                self.command
            )?;
        }
        for warning in &self.warnings {
            write!(f, "\n  - {warning}")?;
        }
        Ok(())
    }
}

/// Finishes or undoes an interrupted run, if a journal says there was one.
///
/// `roots` are both repos of the workspace. With a `complete` mark anywhere the change is
/// whole: the journals are deleted. Otherwise every journaled repo is rolled back, then its
/// journal deleted. A rollback that fails leaves its journal for the next run to try again.
pub fn recover(roots: &BTreeMap<Repo, PathBuf>) -> Result<Option<Recovery>> {
    let mut journals = Vec::new();
    for (repo, root) in roots {
        if let Some(journal) = read(root)? {
            journals.push((*repo, root.clone(), journal));
        }
    }
    if journals.is_empty() {
        return Ok(None);
    }
    let mut recovery = Recovery {
        command: journals[0].2.command.clone(),
        completed: journals.iter().any(|(_, _, j)| j.complete),
        warnings: Vec::new(),
    };
    // The gitops journal goes first: the foundation's holds the `complete` mark.
    journals.sort_by_key(|(repo, _, _)| std::cmp::Reverse(*repo));
    // Both repos' created files go before anything is restored: on a full disk (the two repos
    // often share one), that frees the space the restores need.
    if !recovery.completed {
        for (_, root, journal) in &journals {
            // What fails or is left here is met again, and reported, by the rollback below.
            let mut ignored = Vec::new();
            for entry in journal.entries.iter().rev().filter(|e| e.before.is_none()) {
                let _ = undo_entry(root, journal, entry, &mut ignored);
            }
        }
    }
    for (repo, root, journal) in &journals {
        if !recovery.completed {
            let warnings = rollback(root, journal).map_err(|cause| {
                Stopped::error(
                    Outcome::JournalKept,
                    RollbackError {
                        repo: *repo,
                        root: root.clone(),
                        cause,
                    },
                )
            })?;
            recovery
                .warnings
                .extend(warnings.into_iter().map(|w| format!("{repo}: {w}")));
        }
        remove(root)?;
    }
    Ok(Some(recovery))
}

fn file_mode(meta: &std::fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0o644
    }
}

/// The bytes and mode of a file of `repo` before a run touches it (`None`: no file).
pub fn before_image(
    repo: Repo,
    root: &Path,
    path: &str,
) -> Result<Option<(Vec<u8>, u32)>, WriteError> {
    let full = root.join(path);
    let unreadable = |err: std::io::Error| WriteError::File {
        repo,
        path: path.to_string(),
        doing: Doing::Reading,
        cause: err.into(),
    };
    match fs::symlink_metadata(&full) {
        Ok(meta) if meta.is_file() => {
            let bytes = fs::read(&full).map_err(unreadable)?;
            Ok(Some((bytes, file_mode(&meta))))
        }
        Ok(_) => Err(WriteError::NotAFile {
            repo,
            path: path.to_string(),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(unreadable(err)),
    }
}

/// Undoes one repo's part of a run. Returns what it left as it was.
/// Undoes one journaled path: puts back its bytes before the change, or removes the file the
/// change created; a path someone changed since is left as is, with a warning.
fn undo_entry(
    root: &Path,
    journal: &Journal,
    entry: &Entry,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let full = root.join(&entry.path);
    // A temporary file of an atomic write that never got renamed.
    if let (Some(dir), Some(name)) = (full.parent(), full.file_name()) {
        let tmp = dir.join(format!(
            ".{}.strata-{}.tmp",
            name.to_string_lossy(),
            journal.pid
        ));
        let _ = fs::remove_file(tmp);
    }
    let mut confined = crate::write::confine::Confined::new(root, None);
    let current = match confined.read(&entry.path) {
        Ok(current) => current,
        Err(refused) => {
            warnings.push(format!("{refused}; left as is"));
            return Ok(());
        }
    };
    let current_hash = current.as_deref().map(hash);
    let current_len = current.as_ref().map(Vec::len);
    match (&entry.before, current) {
        (Some((before, _)), Some(current)) if current == *before => {}
        (None, None) => {}
        // An empty file where strata wrote bytes: a rename that reached the disk before
        // its data did (a power cut before the final flush).
        (before, _)
            if current_hash.is_none()
                || current_hash == entry.after
                || (current_len == Some(0) && entry.after.is_some()) =>
        {
            match before {
                Some((bytes, mode)) => {
                    if let Some(dir) = full.parent() {
                        fs::create_dir_all(dir)?;
                    }
                    crate::util::fs::write_atomic(&full, bytes, Some(*mode))?;
                }
                None => fs::remove_file(&full)?,
            }
        }
        _ => warnings.push(format!(
            "`{}` changed after the interrupted run; left as is",
            entry.path
        )),
    }
    Ok(())
}

fn rollback(root: &Path, journal: &Journal) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    // Created files go first: on a full disk, deleting them frees the space that restoring
    // the git index and the files the change replaced needs, so the rollback completes.
    for entry in journal.entries.iter().rev().filter(|e| e.before.is_none()) {
        undo_entry(root, journal, entry, &mut warnings)?;
    }
    let git_dir = git::git_dir(root);
    if let (Some(head), Some(commit), Some(git_dir)) = (&journal.head, &journal.commit, &git_dir) {
        // A branch update stopped midway leaves libgit2's lock file.
        let _ = fs::remove_file(git::git_file(git_dir, &format!("{}.lock", head.branch)));
        if let Some(warning) = git::reset_branch(
            root,
            head,
            commit,
            &format!("strata: roll back the interrupted `{}`", journal.command),
        )? {
            warnings.push(warning);
        }
    }
    if let (Some(index), true, Some(git_dir)) = (&journal.index, journal.index_written, &git_dir) {
        let _ = fs::remove_file(git_dir.join("index.lock"));
        let target = git_dir.join("index");
        match index {
            Some(bytes) => crate::util::fs::write_atomic(&target, bytes, None)?,
            None => match fs::remove_file(&target) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
                _ => {}
            },
        }
    }
    if let Some(git_dir) = &git_dir {
        for (log, size) in &journal.logs {
            let target = git::git_file(git_dir, log);
            match size {
                Some(size) => {
                    if fs::metadata(&target).is_ok_and(|m| m.len() > *size) {
                        fs::OpenOptions::new()
                            .write(true)
                            .open(&target)?
                            .set_len(*size)?;
                    }
                }
                None => {
                    let _ = fs::remove_file(&target);
                }
            }
        }
    }
    for entry in journal.entries.iter().rev().filter(|e| e.before.is_some()) {
        undo_entry(root, journal, entry, &mut warnings)?;
    }
    let mut created: Vec<&String> = journal.created_dirs.iter().collect();
    created.sort_by_key(|dir| std::cmp::Reverse(dir.len()));
    for dir in created {
        let full = root.join(dir);
        if fs::read_dir(&full).is_ok_and(|mut entries| entries.next().is_none()) {
            fs::remove_dir(&full)?;
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_a_torn_mark_is_ignored() {
        let journal = Journal {
            pid: 42,
            repo: Some(Repo::Gitops),
            command: "add env qa".into(),
            entries: vec![
                Entry {
                    path: "apps/qa/kustomization.yaml".into(),
                    before: None,
                    after: Some(hash(b"x")),
                },
                Entry {
                    path: "strata.toml".into(),
                    before: Some((b"old\nbytes\n".to_vec(), 0o600)),
                    after: Some(hash(b"y")),
                },
                Entry {
                    path: "gone.yaml".into(),
                    before: Some((Vec::new(), 0o644)),
                    after: None,
                },
            ],
            created_dirs: vec!["apps/qa".into()],
            head: Some(HeadState {
                branch: "refs/heads/main".into(),
                commit: None,
            }),
            index: Some(Some(b"DIRC\0\n\0".to_vec())),
            logs: vec![
                ("logs/HEAD".into(), Some(120)),
                ("logs/refs/heads/main".into(), None),
            ],
            ..Journal::default()
        };
        let mut bytes = journal.encode();
        assert_eq!(Journal::decode(&bytes).unwrap(), journal);
        record(&mut bytes, "commit", b"abc");
        record(&mut bytes, "index-write", b"");
        let mut torn = bytes.clone();
        record(&mut torn, "complete", b"");
        torn.pop();
        let decoded = Journal::decode(&torn).unwrap();
        assert_eq!(decoded.commit.as_deref(), Some("abc"));
        assert!(decoded.index_written);
        assert!(!decoded.complete, "a torn mark does not count");
        let cut = journal.encode();
        assert!(Journal::decode(&cut[..cut.len() - 8]).is_err());
    }
}
