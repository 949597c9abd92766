//! The first commit of a new repo (`strata new`): initialised on `main`, its objects written
//! as one pack built in memory, its index read from the commit's tree.

use std::path::Path;

use anyhow::{Context as _, Result};
use git2::{ObjectType, Oid, Repository, RepositoryInitOptions, Signature};

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
    let sig = super::commit::signature(&repo)?;
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
        super::commit::stage_one(&repo, &mut index, dir, path, bytes)
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
