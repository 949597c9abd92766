//! `strata set` and `strata edit service` (issue 21, items 1 and 2): change what exists through
//! the one edit pipeline. Owned files are rewritten (merged where a person edited them), seeds
//! nobody touched are brought up to date, seeds someone edited are kept and the change is
//! printed as a suggestion; `--dry-run`, `--commit`, `--json`, conflicts and bad input behave
//! as in every other edit.

use std::path::Path;

use crate::common::{commit_count, git, head_message, snapshot, strata, without_history, Test};
use predicates::prelude::*;

const PRESETS: [&str; 2] = ["startup", "production"];

/// Both repos of two workspaces hold the same files, byte for byte, `strata.toml`'s history
/// and `strata.lock` aside (the lock records what was written, seeds included).
fn assert_same_workspace(a: &Path, b: &Path) {
    for repo in ["acme-foundation", "acme-gitops"] {
        let mut left = snapshot(&a.join(repo));
        let mut right = snapshot(&b.join(repo));
        let (l, r) = (
            left.remove("strata.toml").unwrap(),
            right.remove("strata.toml").unwrap(),
        );
        assert_eq!(
            without_history(&l),
            without_history(&r),
            "{repo}/strata.toml"
        );
        left.remove("strata.lock");
        right.remove("strata.lock");
        let paths = |m: &std::collections::BTreeMap<String, Vec<u8>>| -> Vec<String> {
            m.keys().cloned().collect()
        };
        assert_eq!(paths(&left), paths(&right), "{repo} has different files");
        for (path, bytes) in &left {
            assert!(bytes == &right[path], "{repo}/{path} differs");
        }
    }
}

fn run(dir: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    strata().args(args).arg("-C").arg(dir).assert()
}

/// Appends a line to a file of a workspace: a person's edit.
fn edit_file(path: &Path, line: &str) {
    let mut text = fs_err::read_to_string(path).unwrap();
    text.push_str(line);
    fs_err::write(path, text).unwrap();
}

#[test]
fn set_changes_both_repos_as_new_with_the_same_set_would_have_on_both_presets() {
    for preset in PRESETS {
        let changed = Test::new()
            .arg("--preset")
            .arg(preset)
            .services("api")
            .envs("dev,prod")
            .create();
        let made = Test::new()
            .arg("--preset")
            .arg(preset)
            .services("api")
            .envs("dev,prod")
            .arg("--set")
            .arg("cluster.version=1.35")
            .arg("--api-cidrs")
            .arg("203.0.113.0/24,198.51.100.0/24")
            .arg("--account-id")
            .arg("123456789012")
            .create();
        run(
            &changed.gitops,
            &[
                "set",
                "cluster.version=1.35",
                "cluster.public_access_cidrs=203.0.113.0/24,198.51.100.0/24",
                "aws_account_id=123456789012",
            ],
        )
        .success();
        assert_same_workspace(changed.path(), made.path());
        // Both copies of `strata.toml` are the same file.
        assert_eq!(
            fs_err::read(changed.foundation.join("strata.toml")).unwrap(),
            fs_err::read(changed.gitops.join("strata.toml")).unwrap()
        );
        // Setting the same values again changes nothing.
        run(&changed.foundation, &["set", "cluster.version=1.35"])
            .success()
            .stderr(predicate::str::contains("nothing to change"));
    }
}

#[test]
fn set_keeps_an_edited_seed_and_prints_the_change_as_a_suggestion() {
    let ws = Test::new().services("api").create();
    let readme = ws.foundation.join("README.md");
    edit_file(&readme, "\nOur own notes.\n");
    let before = fs_err::read(&readme).unwrap();
    run(&ws.gitops, &["set", "cluster.compute=karpenter"])
        .success()
        .stdout(predicate::str::contains(
            "# suggestion: foundation `README.md` is yours and was not rewritten",
        ))
        .stdout(predicate::str::contains("Karpenter"))
        .stderr(predicate::str::contains(
            "warning: 1 file(s) you may have edited were kept",
        ));
    assert_eq!(
        fs_err::read(&readme).unwrap(),
        before,
        "the edited seed is kept"
    );
    let answers = fs_err::read_to_string(ws.gitops.join("strata.toml")).unwrap();
    assert!(answers.contains("compute = \"karpenter\""), "{answers}");
}

#[test]
fn set_refuses_a_change_that_would_replace_running_stacks() {
    let ws = Test::new().services("api").create();
    let before = snapshot(ws.path());
    for (pair, problem) in [
        (
            "network.topology=per-environment",
            "would replace every Pulumi stack",
        ),
        ("network.vpc_cidr=10.1.0.0/16", "replace the shared VPC"),
    ] {
        run(&ws.gitops, &["set", pair])
            .code(2)
            .stderr(predicate::str::contains(problem));
        assert_eq!(snapshot(ws.path()), before, "{pair}: nothing is written");
    }
}

#[test]
fn set_refuses_bad_input_naming_the_key_and_writes_nothing() {
    let ws = Test::new().create();
    let before = snapshot(ws.path());
    run(
        &ws.gitops,
        &[
            "set",
            "cluster.verison=1.35",
            "network.az_count=many",
            "aws_account_id=12",
            "nokey",
        ],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "`strata set cluster.verison`: is not a setting of the preset",
    ))
    .stderr(predicate::str::contains("did you mean `cluster.version`?"))
    .stderr(predicate::str::contains("`strata set network.az_count`"))
    .stderr(predicate::str::contains(
        "`strata set nokey`: is not `KEY=VALUE`",
    ))
    .stderr(predicate::str::contains("nothing was written"));
    run(&ws.gitops, &["set", "network.az_count=9"])
        .code(2)
        .stderr(predicate::str::contains("az_count"));
    run(
        &ws.gitops,
        &["set", "cluster.public_access_cidrs=10.0.0.0/8,,"],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "without empty items (an empty value clears the list)",
    ));
    assert_eq!(snapshot(ws.path()), before);
}

#[test]
fn set_dry_run_prints_the_diff_and_commit_makes_one_commit_per_repo() {
    let ws = Test::new().services("api").create();
    let before = snapshot(ws.path());
    run(&ws.gitops, &["set", "cluster.version=1.35", "--dry-run"])
        .success()
        .stdout(predicate::str::contains(
            "+  acme-foundation:kubernetesVersion: \"1.35\"",
        ))
        .stdout(predicate::str::contains(
            "+      KUBERNETES_VERSION: \"1.35.0\"",
        ));
    assert_eq!(snapshot(ws.path()), before, "a dry run writes nothing");
    let commits = (commit_count(&ws.foundation), commit_count(&ws.gitops));
    let out = run(
        &ws.gitops,
        &["set", "cluster.version=1.35", "--commit", "--json"],
    )
    .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["result"]["outcome"], "written", "{json}");
    assert_eq!(commit_count(&ws.foundation), commits.0 + 1);
    assert_eq!(commit_count(&ws.gitops), commits.1 + 1);
    assert_eq!(
        head_message(&ws.foundation).lines().next().unwrap(),
        "Set cluster.version"
    );
}

#[test]
fn set_reports_a_conflict_with_an_edited_owned_file_and_writes_nothing() {
    let ws = Test::new().create();
    let workflow = ws.gitops.join(".github/workflows/validate.yml");
    let text = fs_err::read_to_string(&workflow).unwrap();
    fs_err::write(
        &workflow,
        text.replace(
            "KUBERNETES_VERSION: \"1.36.0\"",
            "KUBERNETES_VERSION: \"1.34.0\"",
        ),
    )
    .unwrap();
    git(&ws.gitops, &["commit", "-qam", "pin the version"]);
    let before = snapshot(ws.path());
    run(&ws.foundation, &["set", "cluster.version=1.35"])
        .code(1)
        .stderr(predicate::str::contains(
            "`.github/workflows/validate.yml` was changed here and in the template",
        ))
        .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(snapshot(ws.path()), before);
    run(&ws.foundation, &["set", "cluster.version=1.35", "--force"]).success();
    let forced = fs_err::read_to_string(&workflow).unwrap();
    assert!(
        forced.contains("1.35.0") && !forced.contains("1.34.0"),
        "{forced}"
    );
}

/// `edit service` with every value changed equals `add service` with the same flags.
#[test]
fn edit_service_equals_add_service_with_the_same_flags_on_both_presets() {
    let flags = [
        "--image",
        "ghcr.io/acme/api:2.0.0",
        "--port",
        "8080",
        "--replicas",
        "3",
        "--cpu",
        "500m",
        "--memory",
        "2Gi",
        "--health-path",
        "/ready",
        "--path",
        "/api",
        "--expose",
        "internal",
        "--irsa",
        "--config",
        "LOG_LEVEL=debug",
    ];
    for preset in PRESETS {
        let base = || {
            Test::new()
                .arg("--preset")
                .arg(preset)
                .envs("dev,prod")
                .arg("--account-id")
                .arg("123456789012")
                .create()
        };
        let (edited, added) = (base(), base());
        run(&edited.gitops, &["add", "service", "api"]).success();
        let mut args = vec!["edit", "service", "api"];
        args.extend(flags);
        args.extend(["--add-secret", "DB_URL"]);
        run(&edited.gitops, &args).success();
        let mut args = vec!["add", "service", "api"];
        args.extend(flags);
        args.extend(["--secret", "DB_URL"]);
        run(&added.gitops, &args).success();
        assert_same_workspace(edited.path(), added.path());
        // And back: the removals take the service to what `add service` made first.
        run(
            &edited.gitops,
            &[
                "edit",
                "service",
                "api",
                "--remove-secret",
                "DB_URL",
                "--unset-config",
                "LOG_LEVEL",
                "--no-irsa",
            ],
        )
        .success();
        assert!(!edited
            .gitops
            .join("services/api/overlays/dev/externalsecret.yaml")
            .exists());
        assert!(
            !edited
                .gitops
                .join("services/api/base/serviceaccount.yaml")
                .exists()
                || !fs_err::read_to_string(
                    edited.gitops.join("services/api/base/serviceaccount.yaml")
                )
                .unwrap()
                .contains("eks.amazonaws.com/role-arn")
        );
    }
}

#[test]
fn edit_service_keeps_edited_overlays_and_prints_the_change_on_both_presets() {
    for preset in PRESETS {
        let ws = Test::new()
            .arg("--preset")
            .arg(preset)
            .services("api")
            .envs("dev,prod")
            .create();
        let overlay = ws.gitops.join("services/api/overlays/dev");
        edit_file(&overlay.join("kustomization.yaml"), "# ours\n");
        edit_file(&overlay.join("patch-hpa.yaml"), "# ours\n");
        git(&ws.gitops, &["commit", "-qam", "tune dev"]);
        let kept = (
            fs_err::read(overlay.join("kustomization.yaml")).unwrap(),
            fs_err::read(overlay.join("patch-hpa.yaml")).unwrap(),
        );
        run(&ws.gitops, &["edit", "service", "api", "--replicas", "4", "--add-secret", "DB_URL", "--commit"])
            .success()
            .stdout(predicate::str::contains(
                "# suggestion: gitops `services/api/overlays/dev/kustomization.yaml` is yours and was not rewritten",
            ))
            .stdout(predicate::str::contains("+  - externalsecret.yaml"))
            .stdout(predicate::str::contains(
                "# suggestion: gitops `services/api/overlays/dev/patch-hpa.yaml`",
            ))
            .stdout(predicate::str::contains("+  maxReplicas: 4"))
            .stderr(predicate::str::contains("warning: 2 file(s) you may have edited were kept"));
        assert_eq!(
            fs_err::read(overlay.join("kustomization.yaml")).unwrap(),
            kept.0,
            "{preset}"
        );
        assert_eq!(
            fs_err::read(overlay.join("patch-hpa.yaml")).unwrap(),
            kept.1,
            "{preset}"
        );
        // The overlay nobody touched is brought up to date.
        let prod = ws.gitops.join("services/api/overlays/prod");
        assert!(fs_err::read_to_string(prod.join("kustomization.yaml"))
            .unwrap()
            .contains("externalsecret.yaml"));
        assert!(fs_err::read_to_string(prod.join("patch-hpa.yaml"))
            .unwrap()
            .contains("maxReplicas: 4"));
        assert!(prod.join("externalsecret.yaml").exists());
        assert_eq!(
            head_message(&ws.gitops).lines().next().unwrap(),
            "Edit service `api`"
        );
        // The next edit suggests again from what strata last rendered, and an upgrade agrees
        // that nothing is left to do.
        run(&ws.gitops, &["upgrade", "--check"]).success();
    }
}

#[test]
fn edit_service_merges_an_edited_owned_file_or_refuses_a_conflict() {
    let ws = Test::new().services("api").create();
    let deployment = ws.gitops.join("services/api/base/deployment.yaml");
    let text = fs_err::read_to_string(&deployment).unwrap();
    fs_err::write(
        &deployment,
        text.replace("containerPort: 9898", "containerPort: 9999"),
    )
    .unwrap();
    git(&ws.gitops, &["commit", "-qam", "our port"]);
    let before = snapshot(ws.path());
    // A dry run shows the diff and the conflict, and writes nothing.
    run(
        &ws.gitops,
        &["edit", "service", "api", "--port", "8080", "--dry-run"],
    )
    .code(1)
    .stdout(predicate::str::contains("+          port: 8080"))
    .stderr(predicate::str::contains(
        "`services/api/base/deployment.yaml` was changed here and in the template",
    ));
    run(
        &ws.gitops,
        &["edit", "service", "api", "--port", "8080", "--commit"],
    )
    .code(1)
    .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(snapshot(ws.path()), before);
    // A change elsewhere in the file merges with the edit, which stays.
    run(
        &ws.gitops,
        &["edit", "service", "api", "--health-path", "/ready"],
    )
    .success();
    let merged = fs_err::read_to_string(&deployment).unwrap();
    assert!(merged.contains("containerPort: 9999"), "{merged}");
    assert!(merged.contains("/ready"), "{merged}");
}

#[test]
fn edit_service_refuses_bad_input_and_writes_nothing() {
    let ws = Test::new().services("api").create();
    let before = snapshot(ws.path());
    run(&ws.gitops, &["edit", "service", "apj", "--replicas", "2"])
        .code(2)
        .stderr(predicate::str::contains("service `apj`: does not exist"))
        .stderr(predicate::str::contains("did you mean `api`?"));
    run(&ws.gitops, &["edit", "service", "api"])
        .code(2)
        .stderr(predicate::str::contains("was given nothing to change"));
    run(
        &ws.gitops,
        &[
            "edit",
            "service",
            "api",
            "--remove-secret",
            "NOPE",
            "--unset-config",
            "NOPE",
            "--irsa",
            "--min",
            "5",
            "--max",
            "2",
        ],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "`--remove-secret NOPE`: is not a secret of the service",
    ))
    .stderr(predicate::str::contains(
        "`--unset-config NOPE`: is not a config key of the service",
    ))
    .stderr(predicate::str::contains(
        "strata set aws_account_id=123456789012",
    ));
    run(
        &ws.gitops,
        &[
            "edit",
            "service",
            "api",
            "--expose",
            "none",
            "--host",
            "x.{env}.example.com",
        ],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "has no effect with `--expose none`",
    ));
    run(
        &ws.gitops,
        &[
            "edit",
            "service",
            "api",
            "--config",
            "A=1",
            "--unset-config",
            "A",
            "--add-secret",
            "B",
            "--remove-secret",
            "B",
        ],
    )
    .code(2)
    .stderr(predicate::str::contains(
        "`--unset-config A`: contradicts `--config` of the same key",
    ))
    .stderr(predicate::str::contains(
        "`--remove-secret B`: contradicts `--add-secret` of the same key",
    ));
    assert_eq!(snapshot(ws.path()), before);

    // Values the service has already: nothing to change, nothing written, no commit.
    let port = fs_err::read_to_string(ws.gitops.join("strata.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.trim().strip_prefix("port = ").map(str::to_string))
        .expect("the service's port in strata.toml");
    let commits = commit_count(&ws.gitops);
    run(
        &ws.gitops,
        &["edit", "service", "api", "--port", &port, "--commit"],
    )
    .success();
    assert_eq!(snapshot(ws.path()), before);
    assert_eq!(commit_count(&ws.gitops), commits);
}

#[test]
fn edit_service_envs_adds_and_drops_an_environment() {
    let ws = Test::new()
        .services("api")
        .envs("dev,staging,prod")
        .create();
    run(
        &ws.gitops,
        &["edit", "service", "api", "--envs", "dev,prod", "--commit"],
    )
    .success();
    assert!(!ws.gitops.join("services/api/overlays/staging").exists());
    assert!(!ws.gitops.join("apps/staging/api.yaml").exists());
    run(
        &ws.gitops,
        &[
            "edit",
            "service",
            "api",
            "--envs",
            "dev,staging,prod",
            "--commit",
        ],
    )
    .success();
    assert!(ws
        .gitops
        .join("services/api/overlays/staging/kustomization.yaml")
        .exists());
    assert!(ws.gitops.join("apps/staging/api.yaml").exists());
}

#[test]
fn edit_service_json_keeps_stdout_for_the_outcome_and_suggests_on_stderr() {
    let ws = Test::new().services("api").create();
    edit_file(
        &ws.gitops.join("services/api/overlays/dev/patch-hpa.yaml"),
        "# ours\n",
    );
    let out = run(
        &ws.gitops,
        &[
            "edit",
            "service",
            "api",
            "--max",
            "5",
            "--json",
            "--allow-dirty",
        ],
    )
    .success()
    .stderr(predicate::str::contains(
        "# suggestion: gitops `services/api/overlays/dev/patch-hpa.yaml`",
    ));
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(json["result"]["outcome"], "written", "{json}");
}

#[test]
fn edit_service_never_deletes_a_file_an_edited_overlay_still_lists() {
    let ws = Test::new().services("api").create();
    let overlay = ws
        .gitops
        .join("services/api/overlays/dev/kustomization.yaml");
    edit_file(&overlay, "# ours\n");
    crate::common::git(&ws.gitops, &["commit", "-qam", "our overlay"]);
    let before = snapshot(ws.path());
    run(&ws.gitops, &["edit", "service", "api", "--expose", "none"])
        .code(1)
        .stderr(predicate::str::contains(
            "is still listed by `services/api/overlays/dev/kustomization.yaml`",
        ));
    assert_eq!(snapshot(ws.path()), before, "nothing is written");
    run(
        &ws.gitops,
        &["edit", "service", "api", "--expose", "none", "--force"],
    )
    .success();
    assert!(!ws
        .gitops
        .join("services/api/overlays/dev/patch-ingress.yaml")
        .exists());
}

#[test]
fn auto_mode_is_a_compute_choice_of_new_and_set_for_both_presets() {
    // Issue 22: `cluster.compute=auto-mode` makes stacks with EKS Auto Mode and no node group
    // of their own, from `strata new` and from `strata set` on an existing workspace alike.
    for preset in PRESETS {
        let made = Test::new()
            .services("api")
            .arg("--preset")
            .arg(preset)
            .arg("--set")
            .arg("cluster.compute=auto-mode")
            .create();
        let changed = Test::new()
            .services("api")
            .arg("--preset")
            .arg(preset)
            .create();
        run(&changed.gitops, &["set", "cluster.compute=auto-mode"]).success();
        for ws in [&made, &changed] {
            let answers = fs_err::read_to_string(ws.gitops.join("strata.toml")).unwrap();
            assert!(answers.contains("compute = \"auto-mode\""), "{answers}");
            let stacks: Vec<_> = fs_err::read_dir(&ws.foundation)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().to_string();
                    name.starts_with("Pulumi.") && name != "Pulumi.yaml"
                })
                .collect();
            assert!(!stacks.is_empty());
            for stack in stacks {
                let text = fs_err::read_to_string(&stack).unwrap();
                assert!(text.contains(":compute: auto-mode\n"), "{text}");
                assert!(text.contains(":nodeGroups: []\n"), "{text}");
                assert!(!text.contains(":nodePools:"), "{text}");
                assert!(!text.contains("    nodePool:"), "{text}");
            }
        }
    }
}

#[test]
fn an_aws_role_under_pod_identity_needs_no_account_id_and_leaves_a_usable_workspace() {
    // upstream-review-5 A8: `add service --aws-role` under Pod Identity wrote a service every
    // later command refused ("uses IRSA but the workspace has no AWS account id").
    let ws = Test::new()
        .arg("--preset")
        .arg("production")
        .services("api")
        .create();
    run(&ws.gitops, &["add", "service", "worker", "--aws-role"]).success();
    run(&ws.gitops, &["edit", "service", "api", "--aws-role"]).success();
    run(&ws.gitops, &["list"])
        .success()
        .stdout(predicate::str::contains("worker"));
    // Under IRSA the ServiceAccount carries the role's ARN, which needs the account.
    let irsa = Test::new().arg("--preset").arg("startup").create();
    run(&irsa.gitops, &["add", "service", "worker", "--aws-role"])
        .code(2)
        .stderr(predicate::str::contains("needs the AWS account id"));
}
