//! Snapshots (insta) of what strata writes and says: every rendered file of both presets, the
//! plan display of `--dry-run`, and the message of every rule in `docs/errors.md`.
//!
//! A change to a template or a message shows up here as a reviewable diff. After an intended
//! change: `INSTA_UPDATE=always cargo test --test it snapshots`, then review `git diff`.

use std::path::Path;

use crate::common::{new_workspace, snapshot, strata};

/// Both repos of a workspace as one text: each file under a `=== <repo>/<path>` header.
fn tree_text(root: &Path) -> String {
    let mut out = String::new();
    for repo in ["acme-foundation", "acme-gitops"] {
        for (path, bytes) in snapshot(&root.join(repo)) {
            out.push_str(&format!("=== {repo}/{path}\n"));
            out.push_str(&String::from_utf8_lossy(&bytes));
            if !bytes.ends_with(b"\n") {
                out.push_str("\n<no newline at end>\n");
            }
        }
    }
    out
}

fn rendered(preset: &str) -> String {
    let tmp = assert_fs::TempDir::new().unwrap();
    new_workspace(
        tmp.path(),
        &[
            "--no-git",
            "--preset",
            preset,
            "--services",
            "api,web",
            "--account-id",
            "123456789012",
            "--api-cidrs",
            "203.0.113.0/24",
        ],
    );
    tree_text(tmp.path())
}

#[test]
fn every_file_of_the_production_preset() {
    insta::assert_snapshot!("production", rendered("production"));
}

#[test]
fn every_file_of_the_startup_preset() {
    insta::assert_snapshot!("startup", rendered("startup"));
}

#[test]
fn the_plan_display_of_a_dry_run() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(tmp.path(), &["--preset", "startup", "--services", "api"]);
    let output = strata()
        .args(["add", "service", "web", "--port", "9090", "--dry-run", "-C"])
        .arg(&gitops)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    insta::assert_snapshot!(
        "add-service-dry-run",
        String::from_utf8(output.stdout).unwrap()
    );
}

/// A rule of `docs/errors.md`: the arguments that break it, and the excerpt the page quotes.
struct Rule {
    name: &'static str,
    args: &'static [&'static str],
    /// Runs in a workspace made by `strata new acme --services api` (else in an empty dir).
    in_workspace: bool,
    code: i32,
    excerpt: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        name: "project-name",
        args: &["new", "2acme"],
        in_workspace: false,
        code: 2,
        excerpt: "must start with a lowercase letter",
    },
    Rule {
        name: "environment-reserved",
        args: &["new", "acme", "--envs", "dev,kube-system"],
        in_workspace: false,
        code: 2,
        excerpt: "environment name `kube-system`: is reserved",
    },
    Rule {
        name: "yaml-ambiguous-name",
        args: &["new", "acme", "--envs", "dev,yes"],
        in_workspace: false,
        code: 2,
        excerpt: "environment name `yes`: is read by YAML as a boolean, not as a name",
    },
    Rule {
        name: "duplicate-list-item",
        args: &["new", "acme", "--envs", "dev,dev"],
        in_workspace: false,
        code: 2,
        excerpt: "lists `dev` twice",
    },
    Rule {
        name: "region",
        args: &["new", "acme", "--region", "mars-1"],
        in_workspace: false,
        code: 2,
        excerpt: "region `mars-1`: is not an AWS region",
    },
    Rule {
        name: "region-unknown",
        args: &["new", "acme", "--region", "eu-west-4"],
        in_workspace: false,
        code: 2,
        excerpt: "did you mean `eu-west-",
    },
    Rule {
        name: "domain-missing",
        args: &["new", "acme", "--git-base", "https://github.com/acme"],
        in_workspace: false,
        code: 2,
        excerpt: "`--domain`: is missing",
    },
    Rule {
        name: "git-base-missing",
        args: &["new", "acme", "--domain", "acme.example.com"],
        in_workspace: false,
        code: 2,
        excerpt: "`--git-base`: is missing",
    },
    Rule {
        name: "domain",
        args: &["new", "acme", "--domain", "localhost"],
        in_workspace: false,
        code: 2,
        excerpt: "domain `localhost`: needs at least two labels",
    },
    Rule {
        name: "preset",
        args: &["new", "acme", "--preset", "startpu"],
        in_workspace: false,
        code: 2,
        excerpt: "did you mean `startup`?",
    },
    Rule {
        name: "set-key",
        args: &["new", "acme", "--set", "cluster.verison=1.35"],
        in_workspace: false,
        code: 2,
        excerpt: "did you mean `cluster.version`?",
    },
    Rule {
        name: "image",
        args: &["add", "service", "web", "--image", "nginx"],
        in_workspace: true,
        code: 2,
        excerpt: "image `nginx`: has no tag",
    },
    Rule {
        name: "port",
        args: &["add", "service", "web", "--port", "70000"],
        in_workspace: true,
        code: 2,
        excerpt: "is outside 1 to 65535",
    },
    Rule {
        name: "replicas",
        args: &["add", "service", "web", "--min", "3", "--max", "2"],
        in_workspace: true,
        code: 2,
        excerpt: "1 <= min 3 <= max 2 does not hold",
    },
    Rule {
        name: "host",
        args: &["add", "service", "web", "--host", "x.example.org"],
        in_workspace: true,
        code: 2,
        excerpt: "is outside the domain",
    },
    Rule {
        name: "config-reserved-key",
        args: &["add", "service", "web", "--config", "SERVICE_NAME=x"],
        in_workspace: true,
        code: 2,
        excerpt: "config key `SERVICE_NAME`: is set by strata itself in every service's ConfigMap",
    },
    Rule {
        name: "cpu-quantity",
        args: &["add", "service", "web", "--cpu", "lots"],
        in_workspace: true,
        code: 2,
        excerpt: "CPU quantity `lots`: is not a CPU quantity",
    },
    Rule {
        name: "secret-is-config",
        args: &["add", "service", "web", "--secret", "X", "--config", "X=1"],
        in_workspace: true,
        code: 2,
        excerpt: "secret `X`: is also a config key",
    },
    Rule {
        name: "aws-role-needs-account",
        args: &["add", "service", "web", "--aws-role"],
        in_workspace: true,
        code: 2,
        excerpt: "needs the AWS account id",
    },
    Rule {
        name: "compute-choice",
        args: &["new", "acme", "--set", "cluster.compute=karpentr"],
        in_workspace: false,
        code: 2,
        excerpt: "`karpentr` is not one of node-groups, karpenter",
    },
    Rule {
        name: "add-existing",
        args: &["add", "service", "api"],
        in_workspace: true,
        code: 2,
        excerpt: "service `api`: already exists",
    },
    Rule {
        name: "remove-missing",
        args: &["remove", "service", "apx"],
        in_workspace: true,
        code: 2,
        excerpt: "does not exist in this workspace",
    },
    Rule {
        name: "check-gitops-dir",
        args: &["check", "--gitops", "x"],
        in_workspace: false,
        code: 2,
        excerpt: "is not a directory",
    },
];

/// The page, with backticks dropped: excerpts are quoted there with nested backticks.
fn errors_page() -> String {
    let page = fs_err::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md"))
        .unwrap();
    page.replace('`', "")
}

#[test]
fn every_message_quoted_in_docs_errors_md_is_what_strata_says() {
    let page = errors_page();
    let workspace = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(
        workspace.path(),
        &["--preset", "startup", "--services", "api"],
    );
    let mut said = String::new();
    let mut wrong = Vec::new();
    for rule in RULES {
        let empty = assert_fs::TempDir::new().unwrap();
        let mut cmd = strata();
        cmd.args(rule.args);
        if rule.in_workspace {
            cmd.arg("-C").arg(&gitops);
        } else {
            cmd.current_dir(empty.path());
            if rule.args[0] == "new" {
                cmd.arg("--out").arg(empty.path());
                if !rule.name.ends_with("-missing") {
                    cmd.args(crate::common::known_values(rule.args));
                }
            }
        }
        let output = cmd.output().unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(rule.code),
            "{}: {stderr}",
            rule.name
        );
        if !stderr.contains(rule.excerpt) {
            wrong.push(format!(
                "{}: strata no longer says {:?}:\n{stderr}",
                rule.name, rule.excerpt
            ));
        }
        if !page.contains(&rule.excerpt.replace('`', "")) {
            wrong.push(format!(
                "{}: docs/errors.md does not quote {:?}",
                rule.name, rule.excerpt
            ));
        }
        assert_eq!(
            snapshot(empty.path()).len(),
            0,
            "{}: something was written",
            rule.name
        );
        said.push_str(&format!("--- {} (exit {})\n{stderr}", rule.name, rule.code));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    insta::with_settings!({filters => vec![(r"/tmp/[^ `]*", "[TMP]")]}, {
        insta::assert_snapshot!("errors", said);
    });
}

/// A failed change, run for real: a fault injected (`STRATA_FAULT`) or a workspace changed
/// under a held run, and the excerpt of its message that `docs/errors.md` quotes.
struct Fault {
    name: &'static str,
    args: &'static [&'static str],
    fault: Option<&'static str>,
    /// Changes the workspace (`acme-foundation`, `acme-gitops` in the directory) before the
    /// run, or, with `hold`, while it is held after writing the foundation.
    setup: fn(&Path),
    hold: bool,
    excerpt: &'static str,
}

fn nothing(_: &Path) {}

fn directory_at_web_yaml(dir: &Path) {
    fs_err::create_dir_all(dir.join("acme-gitops/apps/dev/web.yaml/mine")).unwrap();
}

fn directory_and_an_edit(dir: &Path) {
    directory_at_web_yaml(dir);
    let answers = dir.join("acme-foundation/strata.toml");
    let text = fs_err::read_to_string(&answers).unwrap();
    fs_err::write(&answers, format!("{text}# mine\n")).unwrap();
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "not-a-file",
        args: &["add", "service", "web"],
        fault: None,
        setup: directory_at_web_yaml,
        hold: false,
        excerpt: "`apps/dev/web.yaml` is not a regular file (gitops): nothing was changed",
    },
    Fault {
        name: "between-repos",
        args: &["add", "service", "web"],
        fault: Some("between-repos"),
        setup: nothing,
        hold: false,
        excerpt: "every write was rolled back, in both repos",
    },
    Fault {
        name: "after-writes",
        args: &["add", "service", "web"],
        fault: Some("after-writes:3"),
        setup: nothing,
        hold: false,
        excerpt: "every write was rolled back, in both repos",
    },
    Fault {
        name: "commit",
        args: &["add", "service", "web", "--commit"],
        fault: Some("commit:gitops"),
        setup: nothing,
        hold: false,
        excerpt: "every write was rolled back, in both repos",
    },
    Fault {
        name: "file-cannot-be-replaced",
        args: &["add", "service", "web"],
        fault: None,
        setup: directory_at_web_yaml,
        hold: true,
        excerpt: "writing `apps/dev/web.yaml` (gitops): ",
    },
    Fault {
        name: "edited-during-the-run",
        args: &["add", "service", "web"],
        fault: None,
        setup: directory_and_an_edit,
        hold: true,
        excerpt: "rolled back in both repos, except what changed since:",
    },
    Fault {
        name: "new-before-move",
        args: &["new", "acme"],
        fault: Some("before-move"),
        setup: nothing,
        hold: false,
        excerpt: "nothing was written",
    },
];

/// Runs one fault in a fresh workspace (or an empty directory for `new`); its stderr.
fn run_fault(fault: &Fault) -> (Option<i32>, String) {
    let tmp = assert_fs::TempDir::new().unwrap();
    if fault.args[0] == "new" {
        let mut cmd = strata();
        cmd.args(fault.args).arg("--out").arg(tmp.path());
        cmd.args(crate::common::known_values(fault.args));
        if let Some(f) = fault.fault {
            cmd.env("STRATA_FAULT", f);
        }
        let output = cmd.output().unwrap();
        return (
            output.status.code(),
            String::from_utf8(output.stderr).unwrap(),
        );
    }
    let (foundation, _) = new_workspace(tmp.path(), &["--services", "api"]);
    if fault.hold {
        return crate::common::run_held(&foundation, fault.args, || (fault.setup)(tmp.path()));
    }
    (fault.setup)(tmp.path());
    let mut cmd = strata();
    cmd.args(fault.args).arg("-C").arg(&foundation);
    if let Some(f) = fault.fault {
        cmd.env("STRATA_FAULT", f);
    }
    let output = cmd.output().unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_messages_of_failed_changes_say_the_cause_first_issue_18() {
    let page = errors_page();
    let mut said = String::new();
    let mut wrong = Vec::new();
    for fault in FAULTS {
        let (code, stderr) = run_fault(fault);
        assert_eq!(code, Some(1), "{}: {stderr}", fault.name);
        assert!(stderr.starts_with("error: "), "{}: {stderr}", fault.name);
        if !stderr.contains(fault.excerpt) {
            wrong.push(format!(
                "{}: strata no longer says {:?}:\n{stderr}",
                fault.name, fault.excerpt
            ));
        }
        if !page.contains(&fault.excerpt.replace('`', "")) {
            wrong.push(format!(
                "{}: docs/errors.md does not quote {:?}",
                fault.name, fault.excerpt
            ));
        }
        said.push_str(&format!("--- {}\n{stderr}", fault.name));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    insta::with_settings!({filters => vec![
        (r"/tmp/[^ `]*", "[TMP]"),
        (r"strata-[0-9]+\.tmp", "strata-[PID].tmp"),
    ]}, {
        insta::assert_snapshot!("faults", said);
    });
}
