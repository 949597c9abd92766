//! `strata.lock`: what strata last wrote in a repo, as a content hash per file.
//!
//! The lock is how strata tells a file it wrote and nobody touched (safe to update) from a file
//! someone edited (a conflict). Each repo has its own lock, naming which repo it is. This module
//! owns the format and hashing; it does no I/O.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::model::repo::Repo;
use crate::util::problem::Problem;

/// The file name of the lock at the root of each repo.
pub const FILE_NAME: &str = "strata.lock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub format: u32,
    /// Which repo of the workspace this is.
    pub repo: Repo,
    /// Path -> `sha256:<hex>` of the bytes strata last wrote there.
    pub files: BTreeMap<String, String>,
    /// Shared files (`plan/merge.rs`): path -> unit -> hash of the value strata last wrote.
    pub units: BTreeMap<String, BTreeMap<String, String>>,
}

/// The format this strata writes; it reads 1 (no shared files) and 2.
pub const FORMAT: u32 = 2;

const HEADER: &str =
    "# Written by strata: the hash of every file it last wrote here. Do not edit.\n";

impl Lock {
    pub fn new(repo: Repo) -> Self {
        Self {
            format: FORMAT,
            repo,
            files: BTreeMap::new(),
            units: BTreeMap::new(),
        }
    }

    /// Parses the line format: `format 2`, `repo <name>`, then `sha256:<hex> <path>` lines and,
    /// for shared files, `unit sha256:<hex> <path>\t<unit>` lines.
    /// A plain format rather than TOML: workspaces of hundreds of services hold thousands of
    /// entries, and this parses them in well under a millisecond.
    pub fn parse(text: &str, path: &str) -> Result<Lock, Problem> {
        let fail = |line: usize, why: &str| {
            Problem::new(format!("`{path}`:{line}:1"), why.to_string())
                .hint("strata writes this file; restore it from git rather than editing it")
        };
        let mut format = None;
        let mut repo = None;
        let mut files = BTreeMap::new();
        let mut units: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once(' ')
                .ok_or_else(|| fail(number, "is not `KEY VALUE`"))?;
            match key {
                "format" => match value {
                    "1" => format = Some(1),
                    "2" => format = Some(2),
                    other => {
                        return Err(fail(
                            number,
                            &format!("has format `{other}`, this strata reads formats 1 and 2"),
                        ))
                    }
                },
                "unit" => {
                    let (hash, rest) = value
                        .split_once(' ')
                        .filter(|(h, _)| h.starts_with("sha256:") && h.len() == 71)
                        .ok_or_else(|| {
                            fail(number, "is not a `unit sha256:<hex> <path>\t<unit>` line")
                        })?;
                    let (path, unit) = rest.split_once('\t').ok_or_else(|| {
                        fail(number, "is not a `unit sha256:<hex> <path>\t<unit>` line")
                    })?;
                    units
                        .entry(path.to_string())
                        .or_default()
                        .insert(unit.to_string(), hash.to_string());
                }
                "repo" => {
                    repo = Some(match value {
                        "foundation" => Repo::Foundation,
                        "gitops" => Repo::Gitops,
                        other => {
                            return Err(fail(
                                number,
                                &format!("names repo `{other}`, expected `foundation` or `gitops`"),
                            ))
                        }
                    });
                }
                hash if hash.starts_with("sha256:") && hash.len() == 71 => {
                    if !is_repo_path(value) {
                        return Err(fail(
                            number,
                            &format!(
                                "names `{}`, a path strata never writes",
                                value.escape_default()
                            ),
                        ));
                    }
                    files.insert(value.to_string(), hash.to_string());
                }
                _ => return Err(fail(number, "is not a `sha256:<hex> <path>` line")),
            }
        }
        Ok(Lock {
            format: format.ok_or_else(|| fail(1, "has no `format` line"))?,
            repo: repo.ok_or_else(|| fail(1, "has no `repo` line"))?,
            files,
            units,
        })
    }

    /// Drops the entries of `paths` whose file no longer exists (`exists` says which do).
    pub fn forget_missing<'a>(
        &mut self,
        paths: impl IntoIterator<Item = &'a str>,
        mut exists: impl FnMut(&str) -> bool,
    ) {
        for path in paths {
            if self.files.contains_key(path) && !exists(path) {
                self.files.remove(path);
                // A shared file's units go with it: `pulumi stack rm` deletes the stack file
                // before `strata remove env`.
                self.units.remove(path);
            }
        }
    }

    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(HEADER.len() + 32 + self.files.len() * 100);
        out.push_str(HEADER);
        out.push_str(&format!("format {FORMAT}\nrepo {}\n", self.repo));
        for (path, hash) in &self.files {
            out.push_str(hash);
            out.push(' ');
            out.push_str(path);
            out.push('\n');
        }
        for (path, units) in &self.units {
            for (unit, hash) in units {
                out.push_str("unit ");
                out.push_str(hash);
                out.push(' ');
                out.push_str(path);
                out.push('\t');
                out.push_str(unit);
                out.push('\n');
            }
        }
        out
    }
}

/// Whether a path could be one strata writes: relative, `/`-separated, with no `.`, `..` or
/// empty component, and outside `.git/` and `.strata/` (git's and the organisation's).
pub fn is_repo_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|part| !matches!(part, "" | "." | ".."))
        && !matches!(path.split('/').next(), Some(".git" | ".strata"))
}

/// The lock's hash of some bytes.
pub fn hash(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    // Not `write!("{:02x}")`: formatting cost more than hashing the small values of a shared
    // file's units (thousands of them in an `add service`).
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        assert_eq!(
            hash(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_lock_round_trips_and_rejects_garbage() {
        let mut lock = Lock::new(Repo::Gitops);
        lock.files.insert("apps/dev/api.yaml".into(), hash(b"x"));
        lock.files
            .insert("a path/with spaces.yaml".into(), hash(b"y"));
        lock.units.insert(
            "Pulumi.dev.yaml".into(),
            BTreeMap::from([("config/aws:region".to_string(), hash(b"z"))]),
        );
        assert_eq!(Lock::parse(&lock.to_text(), "strata.lock").unwrap(), lock);
        assert!(Lock::parse("format 3\nrepo gitops\n", "l").is_err());
        for bad in [
            ".git/config",
            "../x",
            "/etc/passwd",
            "a//b",
            "a/./b",
            ".strata/templates/x",
        ] {
            let text = format!("format 2\nrepo gitops\n{} {bad}\n", hash(b"x"));
            assert!(Lock::parse(&text, "l").is_err(), "{bad}");
        }
        assert!(Lock::parse("format 1\n", "l").is_err());
        assert!(Lock::parse("format 1\nrepo gitops\nnonsense\n", "l")
            .unwrap_err()
            .subject
            .contains(":3:"));
    }
}
