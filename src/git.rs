//! Git, through git2: the only module that knows about it.
//!
//! strata initialises repos on `main` with one commit, commits the files a command changed
//! (`--commit`), asks whether files it must touch have uncommitted changes, and can put a branch
//! back where it was when a change is rolled back. Machines without a git identity get a fixed
//! signature.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Repository, RepositoryInitOptions, Signature, Status, StatusOptions};

fn signature(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(sig) => Ok(sig.to_owned()),
        Err(_) => Ok(Signature::now("strata", "strata@localhost")?),
    }
}

/// Initialises a repo on `main` and commits `files` (path, bytes), which are already on disk.
///
/// The commit is written as one pack built here from the bytes in memory (no deltas, fast
/// compression), which libgit2 then indexes; the index is read from the commit's tree. This
/// avoids hashing every file back from disk and creating a loose object (and often a directory)
/// per file, which was most of the time of `strata new`.
pub fn init_and_commit(dir: &Path, files: &[(&str, &[u8])], message: &str) -> Result<()> {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main").external_template(false);
    let repo = Repository::init_opts(dir, &options)
        .with_context(|| format!("initialising a git repo in `{}`", dir.display()))?;

    let mut pack = PackBuilder::default();
    #[derive(Default)]
    struct Node<'a> {
        entries: Vec<(&'a str, Oid)>,
        dirs: std::collections::BTreeMap<&'a str, Node<'a>>,
    }
    fn write_tree(pack: &mut PackBuilder, node: &Node<'_>) -> Result<Oid> {
        // Git orders tree entries by name, a directory's name compared as if it ended in `/`.
        let mut entries: Vec<(String, &str, Oid)> = node
            .entries
            .iter()
            .map(|(name, oid)| ((*name).to_string(), "100644", *oid))
            .collect();
        for (name, child) in &node.dirs {
            let oid = write_tree(pack, child)?;
            entries.push((format!("{name}/"), "40000", oid));
        }
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut body = Vec::new();
        for (key, mode, oid) in entries {
            body.extend_from_slice(mode.as_bytes());
            body.push(b' ');
            body.extend_from_slice(key.trim_end_matches('/').as_bytes());
            body.push(0);
            body.extend_from_slice(oid.as_bytes());
        }
        pack.add(ObjectType::Tree, body)
    }
    let mut root = Node::default();
    for (path, bytes) in files {
        let oid = pack.add(ObjectType::Blob, bytes.to_vec())?;
        let mut parts: Vec<&str> = path.split('/').collect();
        let name = parts.pop().context("a file path has a name")?;
        let mut node = &mut root;
        for part in parts {
            node = node.dirs.entry(part).or_default();
        }
        node.entries.push((name, oid));
    }
    let tree = write_tree(&mut pack, &root)?;
    let sig = signature(&repo)?;
    let stamp = |sig: &Signature<'_>| {
        let offset = sig.when().offset_minutes();
        let sign = if offset < 0 { '-' } else { '+' };
        format!(
            "{} <{}> {} {sign}{:02}{:02}",
            sig.name().unwrap_or("strata"),
            sig.email().unwrap_or("strata@localhost"),
            sig.when().seconds(),
            offset.abs() / 60,
            offset.abs() % 60
        )
    };
    let commit_body = format!(
        "tree {tree}\nauthor {}\ncommitter {}\n\n{message}\n",
        stamp(&sig),
        stamp(&sig)
    );
    let commit = pack.add(ObjectType::Commit, commit_body.into_bytes())?;

    let (name, pack_bytes, index_bytes) = pack.finish();
    let pack_dir = repo.path().join("objects/pack");
    fs_err::write(pack_dir.join(format!("pack-{name}.pack")), pack_bytes)?;
    fs_err::write(pack_dir.join(format!("pack-{name}.idx")), index_bytes)?;
    repo.odb()?.refresh()?;
    repo.reference(
        "refs/heads/main",
        commit,
        true,
        &format!(
            "commit (initial): {}",
            message.lines().next().unwrap_or_default()
        ),
    )?;

    // The index carries each file's stat data, as `git add` would: later status checks (git's
    // and strata's) then trust it instead of reading and hashing every file again.
    let mut index = repo.index()?;
    for (path, bytes) in files {
        stage_one(&repo, &mut index, dir, path, bytes)
            .with_context(|| format!("staging `{path}`"))?;
    }
    index.write()?;
    Ok(())
}

/// A pack file of whole (undeltified) objects, built in memory.
struct PackBuilder {
    /// One compressor for every object: its state is large, so it is reset, not rebuilt.
    compress: flate2::Compress,
    body: Vec<u8>,
    count: u32,
    /// Objects already in the pack: identical files or trees are stored once.
    seen: std::collections::HashSet<Oid>,
    /// (id, offset in the pack, CRC-32 of the packed object), for the index.
    entries: Vec<(Oid, u32, u32)>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self {
            compress: flate2::Compress::new(flate2::Compression::fast(), true),
            body: Vec::new(),
            count: 0,
            seen: std::collections::HashSet::new(),
            entries: Vec::new(),
        }
    }
}

impl PackBuilder {
    /// Adds an object and returns its id.
    fn add(&mut self, kind: ObjectType, data: Vec<u8>) -> Result<Oid> {
        use sha1::Digest as _;
        let code_name = match kind {
            ObjectType::Commit => "commit",
            ObjectType::Tree => "tree",
            _ => "blob",
        };
        let mut hasher = sha1::Sha1::new();
        hasher.update(format!("{code_name} {}\0", data.len()).as_bytes());
        hasher.update(&data);
        let oid = Oid::from_bytes(&hasher.finalize())?;
        if !self.seen.insert(oid) {
            return Ok(oid);
        }
        let start = self.body.len();
        let code: u8 = match kind {
            ObjectType::Commit => 1,
            ObjectType::Tree => 2,
            ObjectType::Blob => 3,
            _ => anyhow::bail!("unsupported object type in a pack"),
        };
        // Object header: type and size, 4 bits of size then 7 bits per continuation byte.
        let mut size = data.len();
        let mut byte = (code << 4) | u8::try_from(size & 0x0f).expect("four bits");
        size >>= 4;
        while size > 0 {
            self.body.push(byte | 0x80);
            byte = u8::try_from(size & 0x7f).expect("seven bits");
            size >>= 7;
        }
        self.body.push(byte);
        self.compress.reset();
        self.body.reserve(data.len() / 2 + 64);
        loop {
            let status = self.compress.compress_vec(
                &data[usize::try_from(self.compress.total_in())?..],
                &mut self.body,
                flate2::FlushCompress::Finish,
            )?;
            if status == flate2::Status::StreamEnd {
                break;
            }
            self.body.reserve(data.len() / 2 + 1024);
        }
        let offset = u32::try_from(12 + start)?;
        self.entries
            .push((oid, offset, crc32fast::hash(&self.body[start..])));
        self.count += 1;
        Ok(oid)
    }

    /// The pack's name, the pack (header, objects, SHA-1 trailer) and its version-2 index.
    fn finish(mut self) -> (String, Vec<u8>, Vec<u8>) {
        use sha1::Digest as _;
        let mut pack = Vec::with_capacity(self.body.len() + 32);
        pack.extend_from_slice(b"PACK");
        pack.extend_from_slice(&2u32.to_be_bytes());
        pack.extend_from_slice(&self.count.to_be_bytes());
        pack.extend_from_slice(&self.body);
        let checksum = sha1::Sha1::digest(&pack);
        pack.extend_from_slice(&checksum);

        self.entries
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut index = Vec::with_capacity(1072 + self.entries.len() * 28 + 40);
        index.extend_from_slice(b"\xfftOc");
        index.extend_from_slice(&2u32.to_be_bytes());
        for first in 0..=255u8 {
            let below = self
                .entries
                .iter()
                .filter(|(oid, _, _)| oid.as_bytes()[0] <= first)
                .count();
            index.extend_from_slice(&u32::try_from(below).unwrap_or(u32::MAX).to_be_bytes());
        }
        for (oid, _, _) in &self.entries {
            index.extend_from_slice(oid.as_bytes());
        }
        for (_, _, crc) in &self.entries {
            index.extend_from_slice(&crc.to_be_bytes());
        }
        for (_, offset, _) in &self.entries {
            index.extend_from_slice(&offset.to_be_bytes());
        }
        index.extend_from_slice(&checksum);
        let index_checksum = sha1::Sha1::digest(&index);
        index.extend_from_slice(&index_checksum);
        let name: String = checksum.iter().map(|b| format!("{b:02x}")).collect();
        (name, pack, index)
    }
}

/// Paths among `paths` whose content differs from the HEAD commit: modified, deleted, or
/// present but not committed, each with whether the difference is staged in the index (a
/// staged change counts even when the work tree matches HEAD again). Only these paths are read
/// and hashed, so the cost does not grow with the size of the repo. A directory that is not a
/// git repo has no uncommitted changes.
pub fn dirty_paths(dir: &Path, paths: &[String]) -> Result<Vec<(String, bool)>> {
    let Ok(repo) = Repository::open(dir) else {
        return Ok(Vec::new());
    };
    let head = repo.head().ok().and_then(|head| head.peel_to_tree().ok());
    let index = repo.index().ok();
    let endings = LineEndings::open(dir);
    let mut dirty = Vec::new();
    for path in paths {
        let committed = head
            .as_ref()
            .and_then(|tree| tree.get_path(Path::new(path)).ok())
            .map(|entry| entry.id());
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

/// Stages one file whose stored bytes are known: an index entry with the work tree file's stat
/// data and the blob of `bytes`.
#[cfg(unix)]
fn stage_one(
    repo: &Repository,
    index: &mut git2::Index,
    root: &Path,
    path: &str,
    bytes: &[u8],
) -> Result<()> {
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
        id: repo.blob(bytes)?,
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    };
    index.add(&entry)?;
    Ok(())
}

#[cfg(not(unix))]
fn stage_one(
    _repo: &Repository,
    index: &mut git2::Index,
    _root: &Path,
    path: &str,
    _bytes: &[u8],
) -> Result<()> {
    index.add_path(Path::new(path))?;
    Ok(())
}

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
    Ok(())
}

/// How git converts a path's line endings between the work tree and the repo, following
/// `core.autocrlf`, `core.eol` and the `text` and `eol` attributes (git's `convert.c`).
pub struct LineEndings {
    repo: Option<Repository>,
    autocrlf: Autocrlf,
    core_eol_crlf: bool,
    /// Whether a repo-wide gitattributes file applies (`info/attributes`, the user's, the
    /// system's, the root's): then every path needs an attribute lookup.
    attributes: bool,
    /// For each directory checked, whether it or a parent below the root holds a
    /// `.gitattributes`: without one, only the configuration converts, and the path needs no
    /// attribute lookup (each costs libgit2 a few file lookups per parent directory).
    dir_attributes: std::cell::RefCell<std::collections::HashMap<String, bool>>,
}

impl std::fmt::Debug for LineEndings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineEndings")
            .field("git", &self.repo.is_some())
            .field("autocrlf", &self.autocrlf)
            .field("core_eol_crlf", &self.core_eol_crlf)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Autocrlf {
    False,
    True,
    Input,
}

/// Whether a repo-wide gitattributes file applies: the work tree's root `.gitattributes`,
/// `info/attributes`, the user's (`core.attributesFile`, or `$XDG_CONFIG_HOME/git/attributes`)
/// or the system's.
fn has_attributes(repo: &Repository) -> bool {
    let exists = |path: &Path| fs_err::symlink_metadata(path).is_ok();
    if repo
        .workdir()
        .is_some_and(|w| exists(&w.join(".gitattributes")))
        || exists(&repo.path().join("info/attributes"))
        || exists(Path::new("/etc/gitattributes"))
    {
        return true;
    }
    let user = repo
        .config()
        .ok()
        .and_then(|c| c.get_path("core.attributesFile").ok())
        .or_else(|| {
            std::env::var_os("XDG_CONFIG_HOME")
                .map(std::path::PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
                .map(|dir| dir.join("git/attributes"))
        });
    user.is_some_and(|path| exists(&path))
}

/// The state of a git attribute for a path.
#[derive(Debug, PartialEq, Eq)]
enum Attr {
    Set,
    Unset,
    Value(String),
    Unspecified,
}

impl LineEndings {
    /// The rules of the repo at `root`; a directory without git of its own converts nothing.
    pub fn open(root: &Path) -> Self {
        let repo = git_dir(root).and_then(|_| Repository::open(root).ok());
        let (autocrlf, core_eol_crlf) = repo
            .as_ref()
            .and_then(|repo| repo.config().ok())
            .map(|config| {
                let autocrlf = match config.get_string("core.autocrlf").ok().as_deref() {
                    Some("input") => Autocrlf::Input,
                    Some(value) if git2::Config::parse_bool(value).unwrap_or(false) => {
                        Autocrlf::True
                    }
                    _ => Autocrlf::False,
                };
                let eol = config.get_string("core.eol").ok();
                (autocrlf, eol.as_deref() == Some("crlf"))
            })
            .unwrap_or((Autocrlf::False, false));
        let attributes = repo.as_ref().is_some_and(has_attributes);
        Self {
            repo,
            autocrlf,
            core_eol_crlf,
            attributes,
            dir_attributes: Default::default(),
        }
    }

    /// Whether a directory on the way from the root to `path` (the root excluded: it counts
    /// as repo-wide) holds a `.gitattributes`; one check per directory, remembered.
    fn dir_has_attributes(&self, repo: &Repository, path: &str) -> bool {
        let Some(workdir) = repo.workdir() else {
            return false;
        };
        let mut memo = self.dir_attributes.borrow_mut();
        let mut found = false;
        let mut dir = String::new();
        for part in path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(part);
            let here = *memo.entry(dir.clone()).or_insert_with(|| {
                fs_err::symlink_metadata(workdir.join(&dir).join(".gitattributes")).is_ok()
            });
            found |= here;
        }
        found
    }

    /// (git turns CRLF into LF when it stores the path, git writes CRLF when it checks it out).
    fn rules(&self, path: &str) -> (bool, bool) {
        let Some(repo) = &self.repo else {
            return (false, false);
        };
        if !self.attributes && !self.dir_has_attributes(repo, path) {
            return match self.autocrlf {
                Autocrlf::False => (false, false),
                Autocrlf::True => (true, true),
                Autocrlf::Input => (true, false),
            };
        }
        // libgit2 tells "set" and "unset" from a string value by the pointer it returns, so the
        // value is classified as returned, never after a copy. `crlf` is git's old name for `text`.
        let attr = |name: &str| -> Attr {
            let value = repo
                .get_attr_bytes(Path::new(path), name, git2::AttrCheckFlags::FILE_THEN_INDEX)
                .ok()
                .flatten();
            match git2::AttrValue::from_bytes(value) {
                git2::AttrValue::True => Attr::Set,
                git2::AttrValue::False => Attr::Unset,
                git2::AttrValue::String(value) => Attr::Value(value.to_string()),
                git2::AttrValue::Bytes(_) | git2::AttrValue::Unspecified => Attr::Unspecified,
            }
        };
        let text = match attr("text") {
            Attr::Unspecified => attr("crlf"),
            text => text,
        };
        let eol = attr("eol");
        let eol_crlf = eol == Attr::Value("crlf".to_string());
        let eol_lf = eol == Attr::Value("lf".to_string());
        // `binary` is a macro for `-text`, which libgit2 expands.
        if text == Attr::Unset {
            return (false, false);
        }
        let is_text =
            text == Attr::Set || text == Attr::Value("auto".to_string()) || eol_crlf || eol_lf;
        if !is_text {
            // No attribute: only `core.autocrlf` converts.
            return match self.autocrlf {
                Autocrlf::False => (false, false),
                Autocrlf::True => (true, true),
                Autocrlf::Input => (true, false),
            };
        }
        let crlf = if eol_crlf {
            true
        } else if eol_lf {
            false
        } else {
            match self.autocrlf {
                Autocrlf::True => true,
                Autocrlf::Input => false,
                Autocrlf::False => self.core_eol_crlf,
            }
        };
        (true, crlf)
    }

    /// The bytes git stores for a file of the work tree: CRLF turned into LF where git does.
    pub fn to_git(&self, path: &str, bytes: Vec<u8>) -> Vec<u8> {
        if !bytes.contains(&b'\r') || !self.rules(path).0 {
            return bytes;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut iter = bytes.iter().peekable();
        while let Some(&byte) = iter.next() {
            if byte == b'\r' && iter.peek() == Some(&&b'\n') {
                continue;
            }
            out.push(byte);
        }
        out
    }

    /// The bytes git would check out for content strata renders (LF): LF turned into CRLF where
    /// the repo expects CRLF.
    pub fn to_worktree<'a>(&self, path: &str, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if !bytes.contains(&b'\n') || !self.rules(path).1 {
            return std::borrow::Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 20);
        let mut previous = 0u8;
        for &byte in bytes {
            if byte == b'\n' && previous != b'\r' {
                out.push(b'\r');
            }
            out.push(byte);
            previous = byte;
        }
        std::borrow::Cow::Owned(out)
    }
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
/// work tree enters it. The new objects are flushed to disk. Returns the commit's id.
pub fn write_commit(
    root: &Path,
    head: &HeadState,
    written: &[(String, Vec<u8>)],
    removed: &[String],
    message: &str,
) -> Result<String> {
    let repo = Repository::open(root)
        .with_context(|| format!("opening the git repo in `{}`", root.display()))?;
    let parent = head
        .commit
        .as_deref()
        .map(|id| repo.find_commit(Oid::from_str(id)?))
        .transpose()?;
    let base = match &parent {
        Some(commit) => commit.tree()?,
        None => repo.find_tree(repo.treebuilder(None)?.write()?)?,
    };
    let mut update = git2::build::TreeUpdateBuilder::new();
    let mut new_objects = Vec::new();
    for (path, bytes) in written {
        let blob = repo.blob(bytes)?;
        new_objects.push(blob);
        let mode = match base.get_path(Path::new(path)).map(|e| e.filemode()) {
            Ok(0o100755) => git2::FileMode::BlobExecutable,
            _ => git2::FileMode::Blob,
        };
        update.upsert(path.as_str(), blob, mode);
    }
    for path in removed {
        if base.get_path(Path::new(path)).is_ok() {
            update.remove(path.as_str());
        }
    }
    let tree_id = update.create_updated(&repo, &base)?;
    let tree = repo.find_tree(tree_id)?;
    // The trees along every changed path are new objects too.
    new_objects.push(tree_id);
    for path in written.iter().map(|(p, _)| p).chain(removed) {
        let mut prefix = Path::new(path).parent();
        while let Some(dir) = prefix.filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(entry) = tree.get_path(dir) {
                new_objects.push(entry.id());
            }
            prefix = dir.parent();
        }
    }
    let sig = signature(&repo)?;
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let commit = repo.commit(None, &sig, &sig, message, &tree, &parents)?;
    // The new objects reach the disk with the change's `syncfs` (apply.rs), before the
    // journal's `complete` mark.
    Ok(commit.to_string())
}

/// Moves the branch HEAD names from `head.commit` to `commit`, only if it still points where
/// strata found it, and flushes the ref to disk.
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
    let ref_file = git_file(repo.path(), &head.branch);
    if let Ok(file) = fs_err::File::open(&ref_file) {
        file.sync_all()?;
    }
    if let Some(dir) = ref_file.parent() {
        crate::util::fs::sync_dir(dir)?;
    }
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
        stage_one(&repo, &mut index, root, path, bytes)
            .with_context(|| format!("staging `{path}`"))?;
    }
    for path in removed {
        index
            .remove_path(Path::new(path))
            .with_context(|| format!("staging the removal of `{path}`"))?;
    }
    index.write()?;
    if let Ok(file) = fs_err::File::open(repo.path().join("index")) {
        file.sync_all()?;
    }
    Ok(())
}
