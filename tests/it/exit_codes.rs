//! Exit codes stay 0, 1 or 2 on every input (issue 21 point 7): a template override that
//! calls itself without end, or does not compile, is bad input (exit 2, nothing written),
//! never a stack overflow (exit 134).

use crate::common::{snapshot, strata, Test};
use predicates::prelude::*;

const DEPLOYMENT: &str = "services/__service__/base/deployment.yaml.tera";

/// Puts `text` in the gitops repo's override of the Deployment template, committed.
fn override_deployment(test: &crate::common::TestWorkspace, text: &str) {
    let path = test.gitops.join(".strata/templates").join(DEPLOYMENT);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
    crate::common::git(&test.gitops, &["add", "-A"]);
    crate::common::git(&test.gitops, &["commit", "-qm", "override"]);
}

#[test]
fn a_recursive_override_or_macro_exits_2_naming_the_cycle() {
    for (text, named) in [
        (
            "{% include \"services/__service__/base/deployment.yaml\" %}",
            "template `services/__service__/base/deployment.yaml` -> template `services/__service__/base/deployment.yaml`",
        ),
        (
            "{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}{{ self::f(n=1) }}",
            "macro `f` of `services/__service__/base/deployment.yaml`",
        ),
    ] {
        let test = Test::new().create();
        override_deployment(&test, text);
        let before = snapshot(test.path());
        strata()
            .args(["add", "service", "api", "-C"])
            .arg(&test.foundation)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("call themselves without end"))
            .stderr(predicate::str::contains(named))
            .stderr(predicate::str::contains("nothing was written"));
        assert_eq!(snapshot(test.path()), before);
    }
}

#[test]
fn a_template_syntax_error_exits_2() {
    let test = Test::new().create();
    override_deployment(&test, "kind: Deployment\n{% if %}\n");
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&test.foundation)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the gitops repo's templates"))
        .stderr(predicate::str::contains("do not compile"))
        .stderr(predicate::str::contains(".strata/templates/"));
}

#[test]
fn a_recursive_override_given_to_new_exits_2_and_leaves_nothing() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let templates = tmp.path().join("org");
    let path = templates.join("gitops").join(DEPLOYMENT);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(
        &path,
        "{% macro a() %}{{ self::b() }}{% endmacro a %}{% macro b() %}{{ self::a() }}{% endmacro b %}{{ self::a() }}",
    )
    .unwrap();
    let out = tmp.path().join("ws");
    fs_err::create_dir_all(&out).unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--services", "api", "--templates"])
        .arg(&templates)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("call themselves without end"));
    assert!(fs_err::read_dir(&out).unwrap().next().is_none());
}
