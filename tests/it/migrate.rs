//! `strata migrate` (issue 11) on real Pulumi stack exports (`tests/data/stack-exports/`,
//! sources in its `SOURCES.md`): what moves, what stays, the plan, adoption settings, and that
//! not one secret value reaches either repo or strata's output.

use fs_err as fs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{commit_count, new_workspace, snapshot, strata};
use assert_fs::TempDir;
use serde_json::Value;
use strata::StackExport;

const V4: &str = "tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v4.json";
const V3: &str = "tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v3.json";
const V3_SHOWN: &str =
    "tests/data/stack-exports/constructed-pulumi-eks-encryption-provider-k8s-v3-show-secrets.json";
const SHOP: &str = "tests/data/stack-exports/constructed-shop-adopt-in-place-k8s-v3.json";

/// The secret values of the real exports, written out here so the test does not only trust
/// strata's own collection of them: the v4 Secret's `data` (base64) and the v3 one's value
/// and its base64 (from the recording's gRPC log).
const KNOWN_SECRETS: &[&str] = &[
    "MnJ9U3hCcHluPz9BPiY9N3U+Q0UwODwoTn19ZjRAc1U=",
    "jMjJpvptBLM@aGLhl?4>PdMyUdQ02y*}",
    "ak1qSnB2cHRCTE1AYUdMaGw/ND5QZE15VWRRMDJ5Kn0=",
    "4dabf18193072939515e22adb298388d",
    "ciphertext",
];

fn workspace() -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(
        tmp.path(),
        &[
            "--envs",
            "dev,prod",
            "--services",
            "api",
            "--domain",
            "example.com",
        ],
    );
    (tmp, foundation, gitops)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn migrate(gitops: &Path, args: &[&str]) -> Run {
    let output = strata()
        .arg("migrate")
        .arg("-C")
        .arg(gitops)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
    }
}

/// The URNs a run says it moves.
fn moved(run: &Run) -> BTreeSet<String> {
    run.stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("moves  "))
        .map(|l| l.split(" -> ").next().unwrap().to_string())
        .collect()
}

/// The URNs `strata check --stack-export` lists.
fn checked(export: &str) -> BTreeSet<String> {
    let output = strata()
        .args(["check", "--json", "--stack-export", export])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["urn"].as_str().unwrap().to_string())
        .collect()
}

/// Every file of a repo as text: the working tree and every blob of HEAD's tree.
fn every_text(repo: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = snapshot(repo)
        .into_iter()
        .map(|(path, bytes)| (path, String::from_utf8_lossy(&bytes).to_string()))
        .collect();
    if let Ok(git) = git2::Repository::open(repo) {
        if let Ok(head) = git.head().and_then(|h| h.peel_to_tree()) {
            head.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
                if let Ok(blob) = entry.to_object(&git).and_then(|o| o.peel_to_blob()) {
                    out.push((
                        format!("HEAD:{dir}{}", entry.name().unwrap_or_default()),
                        String::from_utf8_lossy(blob.content()).to_string(),
                    ));
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
        }
    }
    out
}

#[track_caller]
fn assert_no_secret(export: &str, places: &[(String, String)]) {
    let parsed = StackExport::load(Path::new(export)).unwrap();
    let mut secrets: Vec<String> = parsed.secrets.iter().map(str::to_string).collect();
    assert!(!secrets.is_empty(), "{export} holds secrets");
    secrets.extend(KNOWN_SECRETS.iter().map(|s| s.to_string()));
    for (place, text) in places {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a secret value of `{export}` is in {place} ({} characters, starting `{}`)",
                secret.len(),
                secret.chars().take(3).collect::<String>()
            );
        }
    }
}

#[test]
fn the_real_v4_export_moves_its_deployment_and_secret_into_a_service() {
    let (_tmp, foundation, gitops) = workspace();
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V4,
            "--env",
            "dev",
            "--image",
            "nginx-cfa406f4=nginx:1.27.3",
            "--commit",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(commit_count(&gitops), 2, "one commit in the gitops repo");
    assert_eq!(commit_count(&foundation), 2, "one commit in the foundation");

    // Through the same path as `add service`: the answers and strata's files.
    let answers: toml::Table =
        toml::from_str(&fs::read_to_string(gitops.join("strata.toml")).unwrap()).unwrap();
    let service = &answers["services"]["nginx"];
    assert_eq!(service["image"].as_str(), Some("nginx"));
    assert_eq!(service["tag"].as_str(), Some("1.27.3"));
    assert_eq!(service["port"].as_integer(), Some(8080));
    assert_eq!(
        service["secrets"].as_array().unwrap()[0].as_str(),
        Some("dbPassword")
    );
    assert_eq!(service["expose"].as_str(), Some("none"));
    assert_eq!(service["envs"]["dev"]["min_replicas"].as_integer(), Some(1));
    assert!(service["envs"].get("prod").is_none());
    for path in [
        "services/nginx/base/deployment.yaml",
        "services/nginx/overlays/dev/externalsecret.yaml",
        "services/nginx/overlays/dev/patch-pulumi-deployment.yaml",
        "services/nginx/overlays/dev/patch-argocd-adoption.yaml",
        "apps/dev/nginx.yaml",
    ] {
        assert!(gitops.join(path).is_file(), "{path}");
    }
    let overlay =
        fs::read_to_string(gitops.join("services/nginx/overlays/dev/kustomization.yaml")).unwrap();
    assert!(overlay.contains(
        "  - path: patch-pulumi-deployment.yaml\n    target: {kind: Deployment, name: nginx}"
    ));
    assert!(overlay.contains("  - path: patch-argocd-adoption.yaml\n    target: {name: \".*\"}"));
    let external =
        fs::read_to_string(gitops.join("services/nginx/overlays/dev/externalsecret.yaml")).unwrap();
    assert!(
        external.contains("key: \"acme/dev/nginx\"")
            && external.contains("property: \"dbPassword\"")
    );
    // The Deployment keeps its name, and reads the key from strata's Secret.
    let patch: Value = serde_json::to_value(
        strata::parse_yaml(
            &fs::read_to_string(
                gitops.join("services/nginx/overlays/dev/patch-pulumi-deployment.yaml"),
            )
            .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let ops = patch.as_array().unwrap();
    let value_of = |path: &str| {
        ops.iter()
            .find(|op| op["path"] == path)
            .map(|op| op["value"].clone())
    };
    // Issue 21: the service is named as the program named it (`nginx`), the Deployment keeps
    // the name Pulumi gave it, and the container's name is strata's already.
    assert_eq!(
        value_of("/metadata/name"),
        Some(Value::from("nginx-cfa406f4"))
    );
    assert_eq!(value_of("/spec/template/spec/containers/0/name"), None);
    assert_eq!(
        value_of("/spec/selector").unwrap()["matchLabels"]["app"],
        "nginx"
    );
    assert_eq!(
        value_of("/spec/template/spec/containers/0/env").unwrap()[0]["valueFrom"]["secretKeyRef"]
            ["name"],
        "nginx-secrets"
    );

    // The plan names every URN of the export: each that moves, each that stays with its reason.
    let plan = fs::read_to_string(foundation.join("MIGRATION.md")).unwrap();
    let export = StackExport::load(Path::new(V4)).unwrap();
    for resource in &export.resources {
        assert!(
            plan.contains(&format!("`{}`", resource.urn)),
            "{} missing from the plan",
            resource.urn
        );
    }
    for phase in ["## Phase 1", "## Phase 2", "## Phase 3", "## Phase 4"] {
        assert!(plan.contains(phase), "{phase}");
    }
    assert!(plan.contains("retainOnDelete"));
    assert!(plan.contains("delete[retain]"));
    assert!(plan.contains("relocated from `default` to `dev`"));
    assert!(plan.contains("pulumi-kubernetes v4"));
    assert!(plan
        .contains("aws secretsmanager create-secret --region 'eu-west-1' --name 'acme/dev/nginx'"));
    // Dependents first: the Deployment uses the Secret.
    let deployment = plan.find("pulumi state delete --stack 'test' --yes 'urn:pulumi:test::encryption-provider::kubernetes:apps/v1:Deployment::nginx'").unwrap();
    let secret = plan.find("pulumi state delete --stack 'test' --yes 'urn:pulumi:test::encryption-provider::kubernetes:core/v1:Secret::db-password'").unwrap();
    assert!(deployment < secret);
    let script = fs::read_to_string(foundation.join("migration.sh")).unwrap();
    assert!(script.contains("pulumi state delete --stack \"$STACK\" --yes \"$urn\""));
    assert!(std::process::Command::new("bash")
        .arg("-n")
        .arg(foundation.join("migration.sh"))
        .status()
        .unwrap()
        .success());

    // The migrated workspace holds the rule, and its Pulumi stack's applications are exactly
    // what moved.
    strata()
        .args(["check", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    assert_eq!(moved(&run), checked(V4));
    assert_eq!(moved(&run).len(), 2);
}

#[test]
fn check_on_each_export_lists_exactly_what_migrate_moved() {
    for (export, image) in [
        (V4, "nginx-cfa406f4=nginx:1.27.3"),
        (V3_SHOWN, "nginx-e76af785=nginx:1.27.3"),
        (SHOP, "shop=ghcr.io/acme/shop:2.3.1"),
    ] {
        let (_tmp, _, gitops) = workspace();
        let run = migrate(
            &gitops,
            &["--stack-export", export, "--env", "dev", "--image", image],
        );
        assert_eq!(run.code, 0, "{export}: {}\n{}", run.stdout, run.stderr);
        let listed = checked(export);
        let mut expected = moved(&run);
        if export == SHOP {
            // The CronJob is an application too, but not a Deployment: it stays, with its reason.
            let cronjob = "urn:pulumi:dev::shop::kubernetes:batch/v1:CronJob::shop-report";
            assert!(
                run.stdout.contains(&format!("stays  {cronjob}: a CronJob")),
                "{}",
                run.stdout
            );
            expected.insert(cronjob.to_string());
        }
        assert_eq!(expected, listed, "{export}");
    }
}

#[test]
fn not_one_secret_value_reaches_either_repo_or_the_output() {
    for (export, image) in [
        (V4, "nginx-cfa406f4=nginx:1.27.3"),
        (V3_SHOWN, "nginx-e76af785=nginx:1.27.3"),
        (SHOP, "shop=ghcr.io/acme/shop:2.3.1"),
    ] {
        let (_tmp, foundation, gitops) = workspace();
        let dry = migrate(
            &gitops,
            &[
                "--stack-export",
                export,
                "--env",
                "dev",
                "--image",
                image,
                "--dry-run",
            ],
        );
        assert_eq!(dry.code, 0, "{}", dry.stderr);
        let run = migrate(
            &gitops,
            &[
                "--stack-export",
                export,
                "--env",
                "dev",
                "--image",
                image,
                "--commit",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        let checked_out = strata()
            .args(["check", "--stack-export", export])
            .output()
            .unwrap();
        let mut places = vec![
            ("the dry run's stdout".to_string(), dry.stdout),
            ("the dry run's stderr".to_string(), dry.stderr),
            ("stdout".to_string(), run.stdout),
            ("stderr".to_string(), run.stderr),
            (
                "check's output".to_string(),
                String::from_utf8_lossy(&checked_out.stdout).to_string(),
            ),
        ];
        for repo in [&foundation, &gitops] {
            places.extend(every_text(repo));
        }
        assert!(places.iter().any(|(p, _)| p == "MIGRATION.md"));
        assert_no_secret(export, &places);
    }
}

#[test]
fn a_sealed_v3_export_moves_nothing_writes_nothing_and_says_to_export_with_show_secrets() {
    let (_tmp, foundation, gitops) = workspace();
    let before = (snapshot(&foundation), snapshot(&gitops));
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V3,
            "--env",
            "dev",
            "--image",
            "nginx-e76af785=nginx:1.27.3",
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("--show-secrets"), "{}", run.stdout);
    assert!(run.stdout.contains("stays  urn:pulumi:p-it-runner-encryption-7bcc1d8e::encryption-provider::kubernetes:core/v1:Secret::db-password"));
    assert!(run.stderr.contains("nothing to move"));
    assert_eq!(before, (snapshot(&foundation), snapshot(&gitops)));
    assert_no_secret(
        V3,
        &[("stdout".into(), run.stdout), ("stderr".into(), run.stderr)],
    );
}

#[test]
fn an_image_without_a_tag_needs_one_before_the_deployment_moves() {
    let (_tmp, _, gitops) = workspace();
    let run = migrate(
        &gitops,
        &["--stack-export", V4, "--env", "dev", "--dry-run"],
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("--image nginx=IMAGE:TAG"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_service_in_its_environments_namespace_is_adopted_in_place() {
    let (_tmp, foundation, gitops) = workspace();
    let run = migrate(&gitops, &["--stack-export", SHOP, "--env", "dev"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run
        .stdout
        .contains("service `shop` (adopted in place in `dev`)"));
    let overlay = gitops.join("services/shop/overlays/dev");
    for kept in [
        "pulumi-service-shop-metrics.yaml",
        "patch-pulumi-service.yaml",
        "patch-pulumi-hpa.yaml",
        "patch-pulumi-ingress.yaml",
    ] {
        assert!(overlay.join(kept).is_file(), "{kept}");
    }
    let answers: toml::Table =
        toml::from_str(&fs::read_to_string(gitops.join("strata.toml")).unwrap()).unwrap();
    let service = &answers["services"]["shop"];
    assert_eq!(service["config"]["LOG_LEVEL"].as_str(), Some("info"));
    assert_eq!(
        service["config"]["CURRENCY"].as_str(),
        Some("EUR"),
        "literal env values are config"
    );
    assert_eq!(service["cpu_request"].as_str(), Some("250m"));
    assert_eq!(service["health_path"].as_str(), Some("/healthz"));
    assert_eq!(
        service["envs"]["dev"]["max_replicas"].as_integer(),
        Some(6),
        "the HPA's bounds"
    );
    let keys: Vec<&str> = service["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["DB_PASSWORD", "DB_USER"],
        "sealed keys read from managedFields"
    );
    // The Ingress is strata's, at Pulumi's host and path, with Pulumi's other annotations.
    assert_eq!(
        service["expose"].as_str(),
        Some("public"),
        "internet-facing"
    );
    assert_eq!(service["host"].as_str(), Some("shop.dev.example.com"));
    assert_eq!(service["cpu_limit"].as_str(), Some("1"), "Pulumi's limit");
    let ingress = fs::read_to_string(overlay.join("patch-pulumi-ingress.yaml")).unwrap();
    assert!(
        ingress.contains("target-type") && !ingress.contains("scheme"),
        "{ingress}"
    );
    // A kept object is Pulumi's declaration, without Pulumi's residue and namespace.
    let metrics = fs::read_to_string(overlay.join("pulumi-service-shop-metrics.yaml")).unwrap();
    assert!(metrics.contains("name: shop-metrics") && metrics.contains("prometheus.io/port"));
    for residue in ["managed-by", "last-applied", "namespace", "clusterIP"] {
        assert!(!metrics.contains(residue), "{residue} in {metrics}");
    }
    let adoption = fs::read_to_string(overlay.join("patch-argocd-adoption.yaml")).unwrap();
    assert!(adoption.contains("argocd.argoproj.io/sync-options: ServerSideApply=true,Prune=false"));
    let plan = fs::read_to_string(foundation.join("MIGRATION.md")).unwrap();
    assert!(plan.contains("pulumi-kubernetes v3"));
    assert!(plan.contains(
        "kubectl --context 'acme' -n 'dev' annotate 'deployment' 'shop' 'kubectl.kubernetes.io/last-applied-configuration-'"
    ));
    assert!(plan
        .contains("kubectl --context 'acme' -n 'dev' delete 'horizontalpodautoscaler' 'shop-hpa'"));
    assert!(plan.contains("made by the Helm chart `metrics`"));
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let (tmp, foundation, gitops) = workspace();
    let before = (snapshot(&foundation), snapshot(&gitops));
    let broken = tmp.path().join("broken.json");
    fs::write(
        &broken,
        "{\"version\": 3, \"deployment\": {\"resources\": 7}}",
    )
    .unwrap();
    for (args, says) in [
        (
            vec!["--stack-export", V4, "--env", "staging"],
            "names an environment the workspace does not have",
        ),
        (
            vec!["--stack-export", V4, "--env", "Dev!"],
            "environment name",
        ),
        (
            vec!["--stack-export", broken.to_str().unwrap(), "--env", "dev"],
            "is not a list",
        ),
        (
            vec!["--stack-export", "/nonexistent.json", "--env", "dev"],
            "cannot be read",
        ),
        (
            vec![
                "--stack-export",
                V4,
                "--env",
                "dev",
                "--image",
                "nginx-cfa406f4=nginx",
            ],
            "has no tag",
        ),
        (
            vec![
                "--stack-export",
                V4,
                "--env",
                "dev",
                "--image",
                "web=nginx:1.27.3",
            ],
            "no Deployment of the export",
        ),
        (
            vec!["--stack-export", V4, "--env", "dev", "--image", "nope"],
            "is not `KEY=VALUE`",
        ),
    ] {
        let run = migrate(&gitops, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains(says),
            "{args:?}: `{says}` not in {}",
            run.stderr
        );
        assert!(run.stderr.contains("nothing was written"));
    }
    let elsewhere = strata()
        .args(["migrate", "--stack-export", V4, "--env", "dev", "-C"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(elsewhere.status.code(), Some(2));
    assert_eq!(before, (snapshot(&foundation), snapshot(&gitops)));
}

#[test]
fn a_dry_run_prints_the_changes_and_writes_nothing() {
    let (_tmp, foundation, gitops) = workspace();
    let before = (snapshot(&foundation), snapshot(&gitops));
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V4,
            "--env",
            "dev",
            "--image",
            "nginx-cfa406f4=nginx:1.27.3",
            "--dry-run",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("+++ b/MIGRATION.md"));
    assert!(run
        .stdout
        .contains("+++ b/services/nginx/overlays/dev/patch-argocd-adoption.yaml"));
    assert!(run.stderr.contains("dry run: nothing was written"));
    assert_eq!(before, (snapshot(&foundation), snapshot(&gitops)));
}

#[test]
fn a_failure_midway_leaves_both_repos_as_they_were() {
    for fault in ["after-writes:3", "between-repos", "commit:gitops"] {
        let (_tmp, foundation, gitops) = workspace();
        let before = (snapshot(&foundation), snapshot(&gitops));
        let commits = (commit_count(&foundation), commit_count(&gitops));
        let output = strata()
            .env("STRATA_FAULT", fault)
            .args([
                "migrate",
                "--stack-export",
                V4,
                "--env",
                "dev",
                "--image",
                "nginx-cfa406f4=nginx:1.27.3",
                "--commit",
                "-C",
            ])
            .arg(&gitops)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{fault}");
        assert_eq!(
            before,
            (snapshot(&foundation), snapshot(&gitops)),
            "{fault}"
        );
        assert_eq!(
            commits,
            (commit_count(&foundation), commit_count(&gitops)),
            "{fault}"
        );
    }
}

#[test]
fn the_plan_of_an_earlier_migration_is_not_overwritten_unless_forced() {
    let (_tmp, foundation, gitops) = workspace();
    let first = migrate(
        &gitops,
        &[
            "--stack-export",
            V4,
            "--env",
            "dev",
            "--image",
            "nginx-cfa406f4=nginx:1.27.3",
            "--commit",
        ],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = migrate(
        &gitops,
        &["--stack-export", SHOP, "--env", "prod", "--commit"],
    );
    assert_eq!(second.code, 1);
    assert!(second.stderr.contains("MIGRATION.md"), "{}", second.stderr);
    let forced = migrate(
        &gitops,
        &[
            "--stack-export",
            SHOP,
            "--env",
            "prod",
            "--commit",
            "--force",
        ],
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(fs::read_to_string(foundation.join("MIGRATION.md"))
        .unwrap()
        .contains("stack `dev`"));
    assert!(forced.stdout.contains("relocated from `dev`"));
}

/// A stub `kubectl` and `aws` for `migration.sh`: each call is logged; `kubectl get
/// --show-managed-fields` prints `object.json`, a UID query prints `uid-<name>`, `config
/// view` and `aws eks describe-cluster` print `server`.
fn stubs(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let kubectl = format!(
        "#!/usr/bin/env bash\nprintf '%s\\n' \"$*\" >> {dir}/kubectl.log\ncase \"$*\" in\n  \"config view\"*) cat {dir}/server ;;\n  *--show-managed-fields*) cat {dir}/object.json ;;\n  *jsonpath=*uid*) cat {dir}/uid-$7 2>/dev/null ;;\nesac\n",
        dir = dir.display()
    );
    let aws = format!("#!/usr/bin/env bash\ncat {}/server\n", dir.display());
    for (name, text) in [("kubectl", kubectl), ("aws", aws)] {
        fs::write(bin.join(name), text).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(bin.join(name))
            .status()
            .unwrap();
    }
    bin
}

fn run_script(foundation: &Path, stubs: &Path, command: &str) -> std::process::Output {
    let path = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap());
    std::process::Command::new("bash")
        .arg(foundation.join("migration.sh"))
        .arg(command)
        .env("PATH", path)
        .output()
        .unwrap()
}

/// Issue 19, item 9: after the hand-over, Pulumi's field managers stay in each adopted object's
/// `managedFields`, so with server-side apply a field later removed in git stays on the live
/// object. `migration.sh release-fields` removes exactly the `pulumi-kubernetes*` entries
/// (each tested first), through the workspace cluster's context, and refuses an object only
/// Pulumi's managers own; `check-cluster` stops when the context, the export or an object is
/// not the workspace's cluster's. Every kubectl of the plan names the context.
#[test]
fn the_hand_over_releases_pulumi_s_field_managers_in_the_checked_cluster() {
    let (tmp, foundation, gitops) = workspace();
    let run = migrate(&gitops, &["--stack-export", SHOP, "--env", "dev"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = fs::read_to_string(foundation.join("MIGRATION.md")).unwrap();
    for line in plan.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix("kubectl ") {
            assert!(
                rest.starts_with("--context 'acme' ")
                    || rest.starts_with("config view --minify --context 'acme' "),
                "a kubectl without the cluster's context: {line}"
            );
        }
        if line.starts_with("pulumi ") && line.contains("--stack") {
            assert!(line.contains("--stack 'dev'"), "{line}");
        }
    }
    assert!(plan
        .contains("aws eks update-kubeconfig --region 'eu-west-1' --name 'acme' --alias 'acme'"));
    assert!(plan.contains("bash migration.sh release-fields"));
    assert!(plan.contains("bash migration.sh check-cluster"));

    let stub_dir = tmp.path().join("stubs");
    fs::create_dir_all(&stub_dir).unwrap();
    let bin = stubs(&stub_dir);
    let server = "https://ABC.gr7.eu-west-1.eks.amazonaws.com";
    fs::write(stub_dir.join("server"), server).unwrap();
    fs::write(
        stub_dir.join("object.json"),
        r#"{"metadata": {"managedFields": [
            {"manager": "argocd-controller", "operation": "Apply"},
            {"manager": "pulumi-kubernetes-b4c9a964", "operation": "Apply"},
            {"manager": "kube-controller-manager", "operation": "Update"},
            {"manager": "pulumi-kubernetes", "operation": "Update"}]}}"#,
    )
    .unwrap();
    let done = run_script(&foundation, &bin, "release-fields");
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(
        done.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let log = fs::read_to_string(stub_dir.join("kubectl.log")).unwrap();
    let patches: Vec<&str> = log.lines().filter(|l| l.contains(" patch ")).collect();
    // The objects Argo CD adopts with their names (the HPA, ConfigMap and Secret of another
    // name are deleted, not adopted).
    assert_eq!(
        patches
            .iter()
            .map(|l| l.split(" --type=json").next().unwrap())
            .collect::<Vec<_>>(),
        [
            "--context acme -n dev patch deployment shop",
            "--context acme -n dev patch service shop",
            "--context acme -n dev patch service shop-metrics",
            "--context acme -n dev patch ingress shop",
        ],
        "{log}"
    );
    let patch: serde_json::Value =
        serde_json::from_str(patches[0].split(" -p ").nth(1).unwrap()).unwrap();
    assert_eq!(
        patch,
        serde_json::json!([
            {"op": "test", "path": "/metadata/managedFields/3/manager", "value": "pulumi-kubernetes"},
            {"op": "remove", "path": "/metadata/managedFields/3"},
            {"op": "test", "path": "/metadata/managedFields/1/manager", "value": "pulumi-kubernetes-b4c9a964"},
            {"op": "remove", "path": "/metadata/managedFields/1"},
        ])
    );
    // Only Pulumi's managers: Argo CD has not applied it yet; nothing is patched.
    fs::write(
        stub_dir.join("object.json"),
        r#"{"metadata": {"managedFields": [{"manager": "pulumi-kubernetes-b4c9a964"}]}}"#,
    )
    .unwrap();
    fs::remove_file(stub_dir.join("kubectl.log")).unwrap();
    let done = run_script(&foundation, &bin, "release-fields");
    assert_eq!(done.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&done.stdout).contains("WAIT    deployment dev/shop"));
    let log = fs::read_to_string(stub_dir.join("kubectl.log")).unwrap();
    assert!(!log.contains(" patch "), "{log}");

    // The cluster check: the context's server is the workspace cluster's, and every adopted
    // object is the export's (its UID).
    let export = StackExport::load(Path::new(SHOP)).unwrap();
    for resource in &export.resources {
        if let (Some(object), Some(uid)) = (
            resource.kube_object(),
            resource
                .outputs
                .pointer("/metadata/uid")
                .and_then(Value::as_str),
        ) {
            fs::write(stub_dir.join(format!("uid-{}", object.name)), uid).unwrap();
        }
    }
    let done = run_script(&foundation, &bin, "check-cluster");
    let stdout = String::from_utf8_lossy(&done.stdout).to_string();
    assert!(done.status.success(), "{stdout}");
    assert!(stdout.starts_with("ok: acme is cluster acme"), "{stdout}");
    fs::write(
        stub_dir.join("uid-shop"),
        "11111111-0000-4000-8000-000000000000",
    )
    .unwrap();
    let done = run_script(&foundation, &bin, "check-cluster");
    assert_eq!(done.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&done.stdout)
        .contains("deployment dev/shop: the cluster holds 11111111-0000-4000-8000-000000000000"));
}

/// An export whose provider names another cluster: `strata migrate` warns, `MIGRATION.md`
/// opens with it, and `check-cluster` refuses it by the API server the export names.
#[test]
fn an_export_of_another_cluster_is_named_before_anything_is_adopted() {
    let (tmp, foundation, gitops) = workspace();
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V4,
            "--env",
            "dev",
            "--image",
            "nginx-cfa406f4=nginx:1.27.3",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("warning: the export's objects run in cluster `encryption-provider-eksCluster-813f60c`, not in this workspace's `acme`"), "{}", run.stderr);
    let plan = fs::read_to_string(foundation.join("MIGRATION.md")).unwrap();
    let stop = plan
        .find(
            "**Stop: the export's objects run in cluster `encryption-provider-eksCluster-813f60c`",
        )
        .unwrap();
    assert!(stop < plan.find("## What moves").unwrap());
    let stub_dir = tmp.path().join("stubs");
    fs::create_dir_all(&stub_dir).unwrap();
    let bin = stubs(&stub_dir);
    fs::write(
        stub_dir.join("server"),
        "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
    )
    .unwrap();
    let done = run_script(&foundation, &bin, "check-cluster");
    assert_eq!(done.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&done.stdout).contains(
        "the export's objects were applied to https://1DC1BF648E58C6B948BEAC62EA0D6649.gr7.us-west-2.eks.amazonaws.com, not to cluster acme"
    ));
}

/// Issue 21: the service takes the name the Pulumi program gave the Deployment (`nginx`), not
/// the object's auto-name (`nginx-cfa406f4`), which `--image` accepts too; a second Deployment
/// of the same logical name keeps its object's name; and `upgrade --check` and
/// `upgrade --dry-run` agree right after: nothing to change.
#[test]
fn a_migrated_service_is_named_as_the_program_named_it_and_an_upgrade_agrees() {
    let (_tmp, _foundation, gitops) = workspace();
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V4,
            "--env",
            "dev",
            "--image",
            "nginx=nginx:1.27.3",
            "--commit",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(gitops.join("services/nginx/base/deployment.yaml").is_file());
    assert!(!gitops.join("services/nginx-cfa406f4").exists());
    let run = migrate(
        &gitops,
        &[
            "--stack-export",
            V3_SHOWN,
            "--env",
            "dev",
            "--image",
            "nginx=nginx:1.27.3",
            "--commit",
            "--force",
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        gitops
            .join("services/nginx-e76af785/base/deployment.yaml")
            .is_file(),
        "the logical name is taken: the object's name"
    );
    for args in [&["upgrade", "--check"][..], &["upgrade", "--dry-run"]] {
        strata()
            .args(args)
            .arg("-C")
            .arg(&gitops)
            .assert()
            .success()
            .stdout("")
            .stderr(predicates::str::contains("nothing to change"));
    }
}

/// Issue 21: `check` suggests `migrate` only for what it moves, and `--gitops` in a repo that
/// strata did not make.
#[test]
fn check_suggests_migrate_only_for_what_it_moves_and_gitops_outside_a_workspace() {
    let output = strata()
        .args(["check", "--json", "--stack-export", SHOP])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["result"]["findings"].as_array().unwrap();
    let fix_of = |kind: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| {
                f["urn"]
                    .as_str()
                    .is_some_and(|u| u.contains(&format!(":{kind}::")))
            })
            .map(|f| f["fix"].as_str().unwrap().to_string())
            .collect()
    };
    let cron = fix_of("CronJob");
    assert!(
        !cron.is_empty()
            && cron
                .iter()
                .all(|f| f.contains("by hand") && !f.contains("strata migrate --")),
        "{cron:?}"
    );
    let deployment = fix_of("Deployment");
    assert!(
        deployment
            .iter()
            .all(|f| f.contains("strata migrate --stack-export")),
        "{deployment:?}"
    );

    let plain = TempDir::new().unwrap();
    fs::write(plain.path().join("kustomization.yaml"), "resources: []\n").unwrap();
    strata()
        .arg("check")
        .current_dir(plain.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is not a strata workspace"))
        .stderr(predicates::str::contains("strata check --gitops ."));
}

#[test]
fn a_workload_that_reaches_its_node_stays_in_pulumi_with_the_reason() {
    // break-report F5: host namespaces and a hostPath volume were kept verbatim into a namespace
    // whose Pod Security `restricted` refuses them, and `privileged: true` dropped silently.
    let (tmp, _, gitops) = workspace();
    let mut export: Value = serde_json::from_str(&fs::read_to_string(SHOP).unwrap()).unwrap();
    for resource in export["deployment"]["resources"].as_array_mut().unwrap() {
        if resource["urn"]
            .as_str()
            .unwrap()
            .ends_with("Deployment::shop")
        {
            for side in ["inputs", "outputs"] {
                let pod = &mut resource[side]["spec"]["template"]["spec"];
                pod["hostNetwork"] = Value::Bool(true);
                pod["volumes"] = serde_json::json!([{"name": "root", "hostPath": {"path": "/"}}]);
                pod["containers"][0]["securityContext"] = serde_json::json!({"privileged": true});
            }
        }
    }
    let path = tmp.path().join("node-access.json");
    fs::write(&path, serde_json::to_vec(&export).unwrap()).unwrap();
    let run = migrate(
        &gitops,
        &["--stack-export", path.to_str().unwrap(), "--env", "dev"],
    );
    let shown = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        shown.contains("its pods reach the node (`hostNetwork`, the `hostPath` volume `root`, the privileged container `shop`)"),
        "{shown}"
    );
    assert!(!gitops.join("services/shop").exists(), "{shown}");
}

#[test]
fn a_service_moved_to_another_environment_gets_that_environments_host() {
    // break-report F16: `--env prod` of a `dev` export served prod at `shop.dev.example.com`.
    let (_tmp, _, gitops) = workspace();
    let run = migrate(
        &gitops,
        &["--stack-export", SHOP, "--env", "prod", "--dry-run"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("strata's Ingress `shop` at `shop.prod.example.com/`"),
        "{}",
        run.stdout
    );
    assert!(run
        .stdout
        .contains("a host of the environment it moves from"));
}
