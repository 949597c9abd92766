//! Git, through git2: the only module that knows about it.
//!
//! strata initialises repos on `main` with one commit, commits the files a command changed
//! (`--commit`), asks whether files it must touch have uncommitted changes, and can undo its
//! own commit when the other repo's commit fails. Machines without a git identity get a fixed
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
    std::fs::write(pack_dir.join(format!("pack-{name}.pack")), pack_bytes)?;
    std::fs::write(pack_dir.join(format!("pack-{name}.idx")), index_bytes)?;
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

    let mut index = repo.index()?;
    index.read_tree(&repo.find_tree(tree)?)?;
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
/// present but not committed. Only these paths are read and hashed, so the cost does not grow
/// with the size of the repo. (A change staged in the index and then undone in the work tree
/// is not seen.) A directory that is not a git repo has no uncommitted changes.
pub fn dirty_paths(dir: &Path, paths: &[String]) -> Result<Vec<String>> {
    let Ok(repo) = Repository::open(dir) else {
        return Ok(Vec::new());
    };
    let head = repo.head().ok().and_then(|head| head.peel_to_tree().ok());
    let mut dirty = Vec::new();
    for path in paths {
        let committed = head
            .as_ref()
            .and_then(|tree| tree.get_path(Path::new(path)).ok())
            .map(|entry| entry.id());
        let on_disk = match std::fs::read(dir.join(path)) {
            Ok(bytes) => Some(bytes),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(err).with_context(|| format!("reading `{path}`")),
        };
        let changed = match (on_disk, committed) {
            (None, None) => false,
            (Some(bytes), Some(oid)) => Oid::hash_object(ObjectType::Blob, &bytes)? != oid,
            _ => true,
        };
        if changed {
            dirty.push(path.clone());
        }
    }
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
