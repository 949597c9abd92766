//! Confinement: strata reads, writes, deletes and walks only real paths inside a repo.
//!
//! Every repo-relative path is checked one component at a time with `symlink_metadata`, which
//! never follows a link: a component that is a symbolic link (to a directory, a file, outside
//! the repo, or to itself) is refused with exit code 2, naming the link, and nothing is read
//! through it. Special files (FIFOs, sockets, devices) are refused too, since reading one can
//! block forever. Directory walks do not follow links either, so a link loop cannot make a walk
//! exponential or endless. This module reads metadata and files; it never writes.

use fs_err as fs;
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use crate::model::repo::Repo;
use crate::util::problem::{Problem, Problems};

/// What a confined path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Missing,
    File,
    Dir,
}

/// A path strata refuses to go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}` {why}")]
pub struct Refused {
    pub repo: Option<Repo>,
    /// The offending component's path, relative to the repo root.
    pub path: String,
    pub why: String,
}

impl Refused {
    pub fn problem(&self) -> Problem {
        let subject = match self.repo {
            Some(repo) => format!("{repo}: `{}`", self.path),
            None => format!("`{}`", self.path),
        };
        Problem::new(subject, self.why.clone()).hint(
            "strata never reads, writes or deletes through a symbolic link or a special file; \
             replace it with a real file or directory, or remove it, then run the command again",
        )
    }
}

/// Checks paths under one repo root, remembering the directories already found real.
#[derive(Debug)]
pub struct Confined {
    root: PathBuf,
    repo: Option<Repo>,
    real_dirs: HashSet<String>,
}

fn link_target(path: &Path) -> String {
    fs::read_link(path).map_or_else(|_| "?".to_string(), |t| t.display().to_string())
}

impl Confined {
    pub fn new(root: &Path, repo: Option<Repo>) -> Self {
        Self {
            root: root.to_path_buf(),
            repo,
            real_dirs: HashSet::new(),
        }
    }

    fn refuse(&self, path: &str, why: String) -> Refused {
        Refused {
            repo: self.repo,
            path: path.to_string(),
            why,
        }
    }

    /// What `rel` is, after checking that none of its components is a link or a special file.
    /// A missing component ends the check: nothing below it exists.
    pub fn check(&mut self, rel: &str) -> Result<Kind, Refused> {
        if rel.is_empty() {
            return Ok(Kind::Dir);
        }
        let parts: Vec<&str> = rel.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(self.refuse(rel, "is not a plain path inside the repo".to_string()));
        }
        let mut prefix = String::with_capacity(rel.len());
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                prefix.push('/');
            }
            prefix.push_str(part);
            let last = index + 1 == parts.len();
            if !last && self.real_dirs.contains(&prefix) {
                continue;
            }
            let full = self.root.join(&prefix);
            let meta = match fs::symlink_metadata(&full) {
                Ok(meta) => meta,
                Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Kind::Missing),
                // A component that is a file (`ENOTDIR`) means the path cannot exist.
                Err(err) if err.raw_os_error() == Some(20) => return Ok(Kind::Missing),
                Err(err) => return Err(self.refuse(&prefix, format!("cannot be inspected: {err}"))),
            };
            let kind = meta.file_type();
            if kind.is_symlink() {
                return Err(self.refuse(
                    &prefix,
                    format!("is a symbolic link (to `{}`)", link_target(&full)),
                ));
            }
            if kind.is_dir() {
                if last {
                    self.real_dirs.insert(prefix);
                    return Ok(Kind::Dir);
                }
                self.real_dirs.insert(prefix.clone());
            } else if kind.is_file() {
                if last {
                    return Ok(Kind::File);
                }
                return Ok(Kind::Missing);
            } else {
                return Err(self.refuse(
                    &prefix,
                    "is a special file (a FIFO, socket or device)".to_string(),
                ));
            }
        }
        Ok(Kind::Dir)
    }

    /// Reads a regular file, or `None` when it does not exist (or is a directory).
    pub fn read(&mut self, rel: &str) -> Result<Option<Vec<u8>>, Refused> {
        match self.check(rel)? {
            Kind::File => match fs::read(self.root.join(rel)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(err) => Err(self.refuse(rel, format!("cannot be read: {err}"))),
            },
            Kind::Missing | Kind::Dir => Ok(None),
        }
    }

    /// Every file and directory under `rel` (which must be a real directory or missing), as
    /// repo-relative paths, without following any link. A link or special file is refused.
    pub fn walk(&mut self, rel: &str) -> Result<(Vec<String>, Vec<String>), Refused> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        if self.check(rel)? != Kind::Dir {
            return Ok((files, dirs));
        }
        let top = self.root.join(rel);
        for entry in walkdir::WalkDir::new(&top).follow_links(false) {
            let entry = entry.map_err(|err| {
                let dir = err
                    .path()
                    .and_then(|p| p.strip_prefix(&top).ok())
                    .map_or_else(|| rel.to_string(), |sub| join(rel, &sub.to_string_lossy()));
                let why = err
                    .io_error()
                    .map_or_else(|| err.to_string(), ToString::to_string);
                self.refuse(&dir, format!("cannot be listed: {why}"))
            })?;
            let sub = entry.path().strip_prefix(&top).unwrap_or(entry.path());
            let Some(sub) = sub.to_str() else {
                return Err(self.refuse(
                    &join(rel, &sub.to_string_lossy()),
                    "has a name that is not UTF-8".to_string(),
                ));
            };
            let path = join(rel, &sub.replace('\\', "/"));
            let kind = entry.file_type();
            if kind.is_symlink() {
                return Err(self.refuse(
                    &path,
                    format!("is a symbolic link (to `{}`)", link_target(entry.path())),
                ));
            } else if kind.is_dir() {
                if entry.depth() > 0 {
                    self.real_dirs.insert(path.clone());
                }
                dirs.push(path);
            } else if kind.is_file() {
                files.push(path);
            } else {
                return Err(self.refuse(
                    &path,
                    "is a special file (a FIFO, socket or device)".to_string(),
                ));
            }
        }
        files.sort();
        dirs.sort();
        Ok((files, dirs))
    }
}

/// `dir/sub`, or either alone when the other is empty.
fn join(dir: &str, sub: &str) -> String {
    match (dir.is_empty(), sub.is_empty()) {
        (_, true) => dir.to_string(),
        (true, false) => sub.to_string(),
        (false, false) => format!("{dir}/{sub}"),
    }
}

/// Checks many paths of both repos at once and reports every refused one (exit code 2).
pub fn check_all<'a>(
    checkers: &mut std::collections::BTreeMap<Repo, Confined>,
    paths: impl IntoIterator<Item = (Repo, &'a str)>,
) -> Result<(), Problems> {
    let mut problems = Problems::default();
    let mut seen = HashSet::new();
    for (repo, path) in paths {
        let Some(checker) = checkers.get_mut(&repo) else {
            continue;
        };
        if let Err(refused) = checker.check(path) {
            if seen.insert((repo, refused.path.clone())) {
                problems.push(refused.problem());
            }
        }
    }
    problems.into_result()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("strata-confine-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn links_anywhere_in_a_path_are_refused_and_loops_do_not_hang() {
        let root = tempdir("links");
        let outside = tempdir("outside");
        fs::write(outside.join("data.txt"), "x").unwrap();
        fs::create_dir_all(root.join("services/api")).unwrap();
        fs::write(root.join("services/api/real.yaml"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("services/api/shared")).unwrap();
        std::os::unix::fs::symlink(".", root.join("services/api/loop")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("apps")).unwrap();
        let mut confined = Confined::new(&root, Some(Repo::Gitops));
        assert_eq!(confined.check("services/api/real.yaml"), Ok(Kind::File));
        assert_eq!(confined.check("services/none/x.yaml"), Ok(Kind::Missing));
        assert_eq!(
            confined.check("services/api/real.yaml/below"),
            Ok(Kind::Missing)
        );
        let refused = confined.check("apps/dev/x.yaml").unwrap_err();
        assert_eq!(refused.path, "apps");
        assert!(refused.why.contains("symbolic link"));
        let refused = confined.read("services/api/shared/data.txt").unwrap_err();
        assert_eq!(refused.path, "services/api/shared");
        let refused = confined.walk("services/api").unwrap_err();
        assert!(refused.path.starts_with("services/api/"), "{refused:?}");
        assert!(confined.check("a/../b").is_err());
        fs::remove_dir_all(&root).unwrap();
        fs::remove_dir_all(&outside).unwrap();
    }
}
