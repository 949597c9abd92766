//! `strata add platform` and `strata remove platform` (issue 13): the same rendering path and
//! the same guarantees as `add service`, across both repos.

use std::path::Path;

use crate::common::{commit_count, head_message, new_workspace, snapshot, strata, without_history};
use predicates::prelude::*;

fn platform(dir: &Path, args: &[&str]) {
    strata().args(args).arg("-C").arg(dir).assert().success();
}

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

#[test]
fn new_with_monitoring_equals_new_then_add_platform_monitoring_byte_for_byte() {
    let a = assert_fs::TempDir::new().unwrap();
    let b = assert_fs::TempDir::new().unwrap();
    let args = [
        "--preset",
        "startup",
        "--services",
        "api",
        "--envs",
        "dev,prod",
    ];
    new_workspace(
        a.path(),
        &[&args[..], &["--set", "platform.monitoring.enabled=true"]].concat(),
    );
    let (_, gitops) = new_workspace(b.path(), &args);
    platform(&gitops, &["add", "platform", "monitoring"]);
    assert_same_workspace(a.path(), b.path());
}

#[test]
fn add_then_remove_platform_returns_to_the_same_files() {
    let a = assert_fs::TempDir::new().unwrap();
    let b = assert_fs::TempDir::new().unwrap();
    let args = [
        "--preset",
        "production",
        "--services",
        "api",
        "--envs",
        "dev,prod",
    ];
    new_workspace(a.path(), &args);
    let (foundation, _) = new_workspace(b.path(), &args);
    platform(&foundation, &["remove", "platform", "monitoring"]);
    platform(&foundation, &["remove", "platform", "logging"]);
    let gitops = b.path().join("acme-gitops");
    assert!(
        !gitops.join("platform").exists(),
        "nothing of the platform is left"
    );
    assert!(!gitops
        .join("services/api/base/servicemonitor.yaml")
        .exists());
    let stack = fs_err::read_to_string(foundation.join("Pulumi.prod.yaml")).unwrap();
    assert!(stack.contains("monitoring: false") && stack.contains("logging: false"));
    // The removals are not committed: re-adding rewrites files git still has.
    platform(
        &foundation,
        &["add", "platform", "logging", "--allow-dirty"],
    );
    platform(
        &foundation,
        &["add", "platform", "monitoring", "--allow-dirty"],
    );
    assert_same_workspace(a.path(), b.path());
}

#[test]
fn add_platform_writes_both_repos_and_commits_once_in_each() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &[
            "--preset",
            "startup",
            "--services",
            "api",
            "--envs",
            "dev,prod",
        ],
    );
    platform(&gitops, &["add", "platform", "monitoring", "--commit"]);
    for repo in [&foundation, &gitops] {
        assert_eq!(commit_count(repo), 2);
        assert!(head_message(repo).contains("platform service `monitoring`"));
    }
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    assert!(stack.contains("monitoring: true"), "{stack}");
    assert!(stack.contains("path: platform/shared/apps"), "{stack}");
    let apps =
        fs_err::read_to_string(gitops.join("platform/shared/apps/kustomization.yaml")).unwrap();
    assert!(apps.contains("- monitoring.yaml") && apps.contains("- logging.yaml"));
    let monitor =
        fs_err::read_to_string(gitops.join("services/api/base/servicemonitor.yaml")).unwrap();
    assert!(monitor.contains("kind: ServiceMonitor") && monitor.contains("port: http"));
    let base = fs_err::read_to_string(gitops.join("services/api/base/kustomization.yaml")).unwrap();
    assert!(base.contains("- servicemonitor.yaml"));
}

#[test]
fn bad_platform_input_exits_2_and_writes_nothing() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(tmp.path(), &["--preset", "startup"]);
    let before = snapshot(tmp.path());
    for (args, needle) in [
        (
            vec!["add", "platform", "monitorng"],
            "did you mean `monitoring`",
        ),
        (vec!["add", "platform", "tracing"], "monitoring, logging"),
        (vec!["add", "platform", "logging"], "is already on"),
        (vec!["remove", "platform", "monitoring"], "is not on"),
        (vec!["add", "env", "monitoring"], "reserved"),
        (vec!["add", "env", "platform"], "reserved"),
    ] {
        strata()
            .args(&args)
            .arg("-C")
            .arg(&foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
        assert_eq!(
            snapshot(tmp.path()),
            before,
            "`{}` wrote something",
            args.join(" ")
        );
    }
}

#[test]
fn the_platform_teams_values_are_never_overwritten_and_go_with_their_service() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &[
            "--preset",
            "startup",
            "--services",
            "api",
            "--envs",
            "dev,prod",
        ],
    );
    let custom = gitops.join("platform/shared/values/fluent-bit-custom.yaml");
    fs_err::write(&custom, "resources:\n  limits:\n    memory: 1Gi\n").unwrap();
    platform(
        &foundation,
        &["add", "platform", "monitoring", "--allow-dirty"],
    );
    assert_eq!(
        fs_err::read_to_string(&custom).unwrap(),
        "resources:\n  limits:\n    memory: 1Gi\n"
    );
    // Uncommitted, the values are never deleted; committed, they go with their service, like
    // a removed service's overlay (git keeps them).
    strata()
        .args(["remove", "platform", "logging", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "gitops: `platform/shared/values/fluent-bit-custom.yaml`",
        ));
    assert!(custom.exists());
    for repo in [&foundation, &gitops] {
        crate::common::git(repo, &["add", "-A"]);
        crate::common::git(repo, &["commit", "-qm", "tuned"]);
    }
    platform(
        &foundation,
        &["remove", "platform", "logging", "--allow-dirty"],
    );
    assert!(!custom.exists());
    assert!(gitops
        .join("platform/shared/values/kube-prometheus-stack-custom.yaml")
        .exists());
}

/// Turning the last platform service off takes `platform/<stack>/` whole: a file someone added
/// there is a conflict, as in a removed service's directory, deleted only with `--force`.
#[test]
fn a_file_added_to_the_platform_tree_blocks_turning_the_platform_off() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--preset", "startup"]);
    let mine = gitops.join("platform/shared/values/mine.yaml");
    fs_err::write(&mine, "a: 1\n").unwrap();
    strata()
        .args(["remove", "platform", "logging", "--allow-dirty", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("platform/shared/values/mine.yaml"));
    assert!(mine.exists());
    assert!(gitops.join("platform/shared/apps/logging.yaml").exists());
    strata()
        .args([
            "remove",
            "platform",
            "logging",
            "--allow-dirty",
            "--force",
            "-C",
        ])
        .arg(&foundation)
        .assert()
        .success();
    assert!(!gitops.join("platform/shared").exists());
}

#[test]
fn a_per_environment_cluster_gets_its_platform_tree_with_its_environment() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(
        tmp.path(),
        &["--preset", "production", "--envs", "dev,prod"],
    );
    platform(&gitops, &["add", "env", "stage"]);
    for file in [
        "apps/kustomization.yaml",
        "apps/monitoring.yaml",
        "apps/logging.yaml",
        "values/kube-prometheus-stack.yaml",
        "values/fluent-bit.yaml",
    ] {
        assert!(gitops.join("platform/stage").join(file).is_file(), "{file}");
    }
    // `--force`: the stack was never deployed, nothing of it runs.
    platform(&gitops, &["remove", "env", "stage", "--force"]);
    assert!(!gitops.join("platform/stage").exists());
}

#[test]
fn answers_without_platform_settings_mean_no_platform_services() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--preset", "production"]);
    // An answers file written before the platform services: no `[settings.platform*]` tables.
    for repo in [&foundation, &gitops] {
        let path = repo.join("strata.toml");
        let text = fs_err::read_to_string(&path).unwrap();
        let mut table: toml::Table = toml::from_str(&text).unwrap();
        table["settings"]
            .as_table_mut()
            .unwrap()
            .remove("platform")
            .unwrap();
        fs_err::write(&path, toml::to_string(&table).unwrap()).unwrap();
    }
    strata()
        .args(["list", "--json", "-C"])
        .arg(&gitops)
        .assert()
        .code(1) // the platform tree is there, but the answers no longer run it
        .stdout(predicate::str::contains("\"platform\": []"));
}
