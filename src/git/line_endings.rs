//! Line endings as git converts them between the work tree and the repo (`core.autocrlf`,
//! `core.eol`, the `text` and `eol` attributes), so that strata compares and writes files as
//! git stores them.

use std::path::Path;

use git2::Repository;

use super::dir::git_dir;

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
