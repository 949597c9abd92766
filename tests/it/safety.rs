//! A workspace is never damaged (issue 9): kills and interrupts at every stage, concurrent runs,
//! git states, removals of names that equal other path components, symbolic links, closed
//! pipes, and names YAML would misread. Everything runs the real binary on real git repos.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use crate::common::{commit_count, new_workspace, snapshot, strata};
use predicates::prelude::*;

const REPOS: [&str; 2] = ["acme-foundation", "acme-gitops"];

/// Runs git in `dir` with a fixed identity; panics on failure unless `may_fail`.
fn git_in(dir: &Path, args: &[&str], may_fail: bool) -> String {
    let out = StdCommand::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        may_fail || out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn git(dir: &Path, args: &[&str]) -> String {
    git_in(dir, args, false)
}

/// Everything a repo is to its user: its files, its index file, HEAD and the branch's commit.
#[derive(Debug, PartialEq, Eq)]
struct RepoState {
    files: BTreeMap<String, Vec<u8>>,
    index: Option<Vec<u8>>,
    head: String,
    commit: Option<String>,
}

fn repo_state(dir: &Path) -> RepoState {
    let repo = git2::Repository::open(dir).unwrap();
    RepoState {
        files: snapshot(dir),
        index: fs_err::read(repo.path().join("index")).ok(),
        head: fs_err::read_to_string(repo.path().join("HEAD")).unwrap(),
        commit: repo
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|o| o.to_string()),
    }
}

fn workspace_state(dir: &Path) -> Vec<RepoState> {
    REPOS.iter().map(|r| repo_state(&dir.join(r))).collect()
}

/// The tree of HEAD and of its parent, and every (path, blob) of the index.
fn commit_shape(dir: &Path) -> (String, Option<String>, Vec<(String, String)>) {
    let repo = git2::Repository::open(dir).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    let parent = head.parent(0).ok().map(|p| p.id().to_string());
    let index = repo
        .index()
        .unwrap()
        .iter()
        .map(|e| {
            (
                String::from_utf8_lossy(&e.path).to_string(),
                e.id.to_string(),
            )
        })
        .collect();
    (head.tree_id().to_string(), parent, index)
}

fn copy_dir(from: &Path, to: &Path) {
    let status = StdCommand::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn service_list(count: usize) -> String {
    (1..=count)
        .map(|i| format!("s{i:02}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Runs `add env qa --commit` paused before `step`, signals it with `signal` (`KILL` or
/// `INT`), and returns its exit code (`None`: killed by the signal) and whether it paused.
fn interrupt_at(foundation: &Path, step: usize, signal: &str) -> (Option<i32>, bool, String) {
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_strata"))
        .args(["add", "env", "qa", "--commit", "-C"])
        .arg(foundation)
        .env("STRATA_FAULT", format!("pause-at:{step}"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut paused = false;
    let mut text = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        text.push_str(&line);
        if line.contains("paused before step") {
            paused = true;
            break;
        }
        line.clear();
    }
    if paused {
        if signal == "KILL" {
            child.kill().unwrap();
        } else {
            let status = StdCommand::new("kill")
                .args(["-s", signal, &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    text.push_str(&rest);
    let status = child.wait().unwrap();
    (status.code(), paused, text)
}

fn kills_and_interrupts_leave_both_repos_before_or_after(signal: &str) {
    // On a memory file system where there is one: a kill leaves the same state there, and
    // strata's flushes (`syncfs`) then cost nothing, which keeps this test fast on a busy disk.
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() {
        assert_fs::TempDir::new_in(shm).unwrap()
    } else {
        assert_fs::TempDir::new().unwrap()
    };
    let base = tmp.path().join("base");
    fs_err::create_dir(&base).unwrap();
    new_workspace(&base, &["--envs", "dev", "--services", &service_list(80)]);
    let before = workspace_state(&base);

    // The uninterrupted run: how many steps it takes, and what it leaves.
    let reference = tmp.path().join("reference");
    copy_dir(&base, &reference);
    let out = strata()
        .env("STRATA_FAULT", "count-steps")
        .args(["add", "env", "qa", "--commit", "-C"])
        .arg(reference.join("acme-foundation"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let total: usize = stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("strata: ")?
                .strip_suffix(" steps (STRATA_FAULT)")
        })
        .and_then(|n| n.parse().ok())
        .expect("the run counts its steps");
    assert!(total > 400, "add env on 80 services takes {total} steps");
    let after_files: Vec<_> = REPOS.iter().map(|r| snapshot(&reference.join(r))).collect();
    let after_shape: Vec<_> = REPOS
        .iter()
        .map(|r| commit_shape(&reference.join(r)))
        .collect();

    // Every early step, a spread through the file writes, and every step of the commits and
    // of the finish.
    let mut points: Vec<usize> = (0..3).collect();
    points.extend((3..total - 9).step_by((total / 5).max(1)));
    points.extend(total - 9..total);
    let (mut rolled_back, mut kept) = (0, 0);
    for step in points {
        let dir = tmp.path().join(format!("run-{signal}-{step}"));
        copy_dir(&base, &dir);
        let foundation = dir.join("acme-foundation");
        let (code, paused, text) = interrupt_at(&foundation, step, signal);
        assert!(paused, "step {step} of {total} was reached: {text}");
        match signal {
            "KILL" => assert_eq!(code, None, "killed at step {step}"),
            _ => {
                assert_eq!(code, Some(130), "interrupted at step {step}: {text}");
                assert!(text.contains("interrupted (SIGINT)"), "{text}");
            }
        }
        // The next command of any kind finishes the job and says so.
        let next = strata()
            .args(["list", "-C"])
            .arg(&foundation)
            .output()
            .unwrap();
        assert!(
            next.status.success(),
            "list after step {step}: {}",
            String::from_utf8_lossy(&next.stderr)
        );
        let state = workspace_state(&dir);
        if state == before {
            rolled_back += 1;
            if signal == "KILL" {
                assert!(
                    String::from_utf8_lossy(&next.stderr).contains("rolled back") || step == 0,
                    "the next run says what it did"
                );
            }
        } else {
            kept += 1;
            for (index, repo) in REPOS.iter().enumerate() {
                assert!(
                    snapshot(&dir.join(repo)) == after_files[index],
                    "{repo} after step {step} is neither before nor after"
                );
                let (tree, parent, entries) = commit_shape(&dir.join(repo));
                assert_eq!(tree, after_shape[index].0, "{repo} commit at step {step}");
                assert_eq!(parent, before[index].commit, "{repo} parent at step {step}");
                assert_eq!(entries, after_shape[index].2, "{repo} index at step {step}");
            }
        }
        let _ = fs_err::remove_dir_all(&dir);
    }
    assert!(
        rolled_back > 8 && kept >= 2,
        "{rolled_back} rolled back, {kept} kept"
    );
}

#[test]
fn sigkill_at_any_step_of_add_env_leaves_both_repos_before_or_after_issue_9() {
    kills_and_interrupts_leave_both_repos_before_or_after("KILL");
}

#[test]
fn sigint_at_any_step_of_add_env_rolls_back_at_once_and_exits_130_issue_9() {
    kills_and_interrupts_leave_both_repos_before_or_after("INT");
}

#[test]
fn sigquit_midway_rolls_back_at_once_and_exits_131() {
    // break-report F16: Ctrl-\\ left both repos half-changed until the next command.
    let tmp = assert_fs::TempDir::new().unwrap();
    new_workspace(tmp.path(), &["--envs", "dev", "--services", "api,web"]);
    let before = workspace_state(tmp.path());
    let (code, paused, text) = interrupt_at(&tmp.path().join("acme-foundation"), 10, "QUIT");
    assert!(paused, "{text}");
    assert_eq!(code, Some(131), "{text}");
    assert!(
        text.contains("interrupted (SIGQUIT); rolled back both repos"),
        "{text}"
    );
    assert_eq!(workspace_state(tmp.path()), before);
}

/// `strata new` interrupted at steps spread over its file writes and commits (one of its two
/// writer threads paused there, the other still writing): it exits 130 and leaves nothing, no
/// repo and no staging directory. The handler waits for the step under way in the other
/// thread, and no step starts after it.
#[test]
fn sigint_during_new_leaves_nothing() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let services = service_list(40);
    for step in [0usize, 40, 300, 500] {
        // `--out` does not exist yet: the directories strata makes for it go too.
        let top = tmp.path().join(format!("step-{step}"));
        let out = top.join("a/b");
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_strata"))
            .arg("new")
            .args(crate::common::known_values(&[]))
            .args(["acme", "--services", &services, "--out"])
            .arg(&out)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("STRATA_FAULT", format!("pause-at:{step}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut text = String::new();
        while stderr.read_line(&mut text).unwrap() > 0 {
            if text.contains("paused before step") {
                break;
            }
        }
        assert!(text.contains("paused before step"), "step {step}: {text}");
        let status = StdCommand::new("kill")
            .args(["-s", "INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(130), "step {step}: {text}");
        assert!(text.contains("nothing was written"), "step {step}: {text}");
        assert!(
            !top.exists(),
            "step {step} left `{}`: {text}",
            top.display()
        );
    }
    // A failure midway leaves nothing either.
    let top = tmp.path().join("failed");
    strata()
        .env("STRATA_FAULT", "commit:gitops")
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--out"])
        .arg(top.join("a/b"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nothing was written"));
    assert!(!top.exists());
}

#[test]
fn six_concurrent_add_service_commits_wait_for_each_other_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--envs", "dev,prod"]);
    let handles: Vec<_> = (1..=6)
        .map(|i| {
            // Half start from each repo: the lock order must not depend on `-C`.
            let dir = if i % 2 == 0 { &foundation } else { &gitops }.clone();
            std::thread::spawn(move || {
                let out = strata()
                    .args(["add", "service", &format!("svc{i}"), "--commit", "-C"])
                    .arg(&dir)
                    .output()
                    .unwrap();
                (i, out)
            })
        })
        .collect();
    let mut succeeded = Vec::new();
    for handle in handles {
        let (i, out) = handle.join().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{stderr}");
        if out.status.success() {
            succeeded.push(format!("svc{i}"));
        } else {
            panic!("svc{i} failed: {stderr}");
        }
        for line in stderr.lines() {
            assert!(
                line == "waiting for another strata on this workspace…"
                    || line.starts_with("foundation: ")
                    || line.starts_with("gitops: "),
                "unexpected stderr line `{line}`"
            );
        }
    }
    let answers: toml::Table =
        toml::from_str(&fs_err::read_to_string(gitops.join("strata.toml")).unwrap()).unwrap();
    let mut listed: Vec<String> = answers["services"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    listed.sort();
    succeeded.sort();
    assert_eq!(listed, succeeded);
    for repo in [&foundation, &gitops] {
        assert_eq!(git(repo, &["status", "--porcelain"]), "", "clean {repo:?}");
        assert_eq!(commit_count(repo), 1 + succeeded.len());
    }
    strata()
        .args(["list", "-C"])
        .arg(&foundation)
        .assert()
        .success();
}

#[test]
fn commit_leaves_the_users_staged_work_staged_and_out_of_strata_commit_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    fs_err::write(gitops.join("NOTES.md"), "mine\n").unwrap();
    git(&gitops, &["add", "NOTES.md"]);
    strata()
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    let committed = git(&gitops, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(committed.contains("services/billing/base/deployment.yaml"));
    assert!(!committed.contains("NOTES.md"), "{committed}");
    assert_eq!(
        git(&gitops, &["diff", "--cached", "--name-only"]),
        "NOTES.md\n"
    );
    assert_eq!(git(&gitops, &["status", "--porcelain"]), "A  NOTES.md\n");

    // A staged edit of a file strata changes, then undone in the work tree ("MM"): refused,
    // not dropped from the index.
    let shared = gitops.join("apps/dev/kustomization.yaml");
    let committed_text = fs_err::read_to_string(&shared).unwrap();
    fs_err::write(&shared, format!("{committed_text}# mine\n")).unwrap();
    git(&gitops, &["add", "apps/dev/kustomization.yaml"]);
    fs_err::write(&shared, &committed_text).unwrap();
    let before = workspace_state(tmp.path());
    strata()
        .args(["add", "service", "web", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("apps/dev/kustomization.yaml"));
    assert_eq!(workspace_state(tmp.path()), before);
    assert!(git(&gitops, &["show", ":apps/dev/kustomization.yaml"]).contains("# mine"));
}

#[test]
fn a_failed_commit_restores_head_index_and_files_of_both_repos_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    fs_err::write(foundation.join("NOTES.md"), "mine\n").unwrap();
    git(&foundation, &["add", "NOTES.md"]);
    let before = workspace_state(tmp.path());
    add_billing_with_a_failed_commit(&gitops);
    assert_eq!(workspace_state(tmp.path()), before);
}

/// `add service billing --commit` in `dir`, its gitops commit failing: rolled back, exit 1.
fn add_billing_with_a_failed_commit(dir: &Path) {
    strata()
        .env("STRATA_FAULT", "commit:gitops")
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(dir)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("rolled back"));
}

/// A gitops repo checked out as a linked work tree (`git worktree add`): its refs live in the
/// main repo's git directory. `--commit` moves the work tree's branch, and a failed commit
/// puts it back.
#[test]
fn commit_works_in_a_linked_worktree() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(tmp.path(), &[]);
    let linked = tmp.path().join("gitops-feature");
    git(
        &gitops,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "feature",
            linked.to_str().unwrap(),
        ],
    );
    assert!(linked.join("strata.toml").is_file());
    let main_before = git(&gitops, &["rev-parse", "main"]);

    let before = repo_state(&linked);
    add_billing_with_a_failed_commit(&linked);
    assert_eq!(repo_state(&linked), before, "the failed commit is undone");

    strata()
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(&linked)
        .assert()
        .success();
    assert!(git(&linked, &["log", "-1", "--format=%s"]).contains("billing"));
    assert_eq!(git(&linked, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&gitops, &["rev-parse", "main"]),
        main_before,
        "main untouched"
    );
    assert!(!gitops.join("services/billing").exists());
}

fn refuses_with_exit_2(dir: &Path, args: &[&str], needle: &str) {
    let before = workspace_state(dir.parent().unwrap());
    strata()
        .args(args)
        .arg("-C")
        .arg(dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(needle));
    assert_eq!(workspace_state(dir.parent().unwrap()), before);
}

#[test]
fn a_merge_in_progress_is_refused_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    git(&gitops, &["checkout", "-q", "-b", "other"]);
    fs_err::write(gitops.join("README.md"), "theirs\n").unwrap();
    git(&gitops, &["commit", "-qam", "theirs"]);
    git(&gitops, &["checkout", "-q", "main"]);
    fs_err::write(gitops.join("README.md"), "ours\n").unwrap();
    git(&gitops, &["commit", "-qam", "ours"]);
    git_in(&gitops, &["merge", "-q", "other"], true);
    assert!(gitops.join(".git/MERGE_HEAD").exists());
    for commit in [true, false] {
        let mut args = vec!["add", "service", "billing"];
        if commit {
            args.push("--commit");
        }
        refuses_with_exit_2(&foundation, &args, "merge in progress");
    }
}

#[test]
fn a_detached_head_is_refused_for_commit_only_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    git(&gitops, &["checkout", "-q", "--detach"]);
    refuses_with_exit_2(
        &foundation,
        &["add", "service", "billing", "--commit"],
        "detached HEAD",
    );
    strata()
        .args(["add", "service", "billing", "-C"])
        .arg(&foundation)
        .assert()
        .success();
}

#[test]
fn a_stale_index_lock_is_refused_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    fs_err::write(gitops.join(".git/index.lock"), "").unwrap();
    refuses_with_exit_2(
        &foundation,
        &["add", "service", "billing", "--commit"],
        "index.lock",
    );
}

#[test]
fn a_repo_inside_another_repo_is_refused_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    git(tmp.path(), &["init", "-q"]);
    // `new --no-git` there would make repos no later command accepts: refused up front.
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--no-git", "--out"])
        .arg(tmp.path().join("sub"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("lies inside the git repo"))
        .stderr(predicate::str::contains("leave out `--no-git`"));
    assert!(!tmp.path().join("sub").exists());
    // Relative, and not there yet: the same.
    for out in ["x", "y/z"] {
        strata()
            .arg("new")
            .args(crate::common::known_values(&[]))
            .args(["acme", "--no-git", "--out", out])
            .current_dir(tmp.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("lies inside the git repo"));
    }
    assert!(!tmp.path().join("x").exists() && !tmp.path().join("y").exists());
    // A workspace moved into another repo afterwards.
    let elsewhere = assert_fs::TempDir::new().unwrap();
    new_workspace(elsewhere.path(), &["--no-git"]);
    for repo in REPOS {
        fs_err::rename(elsewhere.path().join(repo), tmp.path().join(repo)).unwrap();
    }
    let foundation = tmp.path().join("acme-foundation");
    for args in [
        &["add", "service", "billing"][..],
        &["add", "service", "billing", "--commit"][..],
    ] {
        let before = snapshot(tmp.path());
        strata()
            .args(args)
            .arg("-C")
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("lies inside the git repo"));
        assert_eq!(snapshot(tmp.path()), before);
    }
}

#[test]
fn an_empty_repo_gets_its_first_commit_or_stays_empty_on_failure_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--no-git"]);
    for repo in [&foundation, &gitops] {
        git(repo, &["init", "-q", "-b", "main"]);
    }
    let before = workspace_state(tmp.path());
    assert_eq!(before[0].commit, None);
    strata()
        .env("STRATA_FAULT", "commit:gitops")
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .code(1);
    assert_eq!(workspace_state(tmp.path()), before, "no commit, no index");
    strata()
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    for repo in [&foundation, &gitops] {
        assert_eq!(commit_count(repo), 1);
        assert_eq!(git(repo, &["status", "--porcelain"]), "", "{repo:?}");
    }
}

#[test]
fn autocrlf_and_eol_attributes_give_no_false_conflicts_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--services", "api"]);
    git(&gitops, &["config", "core.autocrlf", "true"]);
    fs_err::write(foundation.join(".gitattributes"), "*.yaml text eol=crlf\n").unwrap();
    git(&foundation, &["add", ".gitattributes"]);
    git(&foundation, &["commit", "-qm", "attributes"]);
    for repo in [&foundation, &gitops] {
        // A fresh checkout under the new rules: text files now hold CRLF.
        git(repo, &["rm", "-q", "--cached", "-r", "."]);
        for path in git(repo, &["ls-files", "--others"]).lines() {
            fs_err::remove_file(repo.join(path)).unwrap();
        }
        git(repo, &["reset", "-q", "--hard"]);
    }
    assert!(
        fs_err::read(gitops.join("services/api/base/deployment.yaml"))
            .unwrap()
            .windows(2)
            .any(|w| w == b"\r\n")
    );
    strata()
        .args(["add", "service", "billing", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    let written = fs_err::read(gitops.join("services/billing/base/deployment.yaml")).unwrap();
    assert!(
        written.windows(2).any(|w| w == b"\r\n"),
        "written as git checks out"
    );
    for repo in [&foundation, &gitops] {
        assert_eq!(git(repo, &["status", "--porcelain"]), "", "{repo:?}");
    }
    // `check` compares files as git stores them, as the plan does: CRLF is no drift.
    strata()
        .args(["check", "-C"])
        .arg(&foundation)
        .assert()
        .success()
        .stdout(predicate::str::contains("drift").not());
    strata()
        .args(["remove", "service", "api", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success();
}

/// `check` reads `.gitattributes` as git does: `text` (set), `-text`, `binary` and the old
/// `crlf` name, not only `text=auto` and `eol=`.
#[test]
fn check_follows_every_text_attribute_as_git_does() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(tmp.path(), &["--services", "api"]);
    // `* text` with `core.eol=crlf`: a fresh checkout holds CRLF, and git sees it clean.
    fs_err::write(gitops.join(".gitattributes"), "* text\n").unwrap();
    git(&gitops, &["add", ".gitattributes"]);
    git(&gitops, &["commit", "-qm", "attributes"]);
    let clone = tmp.path().join("clone");
    fs_err::create_dir(&clone).unwrap();
    git(
        &clone,
        &[
            "clone",
            "-q",
            "-c",
            "core.eol=crlf",
            gitops.to_str().unwrap(),
            "acme-gitops",
        ],
    );
    git(
        &clone,
        &[
            "clone",
            "-q",
            tmp.path().join("acme-foundation").to_str().unwrap(),
            "acme-foundation",
        ],
    );
    let cloned = clone.join("acme-gitops");
    assert!(
        fs_err::read(cloned.join("services/api/base/deployment.yaml"))
            .unwrap()
            .windows(2)
            .any(|w| w == b"\r\n")
    );
    assert_eq!(git(&cloned, &["status", "--porcelain"]), "");
    strata()
        .args(["check", "-C"])
        .arg(&cloned)
        .assert()
        .success();
    strata()
        .args(["add", "service", "billing", "--dry-run", "-C"])
        .arg(&cloned)
        .assert()
        .success();

    // `-text` with `core.autocrlf=true`: CRLF in an owned file is a change git reports, and so
    // does check.
    git(&cloned, &["config", "core.autocrlf", "true"]);
    fs_err::write(cloned.join(".gitattributes"), "*.yaml -text\n").unwrap();
    git(&cloned, &["add", ".gitattributes"]);
    git(&cloned, &["commit", "-qm", "binary yaml"]);
    git(&cloned, &["rm", "-q", "--cached", "-r", "."]);
    git(&cloned, &["reset", "-q", "--hard"]);
    let path = cloned.join("services/api/base/deployment.yaml");
    let lf = fs_err::read_to_string(&path).unwrap().replace("\r\n", "\n");
    fs_err::write(&path, &lf).unwrap();
    assert_eq!(git(&cloned, &["status", "--porcelain"]), "");
    strata()
        .args(["check", "-C"])
        .arg(&cloned)
        .assert()
        .success();
    fs_err::write(&path, lf.replace('\n', "\r\n")).unwrap();
    assert_ne!(git(&cloned, &["status", "--porcelain"]), "");
    strata()
        .args(["check", "-C"])
        .arg(&cloned)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "services/api/base/deployment.yaml",
        ));
}

/// Every path removed from the gitops repo between two snapshots.
fn removed_paths(before: &BTreeMap<String, Vec<u8>>, dir: &Path) -> Vec<String> {
    let after = snapshot(dir);
    before
        .keys()
        .filter(|p| !after.contains_key(*p))
        .cloned()
        .collect()
}

#[test]
fn removals_take_only_the_removed_things_paths_when_names_equal_other_components_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &[
            "--envs",
            "dev,prod",
            "--services",
            "apps,services,base,overlays,dev,prod",
        ],
    );
    strata()
        .args(["add", "env", "services", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    strata()
        .args(["add", "env", "overlays", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    let check = |args: &[&str], owned: &dyn Fn(&str) -> bool| {
        let before = snapshot(&gitops);
        strata()
            .args(args)
            .arg("-C")
            .arg(&foundation)
            .assert()
            .success();
        let removed = removed_paths(&before, &gitops);
        assert!(!removed.is_empty(), "{args:?} removed nothing");
        for path in &removed {
            assert!(owned(path), "{args:?} removed `{path}`");
        }
        for path in before.keys().filter(|p| owned(p)) {
            assert!(removed.contains(path), "{args:?} left `{path}`");
        }
    };
    check(&["remove", "env", "dev"], &|p| {
        p.starts_with("apps/dev/") || (p.starts_with("services/") && p.contains("/overlays/dev/"))
    });
    check(&["remove", "env", "services"], &|p| {
        p.starts_with("apps/services/")
            || (p.starts_with("services/") && p.contains("/overlays/services/"))
    });
    for service in ["apps", "services", "base", "overlays", "dev", "prod"] {
        check(&["remove", "service", service], &|p| {
            p.starts_with(&format!("services/{service}/"))
                || (p.starts_with("apps/") && p.ends_with(&format!("/{service}.yaml")))
        });
    }
    strata()
        .args(["list", "-C"])
        .arg(&foundation)
        .assert()
        .success();
}

#[test]
fn the_lock_forgets_files_that_are_gone_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--services", "api,web"]);
    fs_err::remove_file(gitops.join("services/api/base/hpa.yaml")).unwrap();
    strata()
        .args(["remove", "service", "api", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    let lock = fs_err::read_to_string(gitops.join("strata.lock")).unwrap();
    assert!(!lock.contains("services/api/"), "{lock}");
}

fn outside_dir(tmp: &Path) -> PathBuf {
    let outside = tmp.join("outside");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::write(outside.join("data.txt"), "precious\n").unwrap();
    outside
}

/// Runs each command and expects exit 2 naming `link`, within a time limit, with nothing
/// changed inside or outside the workspace.
fn refused_for_link(tmp: &Path, foundation: &Path, link: &str, commands: &[&[&str]]) {
    let before = snapshot_without_following(tmp);
    for args in commands {
        strata()
            .args(*args)
            .arg("-C")
            .arg(foundation)
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("`{link}`")))
            .stderr(predicate::str::contains("symbolic link"));
        assert_eq!(snapshot_without_following(tmp), before, "{args:?}");
    }
}

/// Every file and link under `dir` (`.git` aside), links as their targets, never followed.
fn snapshot_without_following(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let entries = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_entry(|entry| !(entry.file_type().is_dir() && entry.file_name() == ".git"));
    for entry in entries {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let kind = entry.file_type();
        if kind.is_symlink() {
            let target = fs_err::read_link(path).unwrap();
            out.insert(rel, format!("-> {}", target.display()).into_bytes());
        } else if !kind.is_dir() {
            out.insert(rel, fs_err::read(path).unwrap());
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn symlinks_are_never_followed_for_add_remove_or_dry_run_issue_9() {
    use std::os::unix::fs::symlink;
    // A directory link inside a service being removed, pointing outside.
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--services", "api"]);
    let outside = outside_dir(tmp.path());
    symlink(&outside, gitops.join("services/api/shared")).unwrap();
    refused_for_link(
        tmp.path(),
        &foundation,
        "services/api/shared",
        &[
            &["remove", "service", "api", "--force", "--allow-dirty"],
            &["remove", "service", "api", "--dry-run"],
        ],
    );
    assert_eq!(
        fs_err::read_to_string(outside.join("data.txt")).unwrap(),
        "precious\n"
    );

    // A loop: a walk that followed it would never end.
    fs_err::remove_file(gitops.join("services/api/shared")).unwrap();
    symlink(".", gitops.join("services/api/x")).unwrap();
    refused_for_link(
        tmp.path(),
        &foundation,
        "services/api/x",
        &[
            &["remove", "service", "api", "--dry-run"],
            &["remove", "service", "api", "--force", "--allow-dirty"],
        ],
    );
    fs_err::remove_file(gitops.join("services/api/x")).unwrap();

    // A file link at a path strata must rewrite.
    let kustomization = gitops.join("apps/dev/kustomization.yaml");
    fs_err::rename(&kustomization, outside.join("kustomization.yaml")).unwrap();
    symlink(outside.join("kustomization.yaml"), &kustomization).unwrap();
    refused_for_link(
        tmp.path(),
        &foundation,
        "apps/dev/kustomization.yaml",
        &[
            &["add", "service", "web", "--force", "--allow-dirty"],
            &["add", "service", "web", "--dry-run"],
            &["remove", "service", "api", "--force", "--allow-dirty"],
        ],
    );
    fs_err::remove_file(&kustomization).unwrap();
    fs_err::rename(outside.join("kustomization.yaml"), &kustomization).unwrap();

    // A parent link: `services` itself points elsewhere.
    fs_err::rename(gitops.join("services"), outside.join("services")).unwrap();
    symlink(outside.join("services"), gitops.join("services")).unwrap();
    refused_for_link(
        tmp.path(),
        &foundation,
        "services",
        &[
            &["add", "service", "web", "--force", "--allow-dirty"],
            &["add", "service", "web", "--dry-run"],
            &["remove", "service", "api", "--force", "--allow-dirty"],
            &["add", "env", "qa", "--dry-run"],
        ],
    );
    assert!(!outside.join("services/web").exists());
}

/// Runs strata with its stdout closed before it writes anything; it must exit with `code`.
fn with_closed_stdout(args: &[&str], dir: &Path, code: i32) {
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("-C")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
}

#[test]
fn a_closed_stdout_ends_quietly_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(tmp.path(), &["--services", &service_list(40)]);
    with_closed_stdout(&["list"], &foundation, 0);
    with_closed_stdout(&["list", "--json"], &foundation, 0);
    with_closed_stdout(&["add", "service", "web", "--dry-run"], &foundation, 0);
    with_closed_stdout(&["add", "env", "qa", "--dry-run"], &foundation, 0);
}

/// A verdict does not depend on stdout: `check | head` still fails on findings, and a change
/// made does not fail because its outcome could not be printed.
#[test]
fn verdicts_and_changes_outlive_a_stdout_that_fails() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--services", "api"]);
    fs_err::write(
        gitops.join("services/api/base/service.yaml"),
        "kind: Service\n",
    )
    .unwrap();
    // The findings decide the exit code, not the reader.
    with_closed_stdout(&["check"], &gitops, 1);
    with_closed_stdout(&["check", "--json"], &gitops, 1);
    let out = StdCommand::new(env!("CARGO_BIN_EXE_strata"))
        .args(["add", "service", "web", "--json", "--allow-dirty", "-C"])
        .arg(&foundation)
        .stdout(Stdio::from(dev_full()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the change is made"), "{stderr}");
    assert!(gitops.join("services/web/base/deployment.yaml").exists());
}

/// `/dev/full`, where every write fails with "No space left on device".
fn dev_full() -> std::fs::File {
    fs_err::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap()
        .into_parts()
        .0
}

/// Runs strata with its stderr on `/dev/full`, where every write fails.
fn with_failing_stderr(args: &[&str], dir: &Path) -> Option<i32> {
    let out = StdCommand::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .arg("-C")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stderr(Stdio::from(dev_full()))
        .output()
        .unwrap();
    out.status.code()
}

#[test]
fn a_stderr_that_cannot_be_written_changes_no_exit_code() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &[]);
    // An error message that cannot be printed still ends with the error's exit code, not a
    // panic's 101; a change whose status lines cannot be printed is still made.
    assert_eq!(
        with_failing_stderr(&["add", "service", "Bad_Name"], &foundation),
        Some(2)
    );
    assert_eq!(
        with_failing_stderr(&["add", "service", "web"], &foundation),
        Some(0)
    );
    assert!(gitops.join("services/web/base/deployment.yaml").exists());
}

#[test]
fn names_yaml_misreads_and_config_keys_strata_sets_are_bad_input_issue_9() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(tmp.path(), &[]);
    let before = snapshot(tmp.path());
    for args in [
        &["add", "service", "yes"][..],
        &["add", "service", "null"][..],
        &["add", "env", "off"][..],
        &["add", "env", "n"][..],
    ] {
        strata()
            .args(args)
            .arg("-C")
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is read by YAML as"))
            .stderr(predicate::str::contains("hint:"));
    }
    for key in ["SERVICE_NAME", "ENVIRONMENT"] {
        strata()
            .args([
                "add",
                "service",
                "web",
                "--config",
                &format!("{key}=x"),
                "-C",
            ])
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("set by strata itself"));
    }
    assert_eq!(snapshot(tmp.path()), before);
    let out = tmp.path().join("other");
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["true", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a boolean"));
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--envs", "dev,on", "--out"])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("environment name `on`"));
}
