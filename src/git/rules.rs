//! The repo's own rules for a commit, followed as `git commit` follows them: its `pre-commit`
//! hook (run on exactly the tree strata commits, through a temporary index), its `commit-msg`
//! hook (which may rewrite the message), and `commit.gpgsign` (the commit is then made and
//! signed by `git commit-tree -S`, with the repo's signing setup). A hook that fails, a hook
//! that changes what is committed, and a signature git cannot make are errors: the change is
//! rolled back, and the error says which rule stopped it and how to commit by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result};
use git2::{Oid, Repository};

use crate::util::error::Refusal;

/// How to commit by hand, when the repo's rules stop strata's commit.
const BY_HAND: &str = "run the command again without `--commit`, then commit its change yourself (`git add -A && git commit`) after fixing what stopped it";

/// What the repo asks of a commit.
pub(super) struct Rules {
    workdir: PathBuf,
    git_dir: PathBuf,
    pre_commit: Option<PathBuf>,
    commit_msg: Option<PathBuf>,
    /// `commit.gpgsign`: every commit is signed.
    pub sign: bool,
}

/// Whether a hook file would run: git runs only executable hooks.
fn runnable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs_err::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// Whether `commit.gpgsign` asks for signed commits in the repo at `root`.
pub fn signs(root: &Path) -> bool {
    Repository::open(root)
        .and_then(|repo| repo.config())
        .and_then(|config| config.get_bool("commit.gpgsign"))
        .unwrap_or(false)
}

/// Whether the `git` command runs here.
pub fn git_available() -> bool {
    Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Rules {
    /// The rules of `repo`, whose work tree is `root`.
    pub(super) fn of(repo: &Repository, root: &Path) -> Rules {
        let config = repo.config().ok();
        let hooks = config
            .as_ref()
            .and_then(|c| c.get_path("core.hooksPath").ok())
            .map_or_else(|| repo.commondir().join("hooks"), |p| root.join(p));
        let hook = |name: &str| Some(hooks.join(name)).filter(|p| runnable(p));
        Rules {
            workdir: root.to_path_buf(),
            git_dir: repo.path().to_path_buf(),
            pre_commit: hook("pre-commit"),
            commit_msg: hook("commit-msg"),
            sign: config
                .as_ref()
                .and_then(|c| c.get_bool("commit.gpgsign").ok())
                .unwrap_or(false),
        }
    }

    /// Runs the `pre-commit` hook on `tree` (what strata commits) through a temporary index, as
    /// `git commit <paths>` does; refuses a hook that fails or changes that index.
    ///
    /// A hook that stops the commit may have rewritten the files strata wrote (`paths`), as
    /// formatters do: those are put back as strata wrote them, so that the rollback that
    /// follows restores them, and both repos, as they were before the command.
    pub(super) fn pre_commit(&self, repo: &Repository, tree: Oid, paths: &[&str]) -> Result<()> {
        let Some(hook) = &self.pre_commit else {
            return Ok(());
        };
        let before: Vec<(&str, Option<Vec<u8>>)> = paths
            .iter()
            .map(|path| (*path, fs_err::read(self.workdir.join(path)).ok()))
            .collect();
        let checked = self.run_pre_commit(hook, repo, tree);
        if checked.is_err() {
            for (path, bytes) in &before {
                let full = self.workdir.join(path);
                let Some(bytes) = bytes else { continue };
                if fs_err::read(&full).ok().as_ref() != Some(bytes) {
                    crate::util::fs::write_atomic(&full, bytes, None).with_context(|| {
                        format!("putting back `{path}`, which the `pre-commit` hook changed")
                    })?;
                }
            }
        }
        checked
    }

    fn run_pre_commit(&self, hook: &Path, repo: &Repository, tree: Oid) -> Result<()> {
        let path = self
            .git_dir
            .join(format!("strata-index-{}", std::process::id()));
        let _cleanup = RemoveOnDrop(path.clone());
        let mut index = git2::Index::open(&path)?;
        index.read_tree(&repo.find_tree(tree)?)?;
        index.write()?;
        let output = Command::new(hook)
            .current_dir(&self.workdir)
            .env("GIT_INDEX_FILE", &path)
            .env("GIT_EDITOR", ":")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running the `pre-commit` hook `{}`", hook.display()))?;
        if !output.status.success() {
            return Err(hook_failed("pre-commit", &output));
        }
        let mut index = git2::Index::open(&path)?;
        if index.write_tree_to(repo)? != tree {
            return Err(Refusal {
                message: "the repo's `pre-commit` hook changed the files to commit (it staged changes of its own), and strata commits only what it wrote".to_string(),
                details: Vec::new(),
                hint: BY_HAND.to_string(),
            }
            .into());
        }
        Ok(())
    }

    /// Runs the `commit-msg` hook on `message` and returns the message as the hook leaves it.
    pub(super) fn commit_msg(&self, message: &str) -> Result<String> {
        let Some(hook) = &self.commit_msg else {
            return Ok(message.to_string());
        };
        let path = self.git_dir.join("COMMIT_EDITMSG");
        fs_err::write(&path, message)?;
        let output = Command::new(hook)
            .arg(&path)
            .current_dir(&self.workdir)
            .env("GIT_EDITOR", ":")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running the `commit-msg` hook `{}`", hook.display()))?;
        if !output.status.success() {
            return Err(hook_failed("commit-msg", &output));
        }
        let edited = fs_err::read_to_string(&path)?;
        if edited.trim().is_empty() {
            return Err(Refusal {
                message: "the repo's `commit-msg` hook left an empty commit message".to_string(),
                details: Vec::new(),
                hint: BY_HAND.to_string(),
            }
            .into());
        }
        Ok(edited)
    }

    /// Makes the commit signed, with `git commit-tree -S`: git signs with the repo's own setup
    /// (`gpg.format`, `user.signingkey`, gpg or ssh-keygen), which libgit2 cannot.
    pub(super) fn signed_commit(
        &self,
        repo: &Repository,
        tree: Oid,
        parent: Option<Oid>,
        message: &str,
    ) -> Result<Oid> {
        let mut command = Command::new("git");
        command
            .arg("commit-tree")
            .arg("-S")
            .arg(tree.to_string())
            .current_dir(&self.workdir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(parent) = parent {
            command.arg("-p").arg(parent.to_string());
        }
        // A machine without a git identity gets strata's fixed one, as libgit2's commits do.
        let (author, committer) = super::commit::signatures(repo)?;
        for (role, sig) in [("AUTHOR", &author), ("COMMITTER", &committer)] {
            command.env(
                format!("GIT_{role}_NAME"),
                sig.name().unwrap_or(super::commit::FALLBACK_NAME),
            );
            command.env(
                format!("GIT_{role}_EMAIL"),
                sig.email().unwrap_or(super::commit::FALLBACK_EMAIL),
            );
        }
        let mut child = command.spawn().map_err(|err| {
            anyhow::Error::from(Refusal {
                message: format!("the repo asks for signed commits (`commit.gpgsign`), which strata makes with the `git` command, and `git` could not run: {err}"),
                details: Vec::new(),
                hint: format!("install git, or {BY_HAND}"),
            })
        })?;
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().context("git's standard input")?;
            stdin.write_all(message.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            return Err(Refusal {
                message: format!(
                    "the repo asks for signed commits (`commit.gpgsign`), and git could not sign strata's commit: {}",
                    last_lines(&output.stderr)
                ),
                details: Vec::new(),
                hint: format!("check the signing setup (`git config user.signingkey`, `gpg.format`; `git commit -S` must work here), or {BY_HAND}"),
            }
            .into());
        }
        let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
        Oid::from_str(&id).with_context(|| format!("reading the commit id `{id}` git made"))
    }
}

/// The error of a hook that exited with a failure, with what it printed.
fn hook_failed(name: &str, output: &std::process::Output) -> anyhow::Error {
    let mut printed = String::from_utf8_lossy(&output.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    let details = printed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{name}: {l}"))
        .take(20)
        .collect();
    Refusal {
        message: format!(
            "the repo's `{name}` hook failed ({}), so strata did not commit",
            output.status.code().map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("exit code {c}")
            )
        ),
        details,
        hint: format!("fix what the hook reports, then run the command again; or {BY_HAND}"),
    }
    .into()
}

/// The last few lines of a command's output, on one line.
fn last_lines(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

/// A temporary file removed when it goes out of scope.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs_err::remove_file(&self.0);
        let _ = fs_err::remove_file(self.0.with_extension("lock"));
    }
}
