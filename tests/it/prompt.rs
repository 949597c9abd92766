//! `strata new` on a terminal (issue 21, item 3): it asks only for what the command line left
//! out, shows the defaults, asks again after a wrong answer, and makes what the same flags
//! make; with `--no-input`, or without a terminal, it asks nothing and names the missing flags.
//! The terminal is a real pseudo-terminal (`pty_session.py`, Python's `pty`).

use std::path::Path;
use std::process::Command;

use crate::common::{snapshot, strata};
use predicates::prelude::*;

/// Runs `strata ARGS` in `dir` under a pseudo-terminal, answering each expected question;
/// returns the exit code and what the terminal showed.
fn session(dir: &Path, steps: &[(&str, Option<&str>)], args: &[&str]) -> (i32, String) {
    let steps: Vec<(&str, Option<&str>)> = steps.to_vec();
    let output = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/pty_session.py"
        ))
        .arg(serde_json::to_string(&steps).unwrap())
        .arg(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .current_dir(dir)
        .env_remove("STRATA_FAULT")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("python3 runs the pseudo-terminal session (a required tool of the tests)");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn new_on_a_terminal_asks_each_missing_value_again_after_a_wrong_answer_and_equals_the_flags() {
    let asked = assert_fs::TempDir::new().unwrap();
    let (code, shown) = session(
        asked.path(),
        &[
            ("Project name", Some("Bad!")),
            ("error: must start with a lowercase letter", None),
            ("Project name", Some("acme")),
            (
                "Preset (`startup` or `production`) [startup]",
                Some("production"),
            ),
            ("AWS region [eu-west-1]", Some("mars-1")),
            ("error: is not an AWS region", None),
            ("AWS region [eu-west-1]", Some("eu-central-1")),
            ("Environments (comma-separated) [", Some("")),
            ("Services (comma-separated, may be empty)", Some("api,web")),
            ("DNS domain", Some("acme")),
            ("error:", None),
            ("DNS domain", Some("acme.example.com")),
            ("URL that holds both repos", Some("https://github.com/acme")),
            (
                "Networks allowed to reach the Kubernetes API",
                Some("203.0.113.0/24"),
            ),
            ("GitHub id of the repos' owner", Some("acme")),
            ("error: `acme` is not a GitHub id", None),
            ("GitHub id of the repos' owner", Some("1234567")),
            ("GitHub id of the foundation repo", Some("987654321")),
        ],
        &["new", "--no-git", "--revision", "main"],
    );
    assert_eq!(code, 0, "{shown}");
    // The wrong answers were asked again, each once.
    assert_eq!(
        shown
            .matches("error: must start with a lowercase letter")
            .count(),
        1,
        "{shown}"
    );
    assert!(shown.contains("created"), "{shown}");

    let flagged = assert_fs::TempDir::new().unwrap();
    strata()
        .current_dir(flagged.path())
        .args([
            "new",
            "acme",
            "--no-git",
            "--preset",
            "production",
            "--region",
            "eu-central-1",
            "--services",
            "api,web",
            "--domain",
            "acme.example.com",
            "--git-base",
            "https://github.com/acme",
            "--api-cidrs",
            "203.0.113.0/24",
            "--github-owner-id",
            "1234567",
            "--github-repository-id",
            "987654321",
        ])
        .assert()
        .success();
    let (a, b) = (snapshot(asked.path()), snapshot(flagged.path()));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{path} differs");
    }
}

#[test]
fn new_asks_only_what_the_command_line_left_out() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (code, shown) = session(
        dir.path(),
        &[("DNS domain", Some("acme.example.com"))],
        &[
            "new",
            "acme",
            "--no-git",
            "--preset",
            "startup",
            "--region",
            "eu-west-1",
            "--envs",
            "dev",
            "--services",
            "api",
            "--git-base",
            "https://github.com/acme",
            "--api-cidrs",
            "203.0.113.0/24",
            "--set",
            "github.owner_id=1234567",
            "--set",
            "github.repository_id=987654321",
        ],
    );
    assert_eq!(code, 0, "{shown}");
    for question in [
        "Project name",
        "Preset",
        "AWS region",
        "Environments",
        "URL that holds",
        "Networks",
        "GitHub id",
    ] {
        assert!(!shown.contains(question), "asked `{question}`: {shown}");
    }
    assert!(dir.path().join("acme-gitops/services/api").is_dir());
}

#[test]
fn no_input_or_no_terminal_asks_nothing_and_names_each_missing_flag() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (code, shown) = session(dir.path(), &[], &["new", "--no-input"]);
    assert_eq!(code, 2, "{shown}");
    for flag in [
        "`<NAME>`: is missing",
        "`--domain`: is missing",
        "`--git-base`: is missing",
    ] {
        assert!(shown.contains(flag), "{flag}: {shown}");
    }
    assert!(!shown.contains("Project name ("), "{shown}");
    strata()
        .current_dir(dir.path())
        .args(["new", "acme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`--domain`: is missing"))
        .stderr(predicate::str::contains("`--git-base`: is missing"));
    assert!(snapshot(dir.path()).is_empty(), "nothing was written");
}
