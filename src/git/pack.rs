//! New objects written as one pack built in memory, and trees edited into it.
//!
//! libgit2 writes every new object as a loose file (zlib, a temporary file, a rename, and often
//! a new `objects/xx/` directory); an `add env` of 300 services made about 2,000 of them for its
//! commit and as many for its merge bases, and creating those files (inodes and directories on
//! a well-used ext4 disk) was most of its time. Here the blobs and trees of one commit go into
//! one pack (whole objects, no delta search, fast compression) and its index, written beside
//! git's own packs: two files per commit, flushed with the change's `syncfs`. The commit object
//! itself is written by libgit2 (`Repository::commit`). `git gc` repacks them as usual.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Repository};

/// A pack file of whole (undeltified) objects, built in memory.
pub(super) struct PackBuilder {
    /// One compressor for every object: its state is large, so it is reset, not rebuilt.
    compress: flate2::Compress,
    body: Vec<u8>,
    count: u32,
    /// Objects already in the pack: identical files or trees are stored once.
    seen: HashSet<Oid>,
    /// (id, offset in the pack, CRC-32 of the packed object), for the index.
    entries: Vec<(Oid, u32, u32)>,
}

impl Default for PackBuilder {
    fn default() -> Self {
        Self {
            compress: flate2::Compress::new(flate2::Compression::fast(), true),
            body: Vec::new(),
            count: 0,
            seen: HashSet::new(),
            entries: Vec::new(),
        }
    }
}

/// The id git gives an object (SHA-1 of its header and bytes).
pub(super) fn object_id(kind: ObjectType, data: &[u8]) -> Result<Oid> {
    use sha1::Digest as _;
    let name = match kind {
        ObjectType::Commit => "commit",
        ObjectType::Tree => "tree",
        _ => "blob",
    };
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("{name} {}\0", data.len()).as_bytes());
    hasher.update(data);
    Ok(Oid::from_bytes(&hasher.finalize())?)
}

impl PackBuilder {
    /// Whether the pack holds no object.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds an object and returns its id.
    pub(super) fn add(&mut self, kind: ObjectType, data: &[u8]) -> Result<Oid> {
        let oid = object_id(kind, data)?;
        self.add_with_id(kind, data, oid)?;
        Ok(oid)
    }

    /// Adds an object whose id the caller computed already.
    fn add_with_id(&mut self, kind: ObjectType, data: &[u8], oid: Oid) -> Result<()> {
        if !self.seen.insert(oid) {
            return Ok(());
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
        Ok(())
    }

    /// The pack's name, the pack (header, objects, SHA-1 trailer) and its version-2 index.
    pub(super) fn finish(mut self) -> (String, Vec<u8>, Vec<u8>) {
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
        // The fan-out table: how many ids start with a byte up to each value.
        let mut below = 0usize;
        for first in 0..=255u8 {
            while below < self.entries.len() && self.entries[below].0.as_bytes()[0] <= first {
                below += 1;
            }
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

    /// Writes the pack and its index into a repo's object database (the common one of a linked
    /// work tree), each through a temporary file renamed into place, the index last (git reads
    /// a pack through its index), and makes `repo` see them. Nothing is flushed here: the
    /// caller's `syncfs` does it with the rest of the change. An empty pack writes nothing.
    pub(super) fn write_to(self, repo: &Repository) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let (name, pack, index) = self.finish();
        let dir = repo.commondir().join("objects/pack");
        fs_err::create_dir_all(&dir)?;
        for (ext, bytes) in [("pack", &pack), ("idx", &index)] {
            let target = dir.join(format!("pack-{name}.{ext}"));
            let tmp = dir.join(format!(
                ".tmp-strata-{}-pack-{name}.{ext}",
                std::process::id()
            ));
            let result = (|| -> Result<()> {
                let mut file = fs_err::File::create(&tmp)?;
                file.write_all(bytes)?;
                drop(file);
                fs_err::rename(&tmp, &target)?;
                Ok(())
            })();
            if result.is_err() {
                let _ = fs_err::remove_file(&tmp);
            }
            result.with_context(|| format!("writing the pack `{}`", target.display()))?;
        }
        repo.odb()?.refresh()?;
        Ok(())
    }
}

/// Git orders the entries of a tree by name, a directory's name compared as if it ended in `/`.
fn tree_order(a: &(Vec<u8>, i32, Oid), b: &(Vec<u8>, i32, Oid)) -> std::cmp::Ordering {
    fn key(entry: &(Vec<u8>, i32, Oid)) -> impl Iterator<Item = u8> + '_ {
        let dir = entry.1 == 0o040_000;
        entry.0.iter().copied().chain(dir.then_some(b'/'))
    }
    key(a).cmp(key(b))
}

/// The bytes of a tree object.
pub(super) fn tree_bytes(entries: &mut [(Vec<u8>, i32, Oid)]) -> Vec<u8> {
    entries.sort_by(tree_order);
    let mut body = Vec::with_capacity(entries.len() * 48);
    for (name, mode, oid) in entries.iter() {
        body.extend_from_slice(format!("{mode:o}").as_bytes());
        body.push(b' ');
        body.extend_from_slice(name);
        body.push(0);
        body.extend_from_slice(oid.as_bytes());
    }
    body
}

/// A file's new content in a tree edit: its bytes, and a mode to force (`None`: keep the mode
/// it had, `100644` for a new file).
pub(super) struct Upsert<'a> {
    pub bytes: &'a [u8],
    pub mode: Option<i32>,
}

/// What a tree edit does at one path: write a file, or remove it.
pub(super) type Edits<'a> = BTreeMap<&'a str, Option<Upsert<'a>>>;

/// `base` (or an empty tree) with `edits` applied: the new blobs and trees go into `pack`
/// (unless the repo has them already); returns the id of the new root tree. A directory left
/// empty disappears, as in git.
pub(super) fn edit_tree(
    repo: &Repository,
    pack: &mut PackBuilder,
    base: Option<&git2::Tree<'_>>,
    edits: &Edits<'_>,
) -> Result<Oid> {
    let odb = repo.odb()?;
    let edits: Vec<(&str, &Option<Upsert<'_>>)> = edits.iter().map(|(p, e)| (*p, e)).collect();
    let id = edit_dir(repo, &odb, pack, base, &edits)?;
    match id {
        Some(id) => Ok(id),
        None => {
            let mut empty = Vec::new();
            let bytes = tree_bytes(&mut empty);
            put(&odb, pack, ObjectType::Tree, &bytes)
        }
    }
}

/// Whether the repo has an object, as its object database stood when it was opened: a miss
/// does not rescan `objects/pack/` (libgit2 does by default, once per missing object: an
/// `add env` asked about 1,500 new blobs, and rescanned the directory as often). An object
/// another process wrote since is at worst stored once more in this pack.
fn has(odb: &git2::Odb<'_>, oid: Oid) -> bool {
    odb.exists_ext(oid, git2::OdbLookupFlags::NO_REFRESH)
}

/// Adds an object to the pack unless the repo has it; returns its id.
fn put(odb: &git2::Odb<'_>, pack: &mut PackBuilder, kind: ObjectType, bytes: &[u8]) -> Result<Oid> {
    let oid = object_id(kind, bytes)?;
    if !has(odb, oid) {
        pack.add_with_id(kind, bytes, oid)?;
    }
    Ok(oid)
}

/// One directory of [`edit_tree`]: `edits` hold paths relative to it, sorted. Returns `None`
/// for a directory left empty.
fn edit_dir(
    repo: &Repository,
    odb: &git2::Odb<'_>,
    pack: &mut PackBuilder,
    base: Option<&git2::Tree<'_>>,
    edits: &[(&str, &Option<Upsert<'_>>)],
) -> Result<Option<Oid>> {
    let mut entries: BTreeMap<Vec<u8>, (i32, Oid)> = base
        .map(|tree| {
            tree.iter()
                .map(|e| (e.name_bytes().to_vec(), (e.filemode_raw(), e.id())))
                .collect()
        })
        .unwrap_or_default();
    let before = entries.clone();
    let mut i = 0;
    while i < edits.len() {
        let (path, edit) = edits[i];
        match path.split_once('/') {
            None => {
                let name = path.as_bytes().to_vec();
                match edit {
                    Some(upsert) => {
                        let kept = entries
                            .get(&name)
                            .map(|(mode, _)| *mode)
                            .filter(|mode| *mode == 0o100_755 || *mode == 0o100_644);
                        let mode = upsert.mode.or(kept).unwrap_or(0o100_644);
                        let oid = object_id(ObjectType::Blob, upsert.bytes)?;
                        if entries.get(&name) != Some(&(mode, oid)) {
                            if !has(odb, oid) {
                                pack.add_with_id(ObjectType::Blob, upsert.bytes, oid)?;
                            }
                            entries.insert(name, (mode, oid));
                        }
                    }
                    None => {
                        entries.remove(&name);
                    }
                }
                i += 1;
            }
            Some((dir, _)) => {
                // Every edit under `dir/` at once (they are sorted, so they are together).
                let prefix_len = dir.len() + 1;
                let mut j = i;
                let mut inner = Vec::new();
                while j < edits.len()
                    && edits[j].0.len() > prefix_len
                    && edits[j].0.starts_with(dir)
                    && edits[j].0.as_bytes()[dir.len()] == b'/'
                {
                    inner.push((&edits[j].0[prefix_len..], edits[j].1));
                    j += 1;
                }
                let name = dir.as_bytes().to_vec();
                let subtree = match entries.get(&name) {
                    Some((0o040_000, oid)) => Some(repo.find_tree(*oid)?),
                    _ => None,
                };
                match edit_dir(repo, odb, pack, subtree.as_ref(), &inner)? {
                    Some(oid) => {
                        entries.insert(name, (0o040_000, oid));
                    }
                    None => {
                        entries.remove(&name);
                    }
                }
                i = j;
            }
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    if let (Some(tree), true) = (base, entries == before) {
        return Ok(Some(tree.id()));
    }
    let mut list: Vec<(Vec<u8>, i32, Oid)> = entries
        .into_iter()
        .map(|(name, (mode, oid))| (name, mode, oid))
        .collect();
    let bytes = tree_bytes(&mut list);
    Ok(Some(put(odb, pack, ObjectType::Tree, &bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_tree_is_the_tree_libgit2_builds() {
        let dir = std::env::temp_dir().join(format!("strata-pack-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        let repo = Repository::init(&dir).unwrap();
        // The same edits through libgit2's own tree updates, for comparison.
        let base = {
            let mut update = git2::build::TreeUpdateBuilder::new();
            let empty = repo
                .find_tree(repo.treebuilder(None).unwrap().write().unwrap())
                .unwrap();
            for (path, bytes) in [("a/b.yaml", "1"), ("a/c/d", "2"), ("a.b", "3"), ("z", "4")] {
                let blob = repo.blob(bytes.as_bytes()).unwrap();
                update.upsert(path, blob, git2::FileMode::Blob);
            }
            let id = update.create_updated(&repo, &empty).unwrap();
            repo.find_tree(id).unwrap()
        };
        let mut pack = PackBuilder::default();
        let mut edits: Edits<'_> = BTreeMap::new();
        edits.insert("a/c/d", None);
        edits.insert(
            "a/b.yaml",
            Some(Upsert {
                bytes: b"5",
                mode: None,
            }),
        );
        edits.insert(
            "a-b/x",
            Some(Upsert {
                bytes: b"6",
                mode: None,
            }),
        );
        edits.insert(
            "a/e",
            Some(Upsert {
                bytes: b"7",
                mode: Some(0o100_755),
            }),
        );
        let ours = edit_tree(&repo, &mut pack, Some(&base), &edits).unwrap();
        pack.write_to(&repo).unwrap();

        let mut update = git2::build::TreeUpdateBuilder::new();
        update.remove("a/c/d");
        update.upsert("a/b.yaml", repo.blob(b"5").unwrap(), git2::FileMode::Blob);
        update.upsert("a-b/x", repo.blob(b"6").unwrap(), git2::FileMode::Blob);
        update.upsert(
            "a/e",
            repo.blob(b"7").unwrap(),
            git2::FileMode::BlobExecutable,
        );
        let theirs = update.create_updated(&repo, &base).unwrap();
        assert_eq!(ours, theirs);
        let tree = repo.find_tree(ours).unwrap();
        assert!(
            tree.get_path(std::path::Path::new("a/c")).is_err(),
            "an emptied directory goes"
        );
        assert_eq!(
            repo.find_blob(tree.get_path(std::path::Path::new("a-b/x")).unwrap().id())
                .unwrap()
                .content(),
            b"6"
        );
        let unchanged = edit_tree(
            &repo,
            &mut PackBuilder::default(),
            Some(&tree),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(unchanged, ours);
        fs_err::remove_dir_all(&dir).unwrap();
    }
}
