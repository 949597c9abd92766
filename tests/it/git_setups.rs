//! Git setups common in CI, refused clearly with the git command that fixes them (issue 21
//! point 6): a repo another user owns (`safe.directory`), a submodule where strata writes, a
//! sparse checkout, a shallow clone; and a workspace without git shows no libgit2 internals.

use crate::common::{git, snapshot, strata, Test};
use predicates::prelude::*;

#[test]
fn a_repo_another_user_owns_is_refused_with_the_safe_directory_command_not_as_no_repo() {
    // Issue 21: such a repo was treated as "not a git repo", and with a rebase in progress
    // `add service` wrote files and exited 0.
    let test = Test::new().create();
    fs_err::create_dir_all(test.gitops.join(".git/rebase-merge")).unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "4242:4242"])
        .arg(&test.gitops)
        .status()
        .unwrap();
    assert!(
        chown.success(),
        "the tests run as root, to hand the repo to another user"
    );
    let before = snapshot(test.path());
    strata()
        .env("HOME", test.path())
        .args(["add", "service", "api", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("owned by another user"))
        .stderr(predicate::str::contains(
            "git config --global --add safe.directory",
        ))
        .stderr(predicate::str::contains("not a git repo").not());
    assert_eq!(snapshot(test.path()), before, "nothing was written");
}

#[test]
fn a_submodule_in_a_path_strata_writes_is_refused_and_named() {
    let test = Test::new().create();
    git(
        &test.gitops,
        &[
            "update-index",
            "--add",
            "--cacheinfo",
            "160000,1111111111111111111111111111111111111111,services/api",
        ],
    );
    git(&test.gitops, &["commit", "-qm", "a submodule"]);
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`services/api`"))
        .stderr(predicate::str::contains("is a git submodule"))
        .stderr(predicate::str::contains("git rm --cached services/api"));
    assert_eq!(snapshot(test.path()), before);
    // Elsewhere, strata writes as usual.
    strata()
        .args(["add", "service", "web", "-C"])
        .arg(&test.foundation)
        .assert()
        .success();
}

#[test]
fn a_sparse_checkout_is_refused_with_the_command_that_widens_it() {
    // Issue 21: a sparse checkout's absent files were "uncommitted changes".
    let test = Test::new().services("api").create();
    git(&test.gitops, &["sparse-checkout", "set", "apps"]);
    assert!(!test.gitops.join("services").exists());
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "web", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has a sparse checkout"))
        .stderr(predicate::str::contains("git sparse-checkout disable"))
        .stderr(predicate::str::contains("uncommitted").not());
    assert_eq!(snapshot(test.path()), before);
    git(&test.gitops, &["sparse-checkout", "disable"]);
    strata()
        .args(["add", "service", "web", "-C"])
        .arg(&test.foundation)
        .assert()
        .success();
}

#[test]
fn a_workspace_without_git_shows_no_libgit2_internals() {
    let test = Test::new().arg("--no-git").create();
    for args in [
        vec!["add", "service", "api", "--commit"],
        vec!["upgrade", "--commit"],
        vec!["add", "service", "api"],
        vec!["upgrade"],
        vec!["list"],
        vec!["check"],
    ] {
        let output = strata()
            .args(&args)
            .arg("-C")
            .arg(&test.foundation)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        for internal in ["class=", "code=", "libgit2", "(-3)", "NotFound"] {
            assert!(
                !stderr.contains(internal),
                "{args:?} shows `{internal}`: {stderr}"
            );
        }
    }
}
