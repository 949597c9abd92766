//! One JSON contract (issue 21 point 4): every command takes `--json`, prints one document of
//! one top-level shape on stdout, errors included (exit 1 and 2), and the document validates
//! against `docs/strata-output.schema.json`.

use std::path::Path;

use serde_json::Value;

use crate::common::{strata, Test};

fn schema() -> jsonschema::Validator {
    let text = fs_err::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/strata-output.schema.json"),
    )
    .unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// Runs strata with `args` (and `--json`) in `dir`; asserts the exit code, that stdout is one
/// JSON document valid against the schema, and returns it.
fn run(validator: &jsonschema::Validator, dir: &Path, args: &[&str], code: i32) -> Value {
    let output = strata()
        .current_dir(dir)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "{args:?}: stdout is not one JSON document ({err}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{args:?}: {errors:#?}\n{json:#}");
    assert_eq!(json["exit_code"], code, "{args:?}");
    json
}

#[test]
fn every_command_prints_one_document_of_one_shape_errors_included() {
    let validator = schema();
    let tmp = assert_fs::TempDir::new().unwrap();
    let dir = tmp.path();
    let known = [
        "--domain",
        "example.com",
        "--git-base",
        "https://github.com/acme",
    ];
    let mut new = vec!["new", "acme", "--services", "api", "--envs", "dev,prod"];
    new.extend(known);
    let planned = run(&validator, dir, &[&new[..], &["--dry-run"]].concat(), 0);
    assert_eq!(planned["result"]["outcome"], "dry-run");
    assert!(
        fs_err::read_dir(dir).unwrap().next().is_none(),
        "a dry run writes nothing"
    );
    let created = run(&validator, dir, &new, 0);
    assert_eq!(created["command"], "new");
    assert_eq!(created["result"]["outcome"], "written");
    run(&validator, dir, &new, 2);
    run(&validator, dir, &["new", "Acme", "--region", "mars-1"], 2);

    let ws = dir.join("acme-gitops");
    let c = |args: &[&'static str]| -> Vec<&'static str> { args.to_vec() };
    for (args, code) in [
        (c(&["add", "service", "web", "--dry-run"]), 0),
        (c(&["add", "service", "web", "--commit"]), 0),
        (c(&["add", "service", "web"]), 2),
        (c(&["add", "env", "qa", "--dry-run"]), 0),
        (c(&["add", "env", "qa"]), 0),
        (c(&["add", "platform", "monitoring", "--allow-dirty"]), 0),
        (c(&["remove", "platform", "monitoring", "--allow-dirty"]), 0),
        (c(&["remove", "service", "web", "--allow-dirty"]), 0),
        (c(&["remove", "env", "nope"]), 2),
        (c(&["upgrade"]), 0),
        (c(&["upgrade", "--check"]), 0),
        (c(&["upgrade", "--dry-run"]), 0),
        (c(&["list"]), 0),
        (c(&["presets", "--keys"]), 0),
        (c(&["packs"]), 0),
        (c(&["check"]), 0),
        (
            c(&[
                "migrate",
                "--stack-export",
                "/nonexistent.json",
                "--env",
                "dev",
            ]),
            2,
        ),
        (c(&["add", "service"]), 2),
        (c(&["frobnicate"]), 2),
    ] {
        let json = run(&validator, &ws, &args, code);
        if code == 0 {
            assert!(
                json["error"].is_null() && !json["result"].is_null(),
                "{args:?}"
            );
        } else {
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{args:?}"
            );
        }
    }
}

#[test]
fn findings_and_refusals_exit_1_with_their_result_and_error() {
    let validator = schema();
    let tmp = assert_fs::TempDir::new().unwrap();
    let repo = tmp.path().join("apps");
    fs_err::create_dir_all(&repo).unwrap();
    fs_err::write(
        repo.join("role.yaml"),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: wide\n",
    )
    .unwrap();
    let json = run(&validator, tmp.path(), &["check", "--gitops", "apps"], 1);
    assert_eq!(json["result"]["holds"], false);
    assert_eq!(json["error"]["kind"], "refused");

    let test = Test::new().create();
    let apps = test.gitops.join("apps/dev/kustomization.yaml");
    let edited = fs_err::read_to_string(&apps).unwrap() + "# mine\n";
    fs_err::write(&apps, edited).unwrap();
    let json = run(&validator, &test.gitops, &["add", "service", "api"], 1);
    assert_eq!(json["error"]["kind"], "refused");
    assert_eq!(json["error"]["outcome"], "nothing-written");
    assert!(!json["error"]["details"].as_array().unwrap().is_empty());
}

#[test]
fn the_plan_and_the_counts_include_strata_toml_and_strata_lock() {
    let validator = schema();
    let test = Test::new().create();
    let json = run(
        &validator,
        &test.gitops,
        &["add", "service", "api", "--dry-run"],
        0,
    );
    let files = json["result"]["files"].as_array().unwrap();
    // The answers change in both repos; the gitops repo's lock records the new files (the
    // foundation's lock does not change, so it is not part of the change).
    for (repo, paths) in [
        ("foundation", &["strata.toml"][..]),
        ("gitops", &["strata.toml", "strata.lock"][..]),
    ] {
        for path in paths {
            assert!(
                files
                    .iter()
                    .any(|f| f["repo"] == repo && f["path"] == *path && f["action"] == "update"),
                "{repo} {path} missing from the plan"
            );
        }
    }
    let planned = json["result"]["repos"].clone();
    let json = run(&validator, &test.gitops, &["add", "service", "api"], 0);
    assert_eq!(
        json["result"]["repos"], planned,
        "the dry run counted what was written"
    );
    let foundation = json["result"]["repos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repo"] == "foundation")
        .unwrap()
        .clone();
    assert!(foundation["updated"].as_u64().unwrap() >= 1, "{foundation}");
    assert!(files
        .iter()
        .all(|f| !f["reason"].as_str().unwrap().is_empty()));
}
