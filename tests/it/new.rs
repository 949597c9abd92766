//! `strata new`: the bootstrap, through the binary.

use crate::common::{commit_count, new_workspace, snapshot, strata};
use assert_fs::prelude::*;
use predicates::prelude::*;

#[test]
fn new_creates_two_repos_each_with_one_commit_on_main() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) =
        new_workspace(tmp.path(), &["--services", "api,web", "--envs", "dev,prod"]);
    for repo in [&foundation, &gitops] {
        let git = git2::Repository::open(repo).unwrap();
        assert_eq!(git.head().unwrap().shorthand().unwrap(), "main");
        assert_eq!(commit_count(repo), 1);
        let statuses = git.statuses(None).unwrap();
        assert!(statuses.is_empty(), "the work tree is clean after `new`");
        assert!(repo.join("strata.toml").is_file());
        assert!(repo.join("strata.lock").is_file());
    }
    assert_eq!(
        fs_err::read(foundation.join("strata.toml")).unwrap(),
        fs_err::read(gitops.join("strata.toml")).unwrap(),
        "both repos carry the same answers"
    );
    assert!(foundation.join("Pulumi.shared.yaml").is_file());
    assert!(gitops.join("apps/dev/api.yaml").is_file());
    assert!(gitops
        .join("services/web/overlays/prod/kustomization.yaml")
        .is_file());
    let entries: Vec<_> = fs_err::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries.len(),
        2,
        "no staging directory is left behind: {entries:?}"
    );
}

#[test]
fn the_commits_of_new_pass_git_fsck_and_leave_a_clean_work_tree() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &["--services", "api,web", "--envs", "dev,staging,prod"],
    );
    for repo in [&foundation, &gitops] {
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(args)
                .output()
                .expect("git runs")
        };
        let fsck = git(&["fsck", "--full", "--strict"]);
        assert!(
            fsck.status.success(),
            "git fsck: {}",
            String::from_utf8_lossy(&fsck.stderr)
        );
        let status = git(&["status", "--porcelain"]);
        assert!(
            status.status.success() && status.stdout.is_empty(),
            "git status: {}",
            String::from_utf8_lossy(&status.stdout)
        );
        let files = git(&["ls-files"]);
        let tracked = String::from_utf8_lossy(&files.stdout).lines().count();
        assert_eq!(tracked, snapshot(repo).len(), "every file is committed");
    }
}

#[test]
fn the_production_preset_makes_one_stack_per_environment_with_disjoint_cidrs() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(
        tmp.path(),
        &["--preset", "production", "--envs", "dev,staging,prod"],
    );
    let mut cidrs = Vec::new();
    for env in ["dev", "staging", "prod"] {
        let text = fs_err::read_to_string(foundation.join(format!("Pulumi.{env}.yaml"))).unwrap();
        assert!(text.contains(&format!("clusterName: acme-{env}")));
        let cidr = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("cidr: "))
            .unwrap()
            .to_string();
        cidrs.push(cidr);
    }
    assert_eq!(cidrs, ["10.0.0.0/16", "10.1.0.0/16", "10.2.0.0/16"]);
    assert!(!foundation.join("Pulumi.shared.yaml").exists());
}

#[test]
fn dry_run_prints_the_diff_of_every_file_a_real_run_creates_and_writes_nothing() {
    let dry = assert_fs::TempDir::new().unwrap();
    let output = strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--dry-run", "--services", "api", "--out"])
        .arg(dry.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(fs_err::read_dir(dry.path()).unwrap().count(), 0);
    assert!(String::from_utf8_lossy(&output.stderr).contains("dry run: nothing was written"));
    // The same diff format as every other command: one `/dev/null` -> `b/<path>` diff per file,
    // under its repo's name, with the file's whole content.
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut shown: Vec<(String, String)> = Vec::new();
    let mut repo = String::new();
    for line in stdout.lines() {
        if let Some(name) = line
            .strip_prefix("# ")
            .and_then(|l| l.strip_suffix(" repo"))
        {
            repo = name.to_string();
        } else if let Some(path) = line.strip_prefix("+++ b/") {
            shown.push((repo.clone(), path.to_string()));
        }
    }
    shown.sort();

    let real = assert_fs::TempDir::new().unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--no-git", "--services", "api", "--out"])
        .arg(real.path())
        .assert()
        .success();
    let mut written: Vec<(String, String)> = Vec::new();
    for repo in ["foundation", "gitops"] {
        let root = real.path().join(format!("acme-{repo}"));
        for path in files_under(&root) {
            written.push((repo.to_string(), path));
        }
    }
    written.sort();
    assert_eq!(shown, written);
    let deployment = fs_err::read_to_string(
        real.path()
            .join("acme-gitops/services/api/base/deployment.yaml"),
    )
    .unwrap();
    for line in deployment.lines() {
        assert!(stdout.contains(&format!("+{line}\n")), "{line}");
    }
}

/// Every file under `root`, relative and `/`-separated.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs_err::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out
}

#[test]
fn bad_input_reports_every_problem_with_a_hint_exits_2_and_writes_nothing() {
    let tmp = assert_fs::TempDir::new().unwrap();
    strata()
        .args([
            "new",
            "Bad_Name",
            "--envs",
            "dev,dev,kube-system",
            "--services",
            "2fa",
            "--region",
            "mars-1",
            "--domain",
            "localhost",
            "--set",
            "cluster.verison=1.34",
            "--preset",
            "startpu",
            "--out",
        ])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("project name `Bad_Name`"))
        .stderr(predicate::str::contains("lists `dev` twice"))
        .stderr(predicate::str::contains("`kube-system`").and(predicate::str::contains("reserved")))
        .stderr(predicate::str::contains("service name `2fa`"))
        .stderr(predicate::str::contains("did you mean `startup`"))
        .stderr(predicate::str::contains("region `mars-1`"))
        .stderr(predicate::str::contains("domain `localhost`"))
        .stderr(predicate::str::contains("`--git-base`: is missing"))
        .stderr(predicate::str::contains("hint:"))
        .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 0);
}

/// Issue 19, item 3: a value strata cannot know is never invented. Without `--domain` the
/// foundation README used to tell the user to create a hosted zone for `example.com`; without
/// `--git-base` Argo CD pulled `https://github.com/<name>/...`.
#[test]
fn without_a_domain_or_a_git_base_new_is_refused_naming_each_flag_and_writes_nothing() {
    for (given, missing) in [
        (
            &["--git-base", "https://github.com/acme"][..],
            &["--domain"][..],
        ),
        (&["--domain", "acme.example.com"][..], &["--git-base"][..]),
        (&[][..], &["--domain", "--git-base"][..]),
    ] {
        let tmp = assert_fs::TempDir::new().unwrap();
        let output = strata()
            .args(["new", "acme", "--envs", "dev,prod", "--out"])
            .arg(tmp.path())
            .args(given)
            .output()
            .unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(output.status.code(), Some(2), "{given:?}: {stderr}");
        for flag in missing {
            assert!(
                stderr.contains(&format!("  - `{flag}`: is missing: strata does not guess")),
                "{given:?}: {stderr}"
            );
            assert!(
                stderr.contains("hint: pass ") && stderr.contains(&format!("for example `{flag} ")),
                "{given:?}: the hint says how to give `{flag}`: {stderr}"
            );
        }
        assert_eq!(
            stderr.matches("is missing").count(),
            missing.len(),
            "{stderr}"
        );
        assert!(
            !stderr.contains("example.com`: "),
            "nothing invented: {stderr}"
        );
        assert!(stderr.ends_with("nothing was written\n"), "{stderr}");
        assert_eq!(
            fs_err::read_dir(tmp.path()).unwrap().count(),
            0,
            "{given:?}"
        );
    }
}

/// Issue 19, item 3: the region is one AWS has, with the closest one suggested.
#[test]
fn a_region_aws_does_not_have_is_refused_with_a_did_you_mean() {
    let tmp = assert_fs::TempDir::new().unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--region", "eu-wset-1", "--out"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "region `eu-wset-1`: is not an AWS region",
        ))
        .stderr(predicate::str::contains("did you mean `eu-west-1`?"));
    assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 0);
    // Each partition strata knows: commercial, GovCloud, China.
    for region in ["mx-central-1", "us-gov-west-1", "cn-northwest-1"] {
        let tmp = assert_fs::TempDir::new().unwrap();
        new_workspace(tmp.path(), &["--region", region, "--no-git"]);
    }
}

/// The README's first command, as a reader copies it, makes a workspace.
#[test]
fn the_readmes_first_command_makes_a_workspace() {
    let readme = fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    // Issue 21: the README installs strata on PATH and runs the first `new` outside strata's
    // own checkout.
    assert!(
        readme.contains("cargo install --path ."),
        "the README installs strata"
    );
    let first = readme
        .lines()
        .find(|line| line.starts_with("strata new "))
        .expect("the README starts with `strata new`");
    let before = &readme[..readme.find(first).unwrap()];
    assert!(
        before.contains("cd ~/"),
        "the first `new` runs in a directory of its own"
    );
    let args: Vec<&str> = first
        .trim_start_matches("strata ")
        .split_whitespace()
        .collect();
    let tmp = assert_fs::TempDir::new().unwrap();
    strata()
        .args(&args)
        .current_dir(tmp.path())
        .assert()
        .success();
    let answers = fs_err::read_to_string(tmp.path().join("acme-foundation/strata.toml")).unwrap();
    assert!(!answers.contains("domain = \"example.com\""), "{answers}");
}

#[test]
fn an_unknown_set_key_gets_a_did_you_mean() {
    let tmp = assert_fs::TempDir::new().unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args([
            "acme",
            "--set",
            "cluster.verison=1.34",
            "--set",
            "network.az_count=three",
            "--out",
        ])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `cluster.version`"))
        .stderr(predicate::str::contains("not a valid integer"));
}

#[test]
fn set_overrides_a_preset_value() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(
        tmp.path(),
        &[
            "--set",
            "cluster.version=1.34",
            "--set",
            "node_groups.general.max=9",
        ],
    );
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    assert!(stack.contains("kubernetesVersion: \"1.34\""));
    assert!(
        stack.contains("imageTag: v1.34.5"),
        "the autoscaler follows the cluster version"
    );
    assert!(stack.contains("maxSize: 9"));
}

#[test]
fn new_into_a_non_empty_directory_is_refused_and_leaves_it_untouched() {
    let tmp = assert_fs::TempDir::new().unwrap();
    tmp.child("acme-gitops/notes.txt")
        .write_str("mine")
        .unwrap();
    let before = snapshot(tmp.path());
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--out"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists and is not empty"));
    assert_eq!(snapshot(tmp.path()), before);
}

#[test]
fn new_into_an_existing_empty_directory_works() {
    let tmp = assert_fs::TempDir::new().unwrap();
    tmp.child("acme-foundation").create_dir_all().unwrap();
    new_workspace(tmp.path(), &[]);
    assert!(tmp.path().join("acme-foundation/Pulumi.yaml").is_file());
}

#[test]
fn a_failure_before_the_move_leaves_nothing_half_written() {
    let tmp = assert_fs::TempDir::new().unwrap();
    for fault in ["before-move", "after-writes:7", "commit:gitops"] {
        strata()
            .env("STRATA_FAULT", fault)
            .arg("new")
            .args(crate::common::known_values(&[]))
            .args(["acme", "--out"])
            .arg(tmp.path())
            .assert()
            .code(1)
            .stderr(predicate::str::contains("injected fault"));
        assert_eq!(
            fs_err::read_dir(tmp.path()).unwrap().count(),
            0,
            "fault `{fault}` left files behind"
        );
    }
}

#[test]
fn an_output_directory_that_cannot_be_made_fails_cleanly() {
    // A path under a regular file cannot be created, whoever runs the test (root included):
    // bad input, named before anything is written.
    let tmp = assert_fs::TempDir::new().unwrap();
    let file = tmp.child("a-file");
    file.write_str("not a directory").unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--out"])
        .arg(file.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "a-file`, which is a file, not a directory",
        ))
        .stderr(predicate::str::ends_with("nothing was written\n"));
    assert_eq!(
        fs_err::read_to_string(file.path()).unwrap(),
        "not a directory"
    );
    assert_eq!(fs_err::read_dir(tmp.path()).unwrap().count(), 1);
}

#[test]
fn no_git_makes_plain_directories() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--no-git"]);
    assert!(!foundation.join(".git").exists());
    assert!(!gitops.join(".git").exists());
    assert!(gitops.join("apps/dev/kustomization.yaml").is_file());
}

#[test]
fn presets_and_packs_are_listed_one_per_line() {
    let lines = |args: &[&str]| -> Vec<String> {
        let output = strata()
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(output)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    };
    // `<name>  <description>`, one line each, sorted, the default marked.
    let presets = lines(&["presets"]);
    let names: Vec<&str> = presets
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["production", "startup"], "{presets:?}");
    assert!(
        presets.iter().all(|l| l.split_whitespace().count() > 3),
        "{presets:?}"
    );
    assert!(presets[1].ends_with("(default)") && !presets[0].ends_with("(default)"));
    let packs = lines(&["packs"]);
    assert_eq!(packs.len(), 1, "{packs:?}");
    assert!(packs[0].starts_with("pulumi-python ") && packs[0].ends_with("(default)"));
    // `--keys`: one `key = value` line per setting, every key once.
    let keys = lines(&["presets", "--keys"]);
    assert!(
        keys.iter()
            .any(|l| l.trim() == "cluster.version = \"1.36\""),
        "{keys:?}"
    );
    let settings: Vec<&str> = keys
        .iter()
        .filter(|l| l.contains(" = "))
        .map(|l| l.trim().split(" = ").next().unwrap())
        .collect();
    let mut unique = settings.clone();
    unique.sort_unstable();
    unique.dedup();
    assert!(settings.len() > 20);
    strata()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn generation_is_deterministic() {
    let a = assert_fs::TempDir::new().unwrap();
    let b = assert_fs::TempDir::new().unwrap();
    new_workspace(a.path(), &["--services", "api,web", "--no-git"]);
    new_workspace(b.path(), &["--services", "api,web", "--no-git"]);
    assert_eq!(snapshot(a.path()), snapshot(b.path()));
}

#[test]
fn access_backend_and_credentials_flags_reach_the_foundation() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = crate::common::new_workspace(
        tmp.path(),
        &[
            "--envs",
            "dev",
            "--backend",
            "s3://acme-pulumi-state/platform",
            "--api-cidrs",
            "203.0.113.0/24,198.51.100.7/32",
            "--admin-role",
            "arn:aws:iam::123456789012:role/platform-admin",
            "--public-repo",
        ],
    );
    let project = fs_err::read_to_string(foundation.join("Pulumi.yaml")).unwrap();
    let project: serde_json::Value = serde_yaml_ng::from_str(&project).unwrap();
    assert_eq!(project["backend"]["url"], "s3://acme-pulumi-state/platform");
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    let stack: serde_json::Value = serde_yaml_ng::from_str(&stack).unwrap();
    let config = &stack["config"];
    assert_eq!(
        config["acme-foundation:endpoint"]["publicAccessCidrs"],
        serde_json::json!(["203.0.113.0/24", "198.51.100.7/32"])
    );
    assert_eq!(
        config["acme-foundation:adminRoleArns"],
        serde_json::json!(["arn:aws:iam::123456789012:role/platform-admin"])
    );
    assert_eq!(config["acme-foundation:gitops"]["repoCredentials"], "none");
    let answers = fs_err::read_to_string(foundation.join("strata.toml")).unwrap();
    assert!(answers.contains("secrets_provider = \"awskms://alias/acme-pulumi?region=eu-west-1\""));
}

#[test]
fn the_api_endpoint_fails_closed_without_api_cidrs() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = crate::common::new_workspace(tmp.path(), &["--envs", "dev"]);
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    let stack: serde_json::Value = serde_yaml_ng::from_str(&stack).unwrap();
    assert_eq!(
        stack["config"]["acme-foundation:endpoint"]["publicAccessCidrs"],
        serde_json::json!([])
    );
}

#[test]
fn bad_backend_cidrs_and_providers_are_refused_with_nothing_written() {
    for (flag, value, named) in [
        ("--backend", "s3://Bad_Bucket", "--backend"),
        ("--backend", "gcs://bucket", "--backend"),
        ("--backend", "pulumi-cloud:", "--backend"),
        ("--api-cidrs", "10.0.0.1/8", "--api-cidrs"),
        ("--api-cidrs", "everyone", "--api-cidrs"),
        ("--secrets-provider", "rot13", "--secrets-provider"),
        ("--admin-role", "admin", "cluster.admin_role_arns"),
    ] {
        let tmp = assert_fs::TempDir::new().unwrap();
        crate::common::strata()
            .arg("new")
            .args(crate::common::known_values(&[]))
            .args(["acme", "--out"])
            .arg(tmp.path())
            .args([flag, value])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(named))
            .stderr(predicates::str::contains("hint:"));
        assert_eq!(
            fs_err::read_dir(tmp.path()).unwrap().count(),
            0,
            "{flag} {value}"
        );
    }
}

#[test]
fn exposure_picks_the_environment_load_balancer_or_none() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = crate::common::new_workspace(tmp.path(), &["--envs", "dev,prod"]);
    let add = |args: &[&str]| {
        crate::common::strata()
            .args(["add", "service"])
            .args(args)
            .arg("-C")
            .arg(&gitops)
            .assert()
            .success();
    };
    add(&["worker", "--expose", "none"]);
    add(&["admin", "--expose", "internal"]);
    add(&["api", "--host", "api-{env}.example.com"]);
    let overlay =
        |service: &str, file: &str| gitops.join(format!("services/{service}/overlays/prod/{file}"));
    assert!(!gitops.join("services/worker/base/ingress.yaml").exists());
    assert!(!overlay("worker", "patch-ingress.yaml").exists());
    let patch = fs_err::read_to_string(overlay("admin", "patch-ingress.yaml")).unwrap();
    assert!(patch.contains("value: prod-internal"), "{patch}");
    let patch = fs_err::read_to_string(overlay("api", "patch-ingress.yaml")).unwrap();
    assert!(patch.contains("value: prod-public"), "{patch}");
    let answers = fs_err::read_to_string(gitops.join("strata.toml")).unwrap();
    assert!(answers.contains("expose = \"none\"") && answers.contains("expose = \"internal\""));
    // The certificate of each environment covers the host outside its wildcard.
    let stack = fs_err::read_to_string(foundation.join("Pulumi.shared.yaml")).unwrap();
    let stack: serde_json::Value = serde_yaml_ng::from_str(&stack).unwrap();
    let prod = &stack["config"]["acme-foundation:environments"][1];
    assert_eq!(prod["certificate"]["domainName"], "*.prod.example.com");
    assert_eq!(
        prod["certificate"]["subjectAlternativeNames"],
        serde_json::json!(["api-prod.example.com"])
    );
    crate::common::strata()
        .args(["add", "service", "job", "--expose", "sometimes", "-C"])
        .arg(&gitops)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--expose"));
    crate::common::strata()
        .args([
            "add",
            "service",
            "job",
            "--expose",
            "none",
            "--host",
            "job.example.com",
            "-C",
        ])
        .arg(&gitops)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no effect with `--expose none`"));
}

#[test]
fn new_commits_on_the_branch_argo_cd_and_ci_follow() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--revision", "release/v1"]);
    for repo in [&foundation, &gitops] {
        let git = git2::Repository::open(repo).unwrap();
        assert_eq!(git.head().unwrap().shorthand().unwrap(), "release/v1");
        assert!(git.find_branch("main", git2::BranchType::Local).is_err());
    }
    let readme = fs_err::read_to_string(foundation.join("README.md")).unwrap();
    assert!(readme.contains("git push -u origin release/v1"));
    assert!(!readme.contains("push -u origin main"));
}

#[test]
fn a_revision_a_shell_or_git_would_misread_is_refused_and_nothing_written() {
    for bad in ["main$(id)", "a..b", "--x", "feature branch"] {
        let tmp = assert_fs::TempDir::new().unwrap();
        strata()
            .current_dir(tmp.path())
            .args(["new", "acme", &format!("--revision={bad}")])
            .args(crate::common::known_values(&[]))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("is not a branch name"));
        assert!(snapshot(tmp.path()).is_empty(), "{bad}: nothing is written");
    }
}

#[test]
fn every_environments_vpc_range_stays_private() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let args = ["--preset", "production", "--envs", "dev,prod"];
    for (cidr, problem) in [
        ("172.31.0.0/16", "no free VPC range left"),
        ("8.8.0.0/16", "is not a private range"),
    ] {
        strata()
            .current_dir(tmp.path())
            .args(["new", "acme"])
            .args(args)
            .args(["--set", &format!("network.vpc_cidr={cidr}")])
            .args(crate::common::known_values(&[]))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(problem));
        assert!(
            snapshot(tmp.path()).is_empty(),
            "{cidr}: nothing is written"
        );
    }
    let (foundation, _) = new_workspace(
        tmp.path(),
        &[&args[..], &["--set", "network.vpc_cidr=172.30.0.0/16"]].concat(),
    );
    let prod = fs_err::read_to_string(foundation.join("Pulumi.prod.yaml")).unwrap();
    assert!(prod.contains("172.31.0.0/16"), "{prod}");
}

#[test]
fn github_ids_reach_every_stack_file_and_must_be_numbers() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(
        tmp.path(),
        &[
            "--preset",
            "production",
            "--envs",
            "dev,prod",
            "--set",
            "github.owner_id=123",
            "--set",
            "github.repository_id=456",
        ],
    );
    for stack in ["dev", "prod"] {
        let text = fs_err::read_to_string(foundation.join(format!("Pulumi.{stack}.yaml"))).unwrap();
        assert!(
            text.contains("acme-foundation:ciGithubOwnerId: \"123\""),
            "{text}"
        );
        assert!(
            text.contains("acme-foundation:ciGithubRepositoryId: \"456\""),
            "{text}"
        );
    }
    let other = assert_fs::TempDir::new().unwrap();
    strata()
        .current_dir(other.path())
        .args(["new", "acme", "--set", "github.owner_id=acme"])
        .args(crate::common::known_values(&[]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a GitHub id"))
        .stderr(predicate::str::contains("has one id of two"));
    assert!(snapshot(other.path()).is_empty());

    // The flags set the same settings, and name themselves when wrong or contradicted.
    let flagged = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        flagged.path(),
        &[
            "--preset",
            "production",
            "--envs",
            "dev,prod",
            "--github-owner-id",
            "123",
            "--github-repository-id",
            "456",
        ],
    );
    for repo in [&foundation, &gitops] {
        let toml = fs_err::read_to_string(repo.join("strata.toml")).unwrap();
        assert!(toml.contains("owner_id = \"123\""), "{toml}");
        assert!(toml.contains("repository_id = \"456\""), "{toml}");
    }
    for (flags, problem) in [
        (
            &["--github-owner-id", "acme", "--github-repository-id", "456"][..],
            "`--github-owner-id`: `acme` is not a GitHub id",
        ),
        (
            &[
                "--github-owner-id",
                "123",
                "--github-repository-id",
                "456",
                "--set",
                "github.owner_id=124",
            ][..],
            "`--github-owner-id`: differs from `--set github.owner_id`",
        ),
    ] {
        strata()
            .current_dir(other.path())
            .args(["new", "acme"])
            .args(flags)
            .args(crate::common::known_values(&[]))
            .assert()
            .code(2)
            .stderr(predicate::str::contains(problem));
        assert!(snapshot(other.path()).is_empty(), "{flags:?}");
    }
}
