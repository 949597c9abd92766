//! Helpers shared by the integration tests: run the binary, snapshot directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The `strata` binary, with a clean environment for faults and git identity.
pub fn strata() -> Command {
    let mut cmd = Command::cargo_bin("strata").expect("the binary is built");
    cmd.env_remove("STRATA_FAULT");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1");
    // The same identity on every machine (a CI runner may have none).
    for (key, value) in [
        ("GIT_AUTHOR_NAME", "t"),
        ("GIT_AUTHOR_EMAIL", "t@example.com"),
        ("GIT_COMMITTER_NAME", "t"),
        ("GIT_COMMITTER_EMAIL", "t@example.com"),
    ] {
        cmd.env(key, value);
    }
    cmd
}

/// Every file under `dir` except `.git/`, as path -> bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|entry| !entry.file_type().is_dir())
        .map(|entry| {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            (rel, fs_err::read(entry.path()).unwrap())
        })
        .collect()
}

/// What `strata new` needs and never invents (issue 19), as a user gives it: `--domain` and
/// `--git-base`, each unless `args` has it already. `example.com` and `https://github.com/acme`
/// are what the presets used to invent, so that every generated file reads as before.
pub fn known_values(args: &[&str]) -> Vec<&'static str> {
    let mut known = Vec::new();
    if !args.contains(&"--domain") {
        known.extend(["--domain", "example.com"]);
    }
    if !args.contains(&"--git-base") {
        known.extend(["--git-base", "https://github.com/acme"]);
    }
    known
}

/// Creates a workspace `acme` in `dir` with extra arguments, asserting success.
pub fn new_workspace(dir: &Path, args: &[&str]) -> (PathBuf, PathBuf) {
    strata()
        .arg("new")
        .arg("acme")
        .arg("--out")
        .arg(dir)
        .args(args)
        .args(known_values(args))
        .assert()
        .success();
    (dir.join("acme-foundation"), dir.join("acme-gitops"))
}

/// The number of commits on HEAD of a repo.
pub fn commit_count(repo: &Path) -> usize {
    let repo = git2::Repository::open(repo).unwrap();
    let mut walk = repo.revwalk().unwrap();
    walk.push_head().unwrap();
    walk.count()
}

/// The message of HEAD.
pub fn head_message(repo: &Path) -> String {
    let repo = git2::Repository::open(repo).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    head.message().unwrap().to_string()
}

/// Drops the `history` array of a `strata.toml`, for comparing two workspaces.
pub fn without_history(text: &[u8]) -> String {
    let mut table: toml::Table = toml::from_str(std::str::from_utf8(text).unwrap()).unwrap();
    table.remove("history");
    toml::to_string(&table).unwrap()
}

/// Runs `git ARGS` in `dir` with a test identity and `main` as the first branch, asserting
/// success.
pub fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(["-c", "init.defaultBranch=main", "-C"])
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A workspace `acme` made by `strata new` in a temporary directory, for one test:
/// `Test::new().services("api").envs("dev,prod").create()`.
pub struct Test {
    args: Vec<String>,
}

/// A created test workspace; the directory goes when it is dropped.
pub struct TestWorkspace {
    pub dir: assert_fs::TempDir,
    pub foundation: PathBuf,
    pub gitops: PathBuf,
}

impl Test {
    pub fn new() -> Test {
        Test { args: Vec::new() }
    }

    pub fn services(self, list: &str) -> Test {
        self.arg("--services").arg(list)
    }

    pub fn envs(self, list: &str) -> Test {
        self.arg("--envs").arg(list)
    }

    /// Any other argument of `strata new`.
    pub fn arg(mut self, arg: &str) -> Test {
        self.args.push(arg.to_string());
        self
    }

    pub fn create(self) -> TestWorkspace {
        let dir = assert_fs::TempDir::new().unwrap();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let (foundation, gitops) = new_workspace(dir.path(), &args);
        TestWorkspace {
            dir,
            foundation,
            gitops,
        }
    }
}

impl TestWorkspace {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs strata in `dir` held after it wrote the first repo (`STRATA_FAULT=hold:between-repos`),
/// runs `meanwhile` there, then lets it go on; returns its exit code and stderr.
pub fn run_held(dir: &Path, args: &[&str], meanwhile: impl FnOnce()) -> (Option<i32>, String) {
    use std::io::{BufRead as _, Read as _};
    let release = assert_fs::TempDir::new().unwrap();
    let release = release.path().join("go");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("-C")
        .arg(dir)
        .env(
            "STRATA_FAULT",
            format!("hold:between-repos:{}", release.display()),
        )
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        if line.contains("holding at `between-repos`") {
            meanwhile();
            line.clear();
            break;
        }
        text.push_str(&line);
        line.clear();
    }
    fs_err::write(&release, "").unwrap();
    stderr.read_to_string(&mut text).unwrap();
    (child.wait().unwrap().code(), text)
}
