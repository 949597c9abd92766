//! Issue 22, item 3: environments in AWS accounts of their own (`strata new --account`,
//! `strata add env --account`).

use crate::common::{new_workspace, snapshot, strata};
use predicates::prelude::*;

const PER_ENV: &[&str] = &["--set", "network.topology=per-environment"];

fn new_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = PER_ENV.to_vec();
    args.extend_from_slice(extra);
    args
}

#[test]
fn new_with_accounts_writes_each_environments_account_into_both_answers_files() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=111111111111,prod=222222222222",
            "--backend",
            "s3://acme-state/foundation",
        ]),
    );
    let answers = fs_err::read_to_string(foundation.join("strata.toml")).unwrap();
    assert!(answers
        .contains("name = \"dev\"\nvpc_cidr = \"10.0.0.0/16\"\naccount = \"111111111111\"\n"));
    assert!(answers
        .contains("name = \"prod\"\nvpc_cidr = \"10.1.0.0/16\"\naccount = \"222222222222\"\n"));
    assert_eq!(
        answers,
        fs_err::read_to_string(gitops.join("strata.toml")).unwrap()
    );
    let prod = fs_err::read_to_string(foundation.join("Pulumi.prod.yaml")).unwrap();
    for line in [
        "  aws:allowedAccountIds:\n    - \"222222222222\"\n",
        "  acme-foundation:account: \"222222222222\"\n",
        "  acme-foundation:dnsZone: prod.example.com\n",
        "    oidcProvider: create\n",
        "    stateBucket: \"acme-state-222222222222\"\n",
    ] {
        assert!(
            prod.contains(line),
            "Pulumi.prod.yaml lacks {line:?}:\n{prod}"
        );
    }
    // The role is the profile's, not the stack file's: the state, the secrets key and the
    // kubeconfig need it too, and no CI job may chain into it.
    assert!(!prod.contains("assumeRoles"), "{prod}");
    let readme = fs_err::read_to_string(foundation.join("README.md")).unwrap();
    assert!(readme.contains(
        "[profile acme-prod]\n      role_arn = arn:aws:iam::222222222222:role/acme-deployer"
    ));
    let deploy = fs_err::read_to_string(foundation.join(".github/workflows/deploy.yml")).unwrap();
    assert!(deploy.contains("role-to-assume: arn:aws:iam::111111111111:role/acme-dev-ci-deploy"));
    assert!(deploy.contains("role-to-assume: arn:aws:iam::222222222222:role/acme-prod-ci-deploy"));
    assert!(deploy.contains("cloud-url: s3://acme-state-222222222222/foundation"));
    let project = fs_err::read_to_string(foundation.join("Pulumi.yaml")).unwrap();
    assert!(
        !project.contains("backend:"),
        "no single backend for several accounts"
    );
}

#[test]
fn a_single_account_workspace_writes_no_account_keys() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, _) = new_workspace(tmp.path(), &new_args(&["--envs", "dev,prod"]));
    let answers = fs_err::read_to_string(foundation.join("strata.toml")).unwrap();
    assert!(!answers.contains("account"));
    let prod = fs_err::read_to_string(foundation.join("Pulumi.prod.yaml")).unwrap();
    assert!(!prod.contains("assumeRoles") && !prod.contains("allowedAccountIds"));
    assert!(prod.contains("    oidcProvider: existing\n"));
}

/// `strata new` with bad `--account` values: exit 2, each problem named, nothing written.
fn refused(extra: &[&str], expected: &[&str]) {
    let tmp = assert_fs::TempDir::new().unwrap();
    let mut args = vec!["new", "acme", "--out"];
    let out = tmp.path().to_str().unwrap().to_string();
    args.push(&out);
    args.extend_from_slice(&[
        "--domain",
        "example.com",
        "--git-base",
        "https://github.com/acme",
        "--no-input",
    ]);
    args.extend_from_slice(extra);
    let mut assert = strata().args(&args).assert().code(2);
    for text in expected {
        assert = assert.stderr(predicate::str::contains(*text));
    }
    assert.stderr(predicate::str::contains("nothing was written"));
    assert!(snapshot(tmp.path()).is_empty(), "nothing was written");
}

#[test]
fn an_account_id_that_is_not_twelve_digits_is_refused() {
    refused(
        &new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=1234,prod=222222222222",
        ]),
        &["`--account dev=1234`: is not twelve digits"],
    );
}

#[test]
fn an_unknown_environment_in_account_is_refused_with_a_close_name() {
    refused(
        &new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=111111111111,prd=222222222222",
        ]),
        &[
            "names `prd`, which is not an environment of `--envs`",
            "did you mean `prod`?",
        ],
    );
}

#[test]
fn an_environment_left_without_an_account_is_refused() {
    refused(
        &new_args(&[
            "--envs",
            "dev,staging,prod",
            "--account",
            "dev=111111111111,prod=222222222222",
        ]),
        &["`--account`: gives no account to `staging`"],
    );
}

#[test]
fn accounts_with_one_shared_cluster_are_refused() {
    refused(
        &[
            "--envs",
            "dev,prod",
            "--set",
            "network.topology=shared",
            "--account",
            "dev=111111111111,prod=222222222222",
        ],
        &[
            "`network.topology` is `shared`",
            "--set network.topology=per-environment",
        ],
    );
}

#[test]
fn a_state_bucket_too_long_for_its_account_suffix_is_refused() {
    let bucket = format!("s3://{}", "b".repeat(55));
    refused(
        &new_args(&[
            "--envs",
            "dev",
            "--account",
            "dev=111111111111",
            "--backend",
            &bucket,
        ]),
        &["-<account id>`, which S3 allows only up to 63"],
    );
}

fn add_env(dir: &std::path::Path, args: &[&str]) -> assert_cmd::assert::Assert {
    strata()
        .args(["add", "env"])
        .args(args)
        .arg("-C")
        .arg(dir)
        .assert()
}

#[test]
fn add_env_takes_the_new_environments_account_and_requires_it() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=111111111111,prod=222222222222",
        ]),
    );
    let before = (snapshot(&foundation), snapshot(&gitops));
    add_env(&foundation, &["qa"])
        .code(2)
        .stderr(predicate::str::contains("`--account`: is required"))
        .stderr(predicate::str::contains(
            "strata add env qa --account 123456789012",
        ));
    add_env(&foundation, &["qa", "--account", "12"])
        .code(2)
        .stderr(predicate::str::contains("is not twelve digits"));
    assert_eq!(
        before,
        (snapshot(&foundation), snapshot(&gitops)),
        "nothing was written"
    );
    add_env(&foundation, &["qa", "--account", "333333333333"]).success();
    let answers = fs_err::read_to_string(gitops.join("strata.toml")).unwrap();
    assert!(
        answers.contains("name = \"qa\"\nvpc_cidr = \"10.2.0.0/16\"\naccount = \"333333333333\"\n")
    );
    let qa = fs_err::read_to_string(foundation.join("Pulumi.qa.yaml")).unwrap();
    assert!(qa.contains("    - \"333333333333\"\n") && qa.contains("    oidcProvider: create\n"));
}

#[test]
fn add_env_refuses_an_account_in_a_single_account_workspace() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &new_args(&["--envs", "dev,prod"]));
    let before = (snapshot(&foundation), snapshot(&gitops));
    add_env(&foundation, &["qa", "--account", "333333333333"])
        .code(2)
        .stderr(predicate::str::contains(
            "every stack of this workspace deploys into one account",
        ));
    assert_eq!(
        before,
        (snapshot(&foundation), snapshot(&gitops)),
        "nothing was written"
    );
}

#[test]
fn a_service_host_outside_its_environments_zone_is_refused() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=111111111111,prod=222222222222",
        ]),
    );
    let before = (snapshot(&foundation), snapshot(&gitops));
    strata()
        .args([
            "add",
            "service",
            "api",
            "--host",
            "api.{env}.apps.example.com",
            "-C",
        ])
        .arg(&gitops)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has host `api.dev.apps.example.com` in `dev`, outside `dev.example.com`",
        ));
    assert_eq!(
        before,
        (snapshot(&foundation), snapshot(&gitops)),
        "nothing was written"
    );
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&gitops)
        .assert()
        .success();
}

#[test]
fn every_problem_of_account_is_reported_with_the_others_at_once() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let out = tmp.path().to_str().unwrap().to_string();
    strata()
        .args([
            "new",
            "acme",
            "--out",
            &out,
            "--git-base",
            "https://github.com/acme",
            "--no-input",
        ])
        .args(new_args(&[
            "--envs",
            "dev,prod",
            "--account",
            "dev=111111111111",
        ]))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`--domain`"))
        .stderr(predicate::str::contains(
            "`--account`: gives no account to `prod`",
        ))
        .stderr(predicate::str::contains("nothing was written"));
    assert!(snapshot(tmp.path()).is_empty(), "nothing was written");
}
