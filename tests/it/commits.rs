//! `--commit` commits exactly the command's change, as the repo's rules ask (issue 21 point 5,
//! issue 20 point 6): no earlier uncommitted change rides along, no empty commit, messages that
//! say what changed, the repo's hooks run, signing where `commit.gpgsign` asks.

use std::path::Path;

use crate::common::{commit_count, git, head_message, snapshot, strata, Test};
use predicates::prelude::*;

fn clean(repo: &Path) -> bool {
    git2::Repository::open(repo)
        .unwrap()
        .statuses(None)
        .unwrap()
        .is_empty()
}

/// Installs an executable hook `name` with `script` in a repo.
fn hook(repo: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = repo.join(".git/hooks").join(name);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_earlier_uncommitted_change_is_refused_by_commit_and_named() {
    // Issue 21: `add env staging --commit` after two uncommitted `add service` runs made one
    // commit titled "Add environment `staging`" that held both services.
    let test = Test::new().create();
    for name in ["api", "web"] {
        strata()
            .args(["add", "service", name, "-C"])
            .arg(&test.gitops)
            .assert()
            .success();
    }
    let before = snapshot(test.path());
    strata()
        .args(["add", "env", "staging", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("strata's earlier change"))
        .stderr(predicate::str::contains("`strata add service api`"))
        .stderr(predicate::str::contains("`strata add service web`"))
        .stderr(predicate::str::contains(
            "services/api/base/deployment.yaml",
        ))
        .stderr(predicate::str::contains("git -C"));
    assert_eq!(snapshot(test.path()), before, "nothing was written");
    for repo in [&test.foundation, &test.gitops] {
        assert_eq!(commit_count(repo), 1, "no commit in {}", repo.display());
        // Committed by hand, the earlier change no longer stands in the way.
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-qm", "Add services api and web"]);
    }
    strata()
        .args(["add", "env", "staging", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .success();
    for repo in [&test.foundation, &test.gitops] {
        assert_eq!(commit_count(repo), 3);
        assert!(head_message(repo).starts_with("Add environment `staging`"));
        assert!(clean(repo));
    }
}

#[test]
fn a_commit_message_lists_the_files_of_its_repo() {
    let test = Test::new().create();
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .success();
    let gitops = head_message(&test.gitops);
    assert!(
        gitops.contains("- created `services/api/base/deployment.yaml`"),
        "{gitops}"
    );
    assert!(gitops.contains("- updated `strata.lock`"), "{gitops}");
    let foundation = head_message(&test.foundation);
    assert!(!foundation.contains("services/api"), "{foundation}");
    assert!(
        foundation.contains("- updated `strata.toml`"),
        "{foundation}"
    );
}

#[test]
fn upgrade_to_the_same_strata_makes_no_empty_commit_and_no_version_to_itself() {
    // Issue 21: `upgrade --commit` made an empty commit "Upgrade to strata 0.2.0 (from 0.2.0)"
    // in the repo it did not change.
    let test = Test::new().services("api").create();
    let readme = test.foundation.join("README.md");
    fs_err::remove_file(&readme).unwrap();
    git(&test.foundation, &["commit", "-qam", "drop the readme"]);
    strata()
        .args(["upgrade", "--commit", "--json", "-C"])
        .arg(&test.gitops)
        .assert()
        .success();
    assert!(readme.is_file(), "the upgrade restored the readme");
    assert_eq!(commit_count(&test.foundation), 3);
    let message = head_message(&test.foundation);
    assert!(
        message.starts_with("Re-render strata's files with strata"),
        "{message}"
    );
    assert!(!message.contains("(from"), "{message}");
    assert_eq!(
        commit_count(&test.gitops),
        1,
        "the gitops repo did not change"
    );
    assert!(clean(&test.foundation) && clean(&test.gitops));
}

#[test]
fn a_failing_pre_commit_hook_rolls_the_change_back_and_says_so() {
    // Issue 20: a pre-commit hook that fails was bypassed silently.
    let test = Test::new().create();
    hook(
        &test.gitops,
        "pre-commit",
        "git diff --cached --name-only | grep -q services/api/ && { echo 'no api, says policy' >&2; exit 3; }; exit 0",
    );
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`pre-commit` hook failed (exit code 3)",
        ))
        .stderr(predicate::str::contains("no api, says policy"))
        .stderr(predicate::str::contains("rolled back"))
        .stderr(predicate::str::contains("without `--commit`"));
    assert_eq!(snapshot(test.path()), before, "every write was rolled back");
    for repo in [&test.foundation, &test.gitops] {
        assert_eq!(commit_count(repo), 1);
        assert!(clean(repo));
    }
}

#[test]
fn a_pre_commit_hook_that_rewrites_strata_toml_leaves_both_repos_as_they_were() {
    // break-report-2 B6: the hook's edit of `strata.toml` survived the rollback in one repo,
    // and the two copies of the answers differed from then on.
    for script in [
        "echo '# hooked' >> strata.toml; git add strata.toml",
        "echo '# formatted' >> strata.toml; exit 1",
    ] {
        let test = Test::new().create();
        hook(&test.foundation, "pre-commit", script);
        let before = snapshot(test.path());
        strata()
            .args(["set", "cluster.support_type=EXTENDED", "--commit", "-C"])
            .arg(&test.foundation)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("pre-commit"));
        assert_eq!(snapshot(test.path()), before, "{script}");
        strata()
            .args(["list", "-C"])
            .arg(&test.gitops)
            .assert()
            .success();
    }
}

#[test]
fn the_pre_commit_hook_sees_exactly_the_files_strata_commits() {
    let test = Test::new().create();
    let seen = test.path().join("seen");
    hook(
        &test.gitops,
        "pre-commit",
        &format!("git diff --cached --name-only > '{}'", seen.display()),
    );
    // A change of the user's own, staged: not part of strata's commit.
    fs_err::write(test.gitops.join("NOTES.md"), "mine\n").unwrap();
    git(&test.gitops, &["add", "NOTES.md"]);
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .success();
    let seen = fs_err::read_to_string(seen).unwrap();
    assert!(seen.contains("services/api/base/deployment.yaml"), "{seen}");
    assert!(!seen.contains("NOTES.md"), "{seen}");
}

#[test]
fn the_commit_msg_hook_runs_and_may_edit_the_message() {
    let test = Test::new().create();
    hook(
        &test.foundation,
        "commit-msg",
        "printf '\\nChange-Id: I123\\n' >> \"$1\"",
    );
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.foundation)
        .assert()
        .success();
    let message = head_message(&test.foundation);
    assert!(message.starts_with("Add service `api`"), "{message}");
    assert!(message.contains("Change-Id: I123"), "{message}");
    hook(
        &test.foundation,
        "commit-msg",
        "echo 'missing ticket' >&2; exit 1",
    );
    strata()
        .args(["add", "service", "web", "--commit", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`commit-msg` hook failed"))
        .stderr(predicate::str::contains("missing ticket"));
    assert_eq!(commit_count(&test.foundation), 2);
    assert!(!test.gitops.join("services/web").exists());
}

/// Sets a repo up to sign its commits with an ssh key made for the test.
fn signing_repo(repo: &Path, key_dir: &Path) -> std::path::PathBuf {
    let key = key_dir.join("key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen runs");
    assert!(made.success());
    git(repo, &["config", "commit.gpgsign", "true"]);
    git(repo, &["config", "gpg.format", "ssh"]);
    git(
        repo,
        &[
            "config",
            "user.signingkey",
            &key.with_extension("pub").display().to_string(),
        ],
    );
    key
}

#[test]
fn a_repo_that_signs_its_commits_gets_a_signed_commit() {
    let test = Test::new().create();
    let keys = assert_fs::TempDir::new().unwrap();
    signing_repo(&test.gitops, keys.path());
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .success();
    let repo = git2::Repository::open(&test.gitops).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(
        head.header_field_bytes("gpgsig").is_ok(),
        "the commit is signed"
    );
    assert!(head.message().unwrap().starts_with("Add service `api`"));
    assert!(clean(&test.gitops));
    // The foundation does not ask for signatures: libgit2's commit, unsigned.
    let repo = git2::Repository::open(&test.foundation).unwrap();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert!(head.header_field_bytes("gpgsig").is_err());
}

#[test]
fn a_signature_git_cannot_make_rolls_back_and_says_how_to_commit_by_hand() {
    let test = Test::new().create();
    let keys = assert_fs::TempDir::new().unwrap();
    let key = signing_repo(&test.gitops, keys.path());
    fs_err::remove_file(&key).unwrap();
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&test.gitops)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("`commit.gpgsign`"))
        .stderr(predicate::str::contains("rolled back"))
        .stderr(predicate::str::contains("git commit"));
    assert_eq!(snapshot(test.path()), before);
    assert_eq!(commit_count(&test.gitops), 1);
    assert_eq!(commit_count(&test.foundation), 1);
}

#[test]
fn commits_follow_gits_identity_and_say_when_there_is_none() {
    // break-report F15: strata ignored `GIT_AUTHOR_*` and invented an identity silently.
    let tmp = assert_fs::TempDir::new().unwrap();
    let home = tmp.path().join("home");
    fs_err::create_dir_all(&home).unwrap();
    let new = |out: &str, env: &[(&str, &str)]| {
        let mut cmd = strata();
        for key in [
            "GIT_AUTHOR_NAME",
            "GIT_AUTHOR_EMAIL",
            "GIT_COMMITTER_NAME",
            "GIT_COMMITTER_EMAIL",
            "EMAIL",
        ] {
            cmd.env_remove(key);
        }
        cmd.env("HOME", &home)
            .env("XDG_CONFIG_HOME", &home)
            .envs(env.iter().copied())
            .current_dir(tmp.path())
            .args(["new", "acme", "--out", out])
            .args(crate::common::known_values(&[]))
            .assert()
            .success()
    };
    let log = |repo: &str| {
        let output = std::process::Command::new("git")
            .args(["-C", repo, "log", "--format=%an <%ae> / %cn <%ce>"])
            .current_dir(tmp.path())
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    new("none", &[]).stderr(predicate::str::contains("note: git has no identity here"));
    assert_eq!(
        log("none/acme-gitops").trim(),
        "strata <strata@localhost> / strata <strata@localhost>"
    );
    new(
        "env",
        &[
            ("GIT_AUTHOR_NAME", "Ada"),
            ("GIT_AUTHOR_EMAIL", "ada@example.com"),
            ("GIT_COMMITTER_NAME", "CI"),
            ("GIT_COMMITTER_EMAIL", "ci@example.com"),
        ],
    )
    .stderr(predicate::str::contains("no identity").not());
    assert_eq!(
        log("env/acme-foundation").trim(),
        "Ada <ada@example.com> / CI <ci@example.com>"
    );
}
