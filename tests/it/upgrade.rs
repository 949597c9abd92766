//! `strata upgrade`: a workspace written by an older strata (strata 0.1.0, kept as a fixture
//! under `tests/fixtures/upgrade/`) is carried to this strata's templates, keeping every edit.

use std::path::{Path, PathBuf};

use crate::common::{commit_count, git, snapshot, strata};

const FIXTURE: &str = "tests/fixtures/upgrade/strata-0.1.0-aecd22f";

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            fs_err::create_dir_all(target).unwrap();
        } else {
            fs_err::copy(entry.path(), target).unwrap();
        }
    }
}

/// The old workspace, each repo committed as the old strata left it.
fn old_workspace(dir: &Path) -> (PathBuf, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    for repo in ["acme-foundation", "acme-gitops"] {
        copy_dir(&fixture.join(repo), &dir.join(repo));
        git(&dir.join(repo), &["init", "-q"]);
        git(&dir.join(repo), &["add", "-A"]);
        git(
            &dir.join(repo),
            &["commit", "-qm", "written by strata 0.1.0"],
        );
    }
    (dir.join("acme-foundation"), dir.join("acme-gitops"))
}

/// Asserts two snapshots are equal, naming the paths that differ.
fn assert_same(
    a: &std::collections::BTreeMap<String, Vec<u8>>,
    b: &std::collections::BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let differ: Vec<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|p| a.get(*p) != b.get(*p))
        .collect();
    assert!(differ.is_empty(), "{what}: {differ:?} differ");
}

fn read(path: &Path) -> String {
    fs_err::read_to_string(path).unwrap()
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = read(path);
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    fs_err::write(path, text.replacen(from, to, 1)).unwrap();
}

const SALT: &str = "encryptionsalt: v1:Vbz0rPlL3Ls=:v1:lI4W2Z+nVZ1Mg3jG:rQ8hz1Bt5Zb4yJyI0vZ9Vw==\n";
const SET: &str =
    "  # set by hand, for the migration job\n  acme-foundation:dbPassword:\n    secure: v1:Kx4m6T2kP1yz0Uu9:eW91IHNob3VsZCBub3QgcmVhZA==\n";
/// A person's comment under strata's opening comment of a stack file.
const NOTE: &str = "# ours: the passphrase is in the team vault\n";
/// What strata 0.1.0's stack files said of themselves, wrongly for a file Pulumi writes too.
const OLD_HEADER: &str = "# Owned by strata: `strata add` and `strata remove` rewrite it";

/// The four kinds of edit the issue names: a seed overlay, a label in an owned base
/// manifest, Pulumi's keys in a stack file, an entry added to an app-of-apps.
fn make_edits(foundation: &Path, gitops: &Path) {
    edit(
        &gitops.join("services/api/overlays/dev/kustomization.yaml"),
        "\"ENVIRONMENT=dev\"",
        "\"ENVIRONMENT=dev\"\n      - \"FEATURE_X=on\"",
    );
    edit(
        &gitops.join("services/api/base/deployment.yaml"),
        "    app.kubernetes.io/part-of: acme\n",
        "    app.kubernetes.io/part-of: acme\n    team: payments\n",
    );
    // What `pulumi stack init` and `pulumi config set` add (Pulumi puts its key first), and a
    // person's comment under strata's.
    let stack = foundation.join("Pulumi.dev.yaml");
    let text = read(&stack).replacen("config:\n", &format!("{NOTE}config:\n"), 1);
    fs_err::write(&stack, format!("{SALT}{text}{SET}")).unwrap();
    edit(
        &gitops.join("apps/dev/kustomization.yaml"),
        "  - api.yaml\n",
        "  - api.yaml\n  - monitoring.yaml\n",
    );
    fs_err::write(gitops.join("apps/dev/monitoring.yaml"), "# ours\n").unwrap();
    for repo in [foundation, gitops] {
        git(repo, &["add", "-A"]);
        git(repo, &["commit", "-qm", "our edits"]);
    }
}

/// A fresh workspace of this strata with the old workspace's answers.
fn fresh(dir: &Path) -> (PathBuf, PathBuf) {
    let (foundation, gitops) = crate::common::new_workspace(
        dir,
        &[
            "--preset",
            "production",
            "--envs",
            "dev,prod",
            "--services",
            "api,web",
            "--account-id",
            "123456789012",
            // strata 0.1.0 opened the API endpoint to everyone; the answers keep that.
            "--api-cidrs",
            "0.0.0.0/0",
            // strata 0.1.0 had managed node groups and IRSA; `upgrade` never switches them to the
            // preset's Karpenter and Pod Identity (issue 22).
            "--set",
            "cluster.compute=node-groups",
            "--set",
            "identity=irsa",
            // strata 0.1.0 had no platform services; `upgrade` must not turn them on.
            "--set",
            "platform.monitoring.enabled=false",
            "--set",
            "platform.logging.enabled=false",
            // ... and reads them with the defaults of `docs/platform.md`, not the preset's.
            "--set",
            "platform.monitoring.replicas=1",
            "--set",
            "platform.monitoring.retention=15d",
            "--set",
            "platform.monitoring.storage=50Gi",
            // strata 0.1.0's External DNS never deleted records; `upgrade` keeps that choice.
            "--set",
            "addons.external_dns.policy=upsert-only",
            // ... and its clusters run 1.35: `upgrade` never upgrades Kubernetes by itself.
            "--set",
            "cluster.version=1.35",
        ],
    );
    strata()
        .args([
            "add",
            "service",
            "billing",
            "--irsa",
            "--secret",
            "DB_PASSWORD",
            "-C",
        ])
        .arg(&gitops)
        .assert()
        .success();
    (foundation, gitops)
}

#[test]
fn an_old_workspace_upgrades_keeping_every_edit() {
    let old = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = old_workspace(old.path());
    make_edits(&foundation, &gitops);
    let seed = read(&gitops.join("services/api/overlays/dev/kustomization.yaml"));

    // `--dry-run` writes nothing.
    let before = snapshot(old.path());
    strata()
        .args(["upgrade", "--dry-run", "-C"])
        .arg(&gitops)
        .assert()
        .success()
        .stdout(predicates::str::contains("-  - appproject.yaml"));
    assert_same(&snapshot(old.path()), &before, "--dry-run");

    // `--check` writes nothing either, and fails while anything would change.
    strata()
        .args(["upgrade", "--check", "-C"])
        .arg(&gitops)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "would change; nothing was written",
        ))
        .stderr(predicates::str::contains(
            "gitops: `apps/dev/appproject.yaml` would be deleted",
        ));
    assert_same(&snapshot(old.path()), &before, "--check");

    strata()
        .args(["upgrade", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success()
        .stderr(predicates::str::contains("format 1 to 2"));
    // Once upgraded, the workspace passes `--check`.
    strata()
        .args(["upgrade", "--check", "-C"])
        .arg(&gitops)
        .assert()
        .success()
        .stderr(predicates::str::contains("nothing to change"));

    // Every edit is kept.
    assert_eq!(
        read(&gitops.join("services/api/overlays/dev/kustomization.yaml")),
        seed
    );
    let deployment = read(&gitops.join("services/api/base/deployment.yaml"));
    assert!(deployment.contains("    team: payments\n"), "{deployment}");
    let stack = read(&foundation.join("Pulumi.dev.yaml"));
    assert!(stack.starts_with(SALT) && stack.ends_with(SET), "{stack}");
    // Issue 19, item 10: strata's opening comment is the new render's, which says the file is
    // shared, wherever Pulumi's key moved it; the person's comment and keys stay.
    for (name, text) in [
        ("Pulumi.dev.yaml", stack.clone()),
        (
            "Pulumi.prod.yaml",
            read(&foundation.join("Pulumi.prod.yaml")),
        ),
    ] {
        assert!(!text.contains(OLD_HEADER), "{name}: {text}");
        assert!(
            text.contains(
                "# Shared with Pulumi: strata owns the `acme-foundation:` keys and `aws:region`"
            ),
            "{name}: {text}"
        );
    }
    let fresh_header: String = {
        let dir = assert_fs::TempDir::new().unwrap();
        let (fresh_foundation, _) = fresh(dir.path());
        read(&fresh_foundation.join("Pulumi.dev.yaml"))
            .split_inclusive('\n')
            .take_while(|line| line.starts_with('#'))
            .collect()
    };
    assert!(
        stack.starts_with(&format!("{SALT}{fresh_header}{NOTE}config:\n")),
        "{stack}"
    );
    let apps = read(&gitops.join("apps/dev/kustomization.yaml"));
    assert!(apps.contains("  - monitoring.yaml\n"), "{apps}");
    // The platform services stay off: the old answers had none.
    assert!(!gitops.join("platform").exists());
    assert!(
        stack.contains("    monitoring: false\n    logging: false\n"),
        "{stack}"
    );
    // What the new templates dropped is gone: the AppProjects moved into the foundation.
    assert!(!gitops.join("apps/dev/appproject.yaml").exists());
    assert!(!apps.contains("appproject.yaml"));

    // Every file nobody edited equals a fresh `strata new` of this strata.
    let new = assert_fs::TempDir::new().unwrap();
    fresh(new.path());
    let edited = [
        "acme-gitops/services/api/overlays/dev/kustomization.yaml",
        "acme-gitops/services/api/base/deployment.yaml",
        "acme-foundation/Pulumi.dev.yaml",
        "acme-gitops/apps/dev/kustomization.yaml",
        "acme-gitops/apps/dev/monitoring.yaml",
        "acme-foundation/strata.toml",
        "acme-gitops/strata.toml",
        "acme-foundation/strata.lock",
        "acme-gitops/strata.lock",
        // strata 0.1.0 recorded no state backend: Pulumi.yaml keeps naming none (checked below),
        // and the CI workflows log in the way Pulumi.yaml and the environment say.
        "acme-foundation/Pulumi.yaml",
        "acme-foundation/.github/workflows/pull-request.yml",
        "acme-foundation/.github/workflows/deploy.yml",
    ];
    for workflow in ["pull-request.yml", "deploy.yml"] {
        let text = read(&foundation.join(".github/workflows").join(workflow));
        assert!(
            text.contains("PULUMI_BACKEND_URL: ${{ vars.PULUMI_BACKEND_URL }}")
                && !text.contains("cloud-url:"),
            "{workflow} of a workspace without a recorded backend:\n{text}"
        );
    }
    let upgraded = snapshot(old.path());
    let fresh = snapshot(new.path());
    for (path, bytes) in &fresh {
        if edited.contains(&path.as_str()) {
            continue;
        }
        let Some(ours) = upgraded.get(path) else {
            panic!("{path} is missing after the upgrade");
        };
        assert!(
            ours == bytes,
            "{path} differs from a fresh workspace:\n{}",
            String::from_utf8_lossy(ours)
        );
    }
    for path in upgraded.keys() {
        assert!(
            fresh.contains_key(path) || edited.contains(&path.as_str()),
            "{path} is left over after the upgrade"
        );
    }
    let project = String::from_utf8_lossy(&upgraded["acme-foundation/Pulumi.yaml"]).to_string();
    assert!(!project.contains("backend:"), "{project}");
    // The answers are those of a fresh workspace, but for their history and the backend the
    // old workspace never chose.
    let mut fresh_answers: toml::Table = toml::from_str(&crate::common::without_history(
        &fresh["acme-gitops/strata.toml"],
    ))
    .unwrap();
    fresh_answers.remove("state");
    assert_eq!(
        crate::common::without_history(&upgraded["acme-gitops/strata.toml"]),
        toml::to_string(&fresh_answers).unwrap()
    );

    // A second upgrade changes nothing.
    let commits = (commit_count(&foundation), commit_count(&gitops));
    let after = snapshot(old.path());
    strata()
        .args(["upgrade", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    assert_same(&snapshot(old.path()), &after, "a second upgrade");
    assert_eq!((commit_count(&foundation), commit_count(&gitops)), commits);
}

#[test]
fn a_key_changed_on_both_sides_is_a_conflict_and_force_lets_the_template_win_there_only() {
    let old = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = old_workspace(old.path());
    let ingress = gitops.join("services/web/base/ingress.yaml");
    // strata 0.1.0 set the scheme on each Ingress; this strata moved it to the IngressClass.
    edit(
        &ingress,
        "alb.ingress.kubernetes.io/scheme: internet-facing",
        "alb.ingress.kubernetes.io/scheme: internal",
    );
    edit(
        &ingress,
        "    app.kubernetes.io/part-of: acme\n",
        "    app.kubernetes.io/part-of: acme\n    team: web\n",
    );
    git(&gitops, &["commit", "-qam", "an internal web"]);
    let before = snapshot(old.path());
    strata()
        .args(["upgrade", "-C"])
        .arg(&foundation)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "services/web/base/ingress.yaml` was changed here and in the template: Ingress/web: metadata.annotations.alb.ingress.kubernetes.io/scheme",
        ));
    assert_same(&snapshot(old.path()), &before, "a refused upgrade");

    strata()
        .args(["upgrade", "--force", "--commit", "-C"])
        .arg(&foundation)
        .assert()
        .success();
    let text = read(&ingress);
    let value: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert!(value["metadata"]["annotations"]
        .get("alb.ingress.kubernetes.io/scheme")
        .is_none());
    assert_eq!(value["metadata"]["labels"]["team"], "web", "{text}");
}

#[test]
fn a_workspace_of_a_newer_strata_is_refused() {
    let old = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = old_workspace(old.path());
    for repo in [&foundation, &gitops] {
        edit(
            &repo.join("strata.toml"),
            "strata_version = \"0.1.0\"",
            "strata_version = \"99.0.0\"",
        );
    }
    strata()
        .args(["upgrade", "-C"])
        .arg(&gitops)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("newer than this strata"));
}

#[test]
fn an_upgrade_after_a_service_was_taken_out_of_strata_toml_by_hand_is_refused() {
    // break-report F6: the upgrade deleted the service's base and Applications and kept its
    // overlays, which then pointed at a base that was gone (exit 0).
    let test = crate::common::Test::new().services("api,web").create();
    for repo in [&test.foundation, &test.gitops] {
        let path = repo.join("strata.toml");
        let text = read(&path);
        let start = text.find("[services.web]").expect("web's entry");
        let end = text.find("[settings]").expect("the settings after it");
        fs_err::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
        git(repo, &["commit", "-qam", "drop web by hand"]);
    }
    let before = snapshot(test.path());
    strata()
        .args(["upgrade", "-C"])
        .arg(&test.gitops)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "service `web`: `strata.toml` no longer has it",
        ))
        .stderr(predicates::str::contains("`strata remove service web`"));
    assert_eq!(snapshot(test.path()), before, "nothing was written");
}
