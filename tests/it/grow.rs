//! `strata add` and `strata remove`: one rendering path, and every safety rule.

use std::path::Path;

use crate::common::{
    commit_count, head_message, new_workspace, run_held, snapshot, strata, without_history, Test,
};
use predicates::prelude::*;

/// Both repos of two workspaces hold the same files, byte for byte, `strata.toml`'s history aside.
fn assert_same_workspace(a: &Path, b: &Path) {
    for repo in ["acme-foundation", "acme-gitops"] {
        let mut left = snapshot(&a.join(repo));
        let mut right = snapshot(&b.join(repo));
        let left_answers = left.remove("strata.toml").unwrap();
        let right_answers = right.remove("strata.toml").unwrap();
        assert_eq!(
            without_history(&left_answers),
            without_history(&right_answers),
            "{repo}/strata.toml differs beyond its history"
        );
        let left_paths: Vec<_> = left.keys().collect();
        let right_paths: Vec<_> = right.keys().collect();
        assert_eq!(left_paths, right_paths, "{repo} has different files");
        for (path, bytes) in &left {
            assert!(bytes == &right[path], "{repo}/{path} differs");
        }
    }
}

fn add(dir: &Path, args: &[&str]) {
    strata()
        .arg("add")
        .args(args)
        .arg("-C")
        .arg(dir)
        .assert()
        .success();
}

#[test]
fn new_with_services_equals_new_then_add_service_byte_for_byte() {
    let a = assert_fs::TempDir::new().unwrap();
    let b = assert_fs::TempDir::new().unwrap();
    new_workspace(a.path(), &["--services", "api,web", "--envs", "dev,prod"]);
    let (foundation, _) = new_workspace(b.path(), &["--envs", "dev,prod"]);
    add(&foundation, &["service", "api"]);
    add(&foundation, &["service", "web"]);
    assert_same_workspace(a.path(), b.path());
}

#[test]
fn new_with_environments_equals_new_then_add_env_byte_for_byte() {
    for preset in ["startup", "production"] {
        let a = assert_fs::TempDir::new().unwrap();
        let b = assert_fs::TempDir::new().unwrap();
        new_workspace(
            a.path(),
            &[
                "--preset",
                preset,
                "--services",
                "api",
                "--envs",
                "dev,qa,prod",
            ],
        );
        let (_, gitops) = new_workspace(
            b.path(),
            &["--preset", preset, "--services", "api", "--envs", "dev"],
        );
        add(&gitops, &["env", "qa"]);
        add(&gitops, &["env", "prod"]);
        assert_same_workspace(a.path(), b.path());
    }
}

#[test]
fn add_then_remove_returns_to_the_same_files() {
    let a = assert_fs::TempDir::new().unwrap();
    let b = assert_fs::TempDir::new().unwrap();
    new_workspace(
        a.path(),
        &[
            "--preset",
            "production",
            "--services",
            "api",
            "--envs",
            "dev,prod",
        ],
    );
    let (foundation, _) = new_workspace(
        b.path(),
        &[
            "--preset",
            "production",
            "--services",
            "api",
            "--envs",
            "dev,prod",
            "--account-id",
            "123456789012",
        ],
    );
    add(
        &foundation,
        &[
            "service",
            "billing",
            "--irsa",
            "--secret",
            "DB_PASSWORD",
            "--config",
            "LOG_LEVEL=debug",
        ],
    );
    add(&foundation, &["env", "qa"]);
    assert!(b.path().join("acme-foundation/Pulumi.qa.yaml").is_file());
    assert!(b
        .path()
        .join("acme-gitops/services/billing/overlays/qa/externalsecret.yaml")
        .is_file());
    // What `pulumi stack rm qa` does after `pulumi destroy`: the stack file goes, and with it
    // strata's refusal to remove an environment whose stack may still run.
    fs_err::remove_file(b.path().join("acme-foundation/Pulumi.qa.yaml")).unwrap();
    strata()
        .args(["remove", "env", "qa", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    strata()
        .args(["remove", "service", "billing", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert!(!b.path().join("acme-foundation/Pulumi.qa.yaml").exists());
    assert!(
        !b.path().join("acme-gitops/services/billing").exists(),
        "no empty directory is left"
    );
    assert!(!b.path().join("acme-gitops/apps/qa").exists());
    // The account id stays in the answers; everything else is as before.
    for repo in ["acme-foundation", "acme-gitops"] {
        let mut left = snapshot(&a.path().join(repo));
        let mut right = snapshot(&b.path().join(repo));
        left.remove("strata.toml");
        right.remove("strata.toml");
        assert_eq!(left, right, "{repo} differs after add and remove");
    }
}

#[test]
fn irsa_services_get_a_role_in_the_stack_and_its_arn_on_the_service_account() {
    let test = Test::new()
        .arg("--account-id")
        .arg("123456789012")
        .envs("dev,prod")
        .create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    add(&foundation, &["service", "api", "--irsa"]);
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    assert!(
        stack.contains("roleName: acme-dev-api") && stack.contains("roleName: acme-prod-api"),
        "{stack}"
    );
    let patch =
        fs_err::read_to_string(gitops.join("services/api/overlays/prod/patch-serviceaccount.yaml"))
            .unwrap();
    assert!(patch.contains("arn:aws:iam::123456789012:role/acme-prod-api"));
}

#[test]
fn irsa_without_an_account_id_is_refused_with_a_hint() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    strata()
        .args(["add", "service", "api", "--irsa", "-C"])
        .arg(&foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("account id"));
}

#[test]
fn adding_what_exists_or_removing_what_does_not_exits_2_and_writes_nothing() {
    let test = Test::new().services("api").create();
    let foundation = test.foundation.clone();
    let before = snapshot(test.path());
    for (args, needle) in [
        (vec!["add", "service", "api"], "already exists"),
        (vec!["add", "env", "dev"], "already exists"),
        (vec!["remove", "service", "apx"], "did you mean `api`"),
        (vec!["remove", "env", "qa"], "does not exist"),
        (vec!["add", "service", "Bad"], "lowercase"),
        (
            vec!["add", "service", "web", "--min", "3", "--max", "2"],
            "min 3 <= max 2",
        ),
        (
            vec!["add", "service", "web", "--port", "70000"],
            "outside 1 to 65535",
        ),
        (
            vec!["add", "service", "web", "--cpu", "lots"],
            "not a CPU quantity",
        ),
        (
            vec!["add", "service", "web", "--config", "novalue"],
            "not `KEY=VALUE`",
        ),
        (vec!["add", "service", "web", "--image", "nginx"], "no tag"),
        (
            vec!["add", "service", "web", "--host", "web.example.org"],
            "outside the domain",
        ),
        (
            vec!["add", "service", "web", "--envs", "qa"],
            "does not exist",
        ),
        (vec!["add", "env", "kube-system"], "reserved"),
        (
            vec!["add", "env", "qa", "--from", "staging"],
            "does not have",
        ),
    ] {
        strata()
            .args(&args)
            .arg("-C")
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
        assert_eq!(
            snapshot(test.path()),
            before,
            "`{}` wrote something",
            args.join(" ")
        );
    }
}

#[test]
fn commit_makes_one_commit_per_touched_repo_naming_the_change() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    strata()
        .args(["add", "service", "api", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    for repo in [&foundation, &gitops] {
        assert_eq!(commit_count(repo), 2);
        assert!(head_message(repo).contains("Add service `api`"));
        assert!(
            git2::Repository::open(repo)
                .unwrap()
                .statuses(None)
                .unwrap()
                .is_empty(),
            "nothing is left uncommitted"
        );
    }
    strata()
        .args(["remove", "service", "api", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    assert!(head_message(&gitops).contains("Remove service `api`"));
    assert!(git2::Repository::open(&gitops)
        .unwrap()
        .statuses(None)
        .unwrap()
        .is_empty());
}

#[test]
fn dry_run_prints_a_unified_diff_and_writes_nothing() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "api", "--dry-run", "-C"])
        .arg(&foundation)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "+++ b/services/api/base/deployment.yaml",
        ))
        .stdout(predicate::str::contains("+  - api.yaml"))
        .stdout(predicate::str::contains("--- a/strata.toml"));
    assert_eq!(snapshot(test.path()), before);
}

#[test]
fn a_hand_edited_owned_file_is_a_conflict_and_nothing_is_written() {
    let test = Test::new().services("api").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let edited = gitops.join("apps/dev/kustomization.yaml");
    fs_err::write(&edited, "# my own edit\n").unwrap();
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "web", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("apps/dev/kustomization.yaml").and(
            predicate::str::contains("resources: api.yaml` was removed since strata wrote it"),
        ))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(snapshot(test.path()), before);
    strata()
        .args(["add", "service", "web", "--allow-dirty", "--force", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert!(fs_err::read_to_string(&edited)
        .unwrap()
        .contains("web.yaml"));
}

#[test]
fn seed_files_are_never_rewritten() {
    let test = Test::new().services("api").envs("dev,prod").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let seed = gitops.join("services/api/overlays/dev/kustomization.yaml");
    let edited = fs_err::read_to_string(&seed)
        .unwrap()
        .replace("newTag: \"6.7.1\"", "newTag: \"6.8.0\"");
    fs_err::write(&seed, &edited).unwrap();
    strata()
        .args(["add", "env", "qa", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    strata()
        .args(["add", "service", "web", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert_eq!(fs_err::read_to_string(&seed).unwrap(), edited);

    // Removing the service never destroys edits git does not hold, even with `--allow-dirty`.
    let patch = gitops.join("services/api/overlays/prod/patch-hpa.yaml");
    let tuned = fs_err::read_to_string(&patch).unwrap() + "# tuned by the team\n";
    fs_err::write(&patch, &tuned).unwrap();
    strata()
        .args(["remove", "service", "api", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "2 file(s) you edited would be deleted, and git does not hold your edits of them",
        ))
        .stderr(predicate::str::contains("`--force`"));
    assert_eq!(fs_err::read_to_string(&patch).unwrap(), tuned);

    // Once committed, removing the service takes its seeds along, edited or not, and names the
    // edited ones.
    for repo in [&foundation, &gitops] {
        crate::common::git(repo, &["add", "-A"]);
        crate::common::git(repo, &["commit", "-qm", "tuned"]);
    }
    strata()
        .args(["remove", "service", "api", "-C"])
        .arg(&foundation)
        .assert()
        .success()
        .stderr(predicate::str::contains("2 file(s) you edited"))
        .stderr(predicate::str::contains(
            "gitops `services/api/overlays/dev/kustomization.yaml`",
        ))
        .stderr(predicate::str::contains(
            "gitops `services/api/overlays/prod/patch-hpa.yaml`",
        ));
    assert!(!gitops.join("services/api").exists());
}

#[test]
fn uncommitted_changes_in_a_file_strata_must_touch_are_refused_unless_allowed() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let stack = foundation.join("Pulumi.shared.yaml");
    let text = fs_err::read_to_string(&stack).unwrap();
    // Staged-but-identical content is still a change git reports; make a real one in strata.toml.
    let answers = foundation.join("strata.toml");
    let mut answers_text = fs_err::read_to_string(&answers).unwrap();
    answers_text.push('\n');
    fs_err::write(&answers, &answers_text).unwrap();
    strata()
        .args(["add", "env", "qa", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("uncommitted changes"))
        .stderr(predicate::str::contains("strata.toml"));
    assert_eq!(fs_err::read_to_string(&stack).unwrap(), text);
    // `--commit` would carry the user's edit in strata's commit: refused even when allowed.
    strata()
        .args(["add", "env", "qa", "--allow-dirty", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "`--commit` would commit your edits",
        ));
    assert_eq!(fs_err::read_to_string(&stack).unwrap(), text);
    strata()
        .args(["add", "env", "qa", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .success();
}

#[test]
fn a_failure_between_the_two_repos_leaves_both_unchanged() {
    let test = Test::new()
        .services("api")
        .arg("--account-id")
        .arg("123456789012")
        .create();
    let foundation = test.foundation.clone();
    let before = snapshot(test.path());
    for fault in [
        "between-repos",
        "after-writes:1",
        "after-writes:5",
        "commit:gitops",
    ] {
        let mut cmd = strata();
        cmd.env("STRATA_FAULT", fault)
            .args(["add", "service", "web", "--irsa", "--commit", "-C"])
            .arg(&foundation);
        cmd.assert()
            .code(1)
            .stderr(predicate::str::contains("injected fault"));
        assert_eq!(
            snapshot(test.path()),
            before,
            "fault `{fault}` changed a repo"
        );
        for repo in ["acme-foundation", "acme-gitops"] {
            assert_eq!(
                commit_count(&test.path().join(repo)),
                1,
                "fault `{fault}` left a commit in {repo}"
            );
        }
    }
}

#[test]
fn a_path_that_is_not_a_file_is_refused_before_any_write() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    // A directory where strata must write a file: found while the change is prepared.
    fs_err::create_dir_all(gitops.join("apps/dev/api.yaml")).unwrap();
    let before = snapshot(test.path());
    strata()
        .args(["add", "service", "api", "--allow-dirty", "--force", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr("error: `apps/dev/api.yaml` is not a regular file (gitops): nothing was changed\n");
    assert_eq!(snapshot(test.path()), before);
}

#[test]
fn a_file_that_cannot_be_replaced_rolls_both_repos_back() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let before = snapshot(test.path());
    // Once the foundation is written, a directory takes the place of a file strata must write
    // in the gitops repo: the write fails for real, after the first repo changed.
    let blocked = gitops.join("apps/dev/api.yaml");
    let (code, stderr) = run_held(&foundation, &["add", "service", "api"], || {
        assert_ne!(
            snapshot(&foundation),
            snapshot_of(&before, "acme-foundation")
        );
        fs_err::create_dir_all(&blocked).unwrap();
        fs_err::write(blocked.join("mine"), "kept\n").unwrap();
    });
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: writing `apps/dev/api.yaml` (gitops): "),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(": nothing was changed\n  every write was rolled back, in both repos\n"),
        "{stderr}"
    );
    // Both repos are back byte for byte; the directory is the user's, and stays.
    fs_err::remove_dir_all(&blocked).unwrap();
    assert_eq!(snapshot(test.path()), before);
}

/// The part of a snapshot of the workspace's directory under one repo, keyed as `snapshot`
/// of that repo would be.
fn snapshot_of(
    whole: &std::collections::BTreeMap<String, Vec<u8>>,
    repo: &str,
) -> std::collections::BTreeMap<String, Vec<u8>> {
    whole
        .iter()
        .filter_map(|(path, bytes)| {
            let rest = path.strip_prefix(repo)?.strip_prefix('/')?;
            Some((rest.to_string(), bytes.clone()))
        })
        .collect()
}

#[test]
fn the_answers_files_must_agree() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let text = fs_err::read_to_string(gitops.join("strata.toml"))
        .unwrap()
        .replace("domain = \"example.com\"", "domain = \"example.org\"");
    fs_err::write(gitops.join("strata.toml"), text).unwrap();
    strata()
        .args(["list", "-C"])
        .arg(&foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("differ"));
}

#[test]
fn list_reports_services_and_environments_and_drift() {
    let test = Test::new().services("api,web").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let output = strata()
        .args(["list", "--json", "-C"])
        .arg(&foundation)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let json: serde_json::Value = serde_json::from_slice(&output).unwrap();
    let json = &json["result"];
    assert_eq!(json["services"].as_array().unwrap().len(), 2);
    assert_eq!(json["environments"][0]["name"], "dev");
    assert_eq!(json["consistent"], true);
    fs_err::remove_file(gitops.join("apps/prod/web.yaml")).unwrap();
    strata()
        .args(["list", "-C"])
        .arg(&gitops)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("no Application in `apps/prod/`"));
}

#[test]
fn a_malformed_answers_file_gets_file_line_column_and_a_hint() {
    let test = Test::new().create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let original = fs_err::read_to_string(foundation.join("strata.toml")).unwrap();
    let cases = [
        (
            original.replace("region = ", "region = = "),
            "strata.toml`:",
        ),
        (
            original.replace(
                "domain = \"example.com\"",
                "domain = \"example.com\"\ncolour = \"blue\"",
            ),
            "unknown field `colour`",
        ),
        (original.replace("format = 1", "format = 9"), "format 9"),
        (
            original.replace("pack = \"pulumi-python\"\n", ""),
            "missing field `pack`",
        ),
        (
            original.replace("region = \"eu-west-1\"", "region = \"mars-1\""),
            "region `mars-1`",
        ),
        (
            original.replacen("name = \"dev\"", "name = \"kube-x\"", 1),
            "environment name `kube-x`: is reserved",
        ),
    ];
    for (text, needle) in cases {
        // A value refused is not a syntax error: the hint says which.
        let hint = if needle.contains("is reserved") {
            "hint: change the value at that place"
        } else {
            "hint:"
        };
        fs_err::write(foundation.join("strata.toml"), &text).unwrap();
        fs_err::write(gitops.join("strata.toml"), &text).unwrap();
        strata()
            .args(["list", "-C"])
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle))
            .stderr(predicate::str::contains(hint));
    }
}

/// A service's values are parsed into their types when `strata.toml` is read: a bad one is
/// refused at its line, as a value (not as a syntax error).
#[test]
fn a_bad_service_value_in_strata_toml_is_refused_at_its_line_issue_18() {
    let test = Test::new().services("api").create();
    let original = fs_err::read_to_string(test.foundation.join("strata.toml")).unwrap();
    for (from, to, needle) in [
        (
            "cpu_request = \"100m\"",
            "cpu_request = \"lots\"",
            "CPU quantity `lots`",
        ),
        (
            "memory_limit = \"256Mi\"",
            "memory_limit = \"1MB\"",
            "memory quantity `1MB`",
        ),
        ("port = 9898", "port = 0", "port `0`: is outside 1 to 65535"),
        ("tag = \"6.7.1\"", "tag = \"latest\"", "image tag `latest`"),
        (
            "health_path = \"/healthz\"",
            "health_path = \"healthz\"",
            "path `healthz`",
        ),
        (
            "host = \"{service}",
            "host = \"{name}",
            "host `{name}.{env}.{domain}`",
        ),
        (
            "min_replicas = 1",
            "min_replicas = 0",
            "replica bounds: 1 <= min 0 <= max 3",
        ),
    ] {
        assert!(original.contains(from), "{from}");
        let text = original.replacen(from, to, 1);
        fs_err::write(test.foundation.join("strata.toml"), &text).unwrap();
        fs_err::write(test.gitops.join("strata.toml"), &text).unwrap();
        strata()
            .args(["list", "-C"])
            .arg(&test.foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("strata.toml`:"))
            .stderr(predicate::str::contains(needle))
            .stderr(predicate::str::contains(
                "hint: change the value at that place",
            ));
    }
}

#[test]
fn remove_env_refuses_to_strand_a_service() {
    let test = Test::new().envs("dev,prod").create();
    let foundation = test.foundation.clone();
    add(&foundation, &["service", "api", "--envs", "prod"]);
    strata()
        .args(["remove", "env", "prod", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("runs only in `prod`"));
}

/// Issue 19, item 8: `remove env` deleted the stack file and the CI jobs of an environment with
/// its own cluster, and said nothing of the cluster, which kept running; and without its stack
/// file Pulumi cannot destroy it. Now strata refuses while the file is there, naming the steps
/// in order (destroy, then `stack rm`, which deletes the file, then strata); `--dry-run` shows
/// them with the diff; `--force` removes anyway and says what still runs.
#[test]
fn removing_an_environment_with_its_own_stack_says_to_destroy_it_first_issue_19() {
    let test = Test::new()
        .arg("--preset")
        .arg("production")
        .envs("dev,qa,prod")
        .arg("--backend")
        .arg("pulumi-cloud:acme-platform")
        .create();
    let foundation = test.foundation.clone();
    let before = snapshot(test.path());
    let output = strata()
        .args(["remove", "env", "qa", "-C"])
        .arg(&foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(snapshot(test.path()), before, "nothing was written");
    let destroy = stderr
        .find("  - 1. `pulumi destroy --stack acme-platform/qa` in the foundation, with `Pulumi.qa.yaml` in place")
        .unwrap_or_else(|| panic!("{stderr}"));
    let stack_rm = stderr
        .find("  - 2. `pulumi stack rm acme-platform/qa`")
        .unwrap_or_else(|| panic!("{stderr}"));
    let again = stderr
        .find("  - 3. `strata remove env qa`")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(destroy < stack_rm && stack_rm < again, "in order: {stderr}");
    assert!(
        stderr.contains("error: environment `qa` has its own Pulumi stack `acme-platform/qa`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: take the stack down first"),
        "{stderr}"
    );

    // A dry run shows the change and the same steps, and writes nothing.
    let output = strata()
        .args(["remove", "env", "qa", "--dry-run", "-C"])
        .arg(&foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("-config:"));
    assert!(stderr.contains("warning: the Pulumi stack `acme-platform/qa` of environment `qa` keeps running after this removal"), "{stderr}");
    assert!(
        stderr.contains("  1. `pulumi destroy --stack acme-platform/qa`"),
        "{stderr}"
    );
    assert_eq!(snapshot(test.path()), before, "a dry run writes nothing");

    // `pulumi destroy` then `pulumi stack rm qa`, which deletes the stack file: strata removes
    // the environment and has nothing more to say about its stack.
    fs_err::remove_file(foundation.join("Pulumi.qa.yaml")).unwrap();
    let output = strata()
        .args(["remove", "env", "qa", "--commit", "-C"])
        .arg(&foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("keeps running"), "{stderr}");
    assert!(!test.gitops.join("apps/qa").exists());
    let repo = git2::Repository::open(&foundation).unwrap();
    assert!(
        repo.statuses(None).unwrap().is_empty(),
        "the deletion is committed"
    );

    // `--force` removes the environment with its stack file, and says what still runs.
    let output = strata()
        .args(["remove", "env", "dev", "--force", "-C"])
        .arg(&foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(!foundation.join("Pulumi.dev.yaml").exists());
    assert!(
        stderr.contains(
            "warning: the Pulumi stack `acme-platform/dev` of environment `dev` keeps running"
        ),
        "{stderr}"
    );
    let restore = stderr
        .find("1. `git checkout HEAD -- Pulumi.dev.yaml`")
        .unwrap();
    let destroy = stderr
        .find("2. `pulumi destroy --stack acme-platform/dev`")
        .unwrap();
    let stack_rm = stderr
        .find("3. `pulumi stack rm acme-platform/dev`")
        .unwrap();
    assert!(restore < destroy && destroy < stack_rm, "{stderr}");
}

/// In a shared cluster an environment is a namespace of the one stack: nothing to destroy
/// first, but the next `pulumi up` of the stack removes what it leaves running.
#[test]
fn removing_an_environment_of_a_shared_cluster_names_the_pulumi_up_that_removes_it() {
    let test = Test::new().envs("dev,qa,prod").create();
    let output = strata()
        .args(["remove", "env", "qa", "-C"])
        .arg(&test.foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: environment `qa`'s namespace, AppProject and root Application keep running in the shared cluster until `pulumi up --stack shared` removes them"),
        "{stderr}"
    );
}

#[test]
fn removing_a_service_with_files_strata_did_not_write_is_a_conflict_until_forced() {
    let test = Test::new().services("api,web").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    let extra = gitops.join("services/api/base/extra-config.yaml");
    fs_err::write(&extra, "kind: ConfigMap\n").unwrap();
    let before = snapshot(test.path());
    strata()
        .args(["remove", "service", "api", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("services/api/base/extra-config.yaml")
                .and(predicate::str::contains("was not written by strata")),
        );
    assert_eq!(snapshot(test.path()), before);
    strata()
        .args(["remove", "service", "api", "--allow-dirty", "--force", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert!(
        !gitops.join("services/api").exists(),
        "nothing of the removed service is left"
    );
    assert!(gitops.join("services/web/base/deployment.yaml").exists());
}

#[test]
fn removing_an_environment_takes_every_overlay_and_its_apps_directory() {
    let test = Test::new().services("api,web").envs("dev,qa,prod").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    strata()
        .args(["remove", "env", "qa", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert!(!gitops.join("apps/qa").exists());
    for service in ["api", "web"] {
        assert!(!gitops
            .join(format!("services/{service}/overlays/qa"))
            .exists());
        assert!(gitops
            .join(format!(
                "services/{service}/overlays/prod/kustomization.yaml"
            ))
            .exists());
    }
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    assert!(
        !stack.contains("name: qa"),
        "the shared stack no longer hosts qa"
    );
    assert!(git2::Repository::open(&gitops)
        .unwrap()
        .statuses(None)
        .unwrap()
        .is_empty());
}

#[test]
fn a_bad_name_in_strata_toml_is_refused_at_its_line_before_anything_is_read() {
    let test = Test::new().services("api").create();
    let foundation = test.foundation.clone();
    let gitops = test.gitops.clone();
    for repo in [&foundation, &gitops] {
        let path = repo.join("strata.toml");
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(text.contains("name = \"dev\""), "{text}");
        fs_err::write(
            &path,
            text.replacen("name = \"dev\"", "name = \"kube-dev\"", 1),
        )
        .unwrap();
    }
    let before = crate::common::snapshot(test.path());
    let output = crate::common::strata()
        .args(["add", "service", "web", "-C"])
        .arg(&gitops)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("strata.toml`:"),
        "names the file and line: {stderr}"
    );
    assert!(
        stderr.contains("environment name `kube-dev`: is reserved"),
        "{stderr}"
    );
    assert_eq!(crate::common::snapshot(test.path()), before);
}

#[test]
fn json_prints_the_outcome_per_repo() {
    let test = Test::new().services("api").create();
    let output = strata()
        .args(["add", "service", "web", "--commit", "--json", "-C"])
        .arg(&test.gitops)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let outcome = &json["result"];
    assert_eq!(outcome["outcome"], "written");
    let repos = outcome["repos"].as_array().unwrap();
    let gitops = repos.iter().find(|r| r["repo"] == "gitops").unwrap();
    assert!(gitops["created"].as_u64().unwrap() > 5, "{outcome}");
    assert_eq!(gitops["committed"], true);
    // A second identical run changes nothing, and says so.
    let again = strata()
        .args(["upgrade", "--json", "-C"])
        .arg(&test.gitops)
        .output()
        .unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(outcome["result"]["outcome"], "up-to-date");
}

/// The `pulumi up` jobs of the foundation's deploy workflow, in file order (issue 13).
fn deploy_jobs(foundation: &Path) -> Vec<String> {
    fs_err::read_to_string(foundation.join(".github/workflows/deploy.yml"))
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("  deploy-"))
        .map(|rest| rest.trim_end_matches(':').to_string())
        .collect()
}

#[test]
fn add_env_adds_its_stack_to_the_foundation_workflows_and_remove_env_takes_it_out() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) =
        new_workspace(tmp.path(), &["--preset", "production", "--envs", "dev"]);
    assert_eq!(deploy_jobs(&foundation), ["dev"]);
    add(&gitops, &["env", "prod"]);
    assert_eq!(deploy_jobs(&foundation), ["dev", "prod"]);
    let deploy = fs_err::read_to_string(foundation.join(".github/workflows/deploy.yml")).unwrap();
    assert!(deploy
        .contains("  deploy-prod:\n    name: pulumi up (prod)\n    needs: [test, deploy-dev]\n"));
    assert!(deploy.contains("    environment: prod\n"));
    let preview =
        fs_err::read_to_string(foundation.join(".github/workflows/pull-request.yml")).unwrap();
    assert!(preview.contains("        stack:\n          - dev\n          - prod\n"));
    strata()
        .args(["remove", "env", "dev", "--allow-dirty", "--force", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    assert_eq!(deploy_jobs(&foundation), ["prod"]);
}

#[test]
fn a_hand_edited_workflow_is_a_conflict_when_the_environments_change() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) =
        new_workspace(tmp.path(), &["--preset", "production", "--envs", "dev"]);
    let workflow = foundation.join(".github/workflows/deploy.yml");
    let mut text = fs_err::read_to_string(&workflow).unwrap();
    text.push_str("# our own step\n");
    fs_err::write(&workflow, &text).unwrap();
    let before = snapshot(tmp.path());
    strata()
        .args(["add", "env", "prod", "--allow-dirty", "-C"])
        .arg(&gitops)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(".github/workflows/deploy.yml"));
    assert_eq!(snapshot(tmp.path()), before, "nothing is written");
}

#[test]
fn a_bad_host_is_reported_once_about_the_flag_typed_issue_18() {
    let test = Test::new().envs("dev,qa,prod").create();
    let output = strata()
        .args(["add", "service", "web", "--host", "web.example.org", "-C"])
        .arg(&test.foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr
            .matches("`--host web.example.org`: is outside the domain")
            .count(),
        1,
        "{stderr}"
    );
    assert!(
        stderr.contains("`--host web.example.org`: is the same host in every environment"),
        "{stderr}"
    );
    assert!(!stderr.contains("the new answers"), "{stderr}");
    let output = strata()
        .args(["add", "service", "web", "--envs", "dev,staging", "-C"])
        .arg(&test.foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("`--envs staging`: does not exist in this workspace"),
        "{stderr}"
    );
}

#[test]
fn a_hand_written_host_outside_the_domain_is_reported_once() {
    let test = Test::new().services("api").envs("dev,qa,prod").create();
    for repo in [&test.foundation, &test.gitops] {
        let path = repo.join("strata.toml");
        let text = fs_err::read_to_string(&path).unwrap().replace(
            "host = \"{service}.{env}.{domain}\"",
            "host = \"api.example.org\"",
        );
        fs_err::write(&path, text).unwrap();
    }
    let output = strata()
        .args(["list", "-C"])
        .arg(&test.foundation)
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr
            .matches("host `api.example.org`: is outside the domain")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn two_services_may_not_claim_one_host_and_path_of_an_environment() {
    let ws = Test::new().services("web").envs("dev,prod").create();
    let gitops = ws.path().join("acme-gitops");
    let before = snapshot(&gitops);
    strata()
        .current_dir(&gitops)
        .args(["add", "service", "evil", "--host", "web.{env}.{domain}"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "claims `web.dev.example.com/` in `dev`, which service `web` serves",
        ));
    assert_eq!(snapshot(&gitops), before, "nothing is written");
    // Another path of the same host is another rule of the load balancer.
    strata()
        .current_dir(&gitops)
        .args([
            "add",
            "service",
            "docs",
            "--host",
            "web.{env}.{domain}",
            "--path",
            "/docs",
        ])
        .assert()
        .success();
}

#[test]
fn a_service_the_namespace_would_admit_no_pod_of_is_refused() {
    let ws = Test::new().services("web").envs("dev").create();
    let gitops = ws.path().join("acme-gitops");
    let before = snapshot(&gitops);
    strata()
        .current_dir(&gitops)
        .args([
            "add", "service", "big", "--cpu", "8", "--memory", "64Gi", "--min", "60", "--max",
            "100",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is above `namespace.limits.max_cpu",
        ))
        .stderr(predicate::str::contains("is above `namespace.quota.pods"));
    assert_eq!(snapshot(&gitops), before, "nothing is written");
}
