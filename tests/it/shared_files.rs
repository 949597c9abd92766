//! Files strata shares with Pulumi and with people: it owns keys, not files.
//!
//! `pulumi stack init` writes `encryptionsalt` (passphrase) or `secretsprovider` and
//! `encryptedkey` (KMS) into `Pulumi.<stack>.yaml`, and `pulumi config set [--secret]` adds
//! keys. A person may add an entry to `apps/<env>/kustomization.yaml`. Every command must keep
//! all of that byte for byte, with or without `--force`.

use std::path::Path;

use crate::common::{git, new_workspace, strata};

/// The text of every block of a stack file that is not strata's: top-level keys other than
/// `config`, and `config` entries other than `ours` (the keys of strata's fresh render).
/// Written independently of strata's merge, by indentation alone.
fn foreign_blocks(text: &str, ours: &[String]) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    let mut current: Option<(bool, String)> = None;
    let mut in_config = false;
    let flush = |current: &mut Option<(bool, String)>, blocks: &mut Vec<String>| {
        if let Some((foreign, text)) = current.take() {
            if foreign {
                blocks.push(text);
            }
        }
    };
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let content = !line.trim().is_empty() && !line.trim_start().starts_with('#');
        if content && indent == 0 {
            flush(&mut current, &mut blocks);
            in_config = line.starts_with("config:");
            current = Some((!in_config, line.to_string()));
        } else if content && in_config && indent == 2 && !line.trim_start().starts_with("- ") {
            flush(&mut current, &mut blocks);
            let key = line
                .trim()
                .split(": ")
                .next()
                .unwrap()
                .trim_end_matches(':');
            let strata = ours.iter().any(|k| k == key);
            current = Some((!strata, line.to_string()));
        } else if let Some((_, text)) = &mut current {
            text.push_str(line);
        }
    }
    flush(&mut current, &mut blocks);
    blocks
}

fn run(dir: &Path, args: &[&str]) {
    strata().args(args).arg("-C").arg(dir).assert().success();
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

fn config(path: &Path) -> serde_json::Value {
    let value: serde_json::Value = serde_yaml_ng::from_str(&read(path)).unwrap();
    value["config"].clone()
}

/// What Pulumi adds: a KMS secrets provider in one stack, a passphrase salt in the other, a
/// secret and a plain key set with `pulumi config set`.
const KMS: &str = "secretsprovider: awskms://alias/acme-pulumi?region=eu-west-1\nencryptedkey: AQICAHhQ8bZ4cW9kZXJvc2VzYXJlcmVkCg==\n";
const SALT: &str = "encryptionsalt: v1:Vbz0rPlL3Ls=:v1:lI4W2Z+nVZ1Mg3jG:rQ8hz1Bt5Zb4yJyI0vZ9Vw==\n";
const SET: &str = "  acme-foundation:grafanaAdminPassword:\n    secure: v1:Kx4m6T2kP1yz0Uu9:eW91IHNob3VsZCBub3QgcmVhZCB0aGlz\n  team:owner: platform # set by hand\n";

#[test]
fn pulumi_keys_and_values_survive_every_command_and_force() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        dir.path(),
        &[
            "--preset",
            "production",
            "--envs",
            "dev,prod",
            "--services",
            "web",
            "--account-id",
            "123456789012",
            "--api-cidrs",
            "203.0.113.0/24",
        ],
    );
    let dev = foundation.join("Pulumi.dev.yaml");
    let prod = foundation.join("Pulumi.prod.yaml");
    let ours: Vec<String> = config(&dev).as_object().unwrap().keys().cloned().collect();
    assert!(ours.len() > 10 && ours.contains(&"aws:region".to_string()));
    fs_err::write(&dev, format!("{KMS}{}{SET}", read(&dev))).unwrap();
    fs_err::write(&prod, format!("{SALT}{}", read(&prod))).unwrap();
    git(&foundation, &["commit", "-qam", "pulumi stack init"]);
    let dev_foreign = foreign_blocks(&read(&dev), &ours);
    let prod_foreign = foreign_blocks(&read(&prod), &ours);
    assert_eq!(dev_foreign.len(), 4, "{dev_foreign:?}");
    assert_eq!(prod_foreign.len(), 1);

    let keep = |what: &str| {
        assert_eq!(
            foreign_blocks(&read(&dev), &ours),
            dev_foreign,
            "after {what}"
        );
        assert_eq!(
            foreign_blocks(&read(&prod), &ours),
            prod_foreign,
            "after {what}"
        );
    };

    run(&gitops, &["add", "service", "api", "--irsa", "--commit"]);
    keep("add service --irsa");
    let roles = &config(&dev)["acme-foundation:serviceRoles"];
    assert_eq!(roles[0]["service"], "api", "strata's own key follows");

    run(&gitops, &["add", "env", "qa", "--commit"]);
    keep("add env");
    assert!(foundation.join("Pulumi.qa.yaml").exists());

    run(&gitops, &["remove", "service", "api", "--commit"]);
    keep("remove service");
    assert_eq!(
        config(&dev)["acme-foundation:serviceRoles"],
        serde_json::json!([])
    );

    // Someone edits one of strata's keys: a conflict naming it, and nothing written.
    let edited = read(&dev).replace("kubernetesVersion: \"1.36\"", "kubernetesVersion: \"1.33\"");
    fs_err::write(&dev, &edited).unwrap();
    git(&foundation, &["commit", "-qam", "edit strata's key"]);
    strata()
        .args(["add", "service", "billing", "--irsa", "-C"])
        .arg(&gitops)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "acme-foundation:kubernetesVersion",
        ));
    assert_eq!(read(&dev), edited, "a refused run writes nothing");

    // `--force` rewrites strata's keys only.
    run(
        &gitops,
        &["add", "service", "billing", "--irsa", "--force", "--commit"],
    );
    keep("--force");
    assert_eq!(config(&dev)["acme-foundation:kubernetesVersion"], "1.36");
    assert_eq!(
        config(&dev)["acme-foundation:serviceRoles"][0]["service"],
        "billing"
    );
}

#[test]
fn a_stack_file_reformatted_by_pulumi_is_not_an_edit() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(dir.path(), &["--envs", "dev"]);
    let stack = foundation.join("Pulumi.shared.yaml");
    // Pulumi rewrites the whole file with its own YAML writer on `pulumi config set`: no
    // comments, keys in its order, four-space indentation.
    let value: serde_json::Value = serde_yaml_ng::from_str(&read(&stack)).unwrap();
    let mut rewritten = String::from("config:\n");
    let mut keys: Vec<_> = value["config"].as_object().unwrap().iter().collect();
    keys.sort_by(|a, b| b.0.cmp(a.0));
    for (key, value) in keys {
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), value.clone());
        for line in serde_yaml_ng::to_string(&one).unwrap().lines() {
            rewritten.push_str("    ");
            rewritten.push_str(line);
            rewritten.push('\n');
        }
    }
    rewritten.push_str(SALT);
    fs_err::write(&stack, &rewritten).unwrap();
    git(&foundation, &["commit", "-qam", "pulumi config set"]);

    run(&gitops, &["add", "env", "qa", "--commit"]);
    let after = read(&stack);
    assert!(after.ends_with(SALT));
    let envs = &config(&stack)["acme-foundation:environments"];
    assert_eq!(envs[1]["name"], "qa");
}

#[test]
fn entries_added_by_hand_to_an_app_of_apps_stay() {
    let dir = assert_fs::TempDir::new().unwrap();
    let (_, gitops) = new_workspace(dir.path(), &["--envs", "dev", "--services", "api"]);
    let apps = gitops.join("apps/dev/kustomization.yaml");
    let text = read(&apps).replace("  - api.yaml", "  - api.yaml\n  - monitoring.yaml # ours");
    fs_err::write(&apps, &text).unwrap();
    fs_err::write(
        gitops.join("apps/dev/monitoring.yaml"),
        "# an Application of ours\n",
    )
    .unwrap();
    git(&gitops, &["add", "-A"]);
    git(&gitops, &["commit", "-qm", "our own Application"]);

    run(&gitops, &["add", "service", "web", "--commit"]);
    assert!(read(&apps).contains("  - monitoring.yaml # ours\n"));
    assert!(read(&apps).contains("  - web.yaml\n"));
    run(&gitops, &["remove", "service", "api", "--commit"]);
    run(&gitops, &["remove", "service", "web", "--commit"]);
    let last = read(&apps);
    assert!(last.contains("  - monitoring.yaml # ours\n"), "{last}");
    assert!(
        !last.contains("api.yaml") && !last.contains("web.yaml"),
        "{last}"
    );
    assert!(gitops.join("apps/dev/monitoring.yaml").exists());
}
