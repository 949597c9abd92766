//! Template overrides: an organisation's templates replace strata's by path, in every command.

use std::path::Path;

use crate::common::{new_workspace, strata};

const DEPLOYMENT: &str = "services/__service__/base/deployment.yaml.tera";

fn embedded(path: &str) -> String {
    fs_err::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/gitops")
            .join(path),
    )
    .unwrap()
}

/// The embedded Deployment template with one more label.
fn with_label(label: &str) -> String {
    let text = embedded(DEPLOYMENT);
    let anchor = "    app.kubernetes.io/part-of: {{ project }}\n";
    assert!(text.contains(anchor));
    text.replacen(anchor, &format!("{anchor}    {label}\n"), 1)
}

#[test]
fn overrides_render_in_new_add_and_upgrade() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let templates = tmp.path().join("org-templates");
    fs_err::create_dir_all(templates.join("gitops/services/__service__/base")).unwrap();
    fs_err::write(
        templates.join("gitops").join(DEPLOYMENT),
        with_label("cost-center: platform"),
    )
    .unwrap();
    let out = tmp.path().join("ws");
    fs_err::create_dir_all(&out).unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--envs", "dev", "--services", "api", "--templates"])
        .arg(&templates)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let gitops = out.join("acme-gitops");
    let api = fs_err::read_to_string(gitops.join("services/api/base/deployment.yaml")).unwrap();
    assert!(api.contains("    cost-center: platform\n"), "{api}");
    assert!(gitops.join(".strata/templates").join(DEPLOYMENT).is_file());
    let answers = fs_err::read_to_string(gitops.join("strata.toml")).unwrap();
    assert!(
        answers.contains(&format!("templates = [\"gitops/{DEPLOYMENT}\"]")),
        "{answers}"
    );

    strata()
        .args(["add", "service", "web", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    let web = fs_err::read_to_string(gitops.join("services/web/base/deployment.yaml")).unwrap();
    assert!(web.contains("    cost-center: platform\n"));

    // The organisation changes its template: `upgrade` carries every service to it.
    fs_err::write(
        gitops.join(".strata/templates").join(DEPLOYMENT),
        with_label("cost-center: payments"),
    )
    .unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-C"])
            .arg(&gitops)
            .args(args)
            .status()
            .unwrap();
        assert!(status.success());
    };
    git(&["commit", "-qam", "our new label"]);
    strata()
        .args(["upgrade", "--commit", "-C"])
        .arg(&gitops)
        .assert()
        .success();
    for service in ["api", "web"] {
        let text =
            fs_err::read_to_string(gitops.join(format!("services/{service}/base/deployment.yaml")))
                .unwrap();
        assert!(
            text.contains("    cost-center: payments\n"),
            "{service}: {text}"
        );
    }
}

#[test]
fn an_override_of_no_template_is_refused_with_nothing_written() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let templates = tmp.path().join("t");
    fs_err::create_dir_all(templates.join("gitops/services")).unwrap();
    fs_err::write(templates.join("gitops/services/nothing.yaml.tera"), "x").unwrap();
    let out = tmp.path().join("ws");
    fs_err::create_dir_all(&out).unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--templates"])
        .arg(&templates)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "gitops/services/nothing.yaml.tera",
        ))
        .stderr(predicates::str::contains("replaces no template"));
    assert_eq!(fs_err::read_dir(&out).unwrap().count(), 0);
    let (_, gitops) = new_workspace(&tmp.path().join("plain"), &["--envs", "dev"]);
    fs_err::create_dir_all(gitops.join(".strata/templates")).unwrap();
    fs_err::write(gitops.join(".strata/templates/typo.yaml.tera"), "x").unwrap();
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&gitops)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            ".strata/templates/typo.yaml.tera",
        ));
}

/// Issue 20: an application team's override in the gitops repo of a platform path
/// (`CODEOWNERS`, the workflows, the Applications) is refused, naming each, with nothing
/// written; kept in the foundation, the platform team's repo, the same override is used, and
/// named before anything is written.
#[test]
fn gitops_overrides_of_platform_paths_are_refused_unless_the_foundation_keeps_them() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let (foundation, gitops) = new_workspace(tmp.path(), &["--envs", "dev"]);
    let codeowners = fs_err::read_to_string(gitops.join("CODEOWNERS")).unwrap();
    assert!(
        codeowners.contains("/.strata/       @acme/platform-team"),
        "{codeowners}"
    );
    let app = "apps/__env__/__service__.yaml.tera";
    let hostile = embedded(app).replace("project: {{ env.name }}", "project: platform");
    assert!(hostile.contains("project: platform"));
    let overrides = gitops.join(".strata/templates");
    for (path, text) in [
        ("CODEOWNERS.tera", "* @acme/app-teams\n".to_string()),
        (
            ".github/workflows/validate.yml.tera",
            "name: nothing\n".to_string(),
        ),
        (app, hostile.clone()),
    ] {
        let file = overrides.join(path);
        fs_err::create_dir_all(file.parent().unwrap()).unwrap();
        fs_err::write(file, text).unwrap();
    }
    let before = crate::common::snapshot(&gitops);
    for args in [&["add", "service", "web"][..], &["upgrade"][..]] {
        let output = strata().args(args).arg("-C").arg(&gitops).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for path in [
            "CODEOWNERS.tera",
            ".github/workflows/validate.yml.tera",
            app,
        ] {
            assert!(
                stderr.contains(&format!("template override `.strata/templates/{path}` (gitops): overrides a path of the platform team")),
                "{args:?} {path}: {stderr}"
            );
        }
    }
    assert_eq!(crate::common::snapshot(&gitops), before);

    // The platform team keeps the Application override in the foundation: it is used, and
    // named before writing.
    fs_err::remove_dir_all(&overrides).unwrap();
    let kept = foundation.join(".strata/templates/gitops").join(app);
    fs_err::create_dir_all(kept.parent().unwrap()).unwrap();
    let label = embedded(app).replacen("  labels:\n", "  labels:\n    reviewed-by: platform\n", 1);
    fs_err::write(&kept, label).unwrap();
    let output = strata()
        .args(["add", "service", "web", "-C"])
        .arg(&gitops)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("  - gitops `apps/dev/web.yaml`: from `foundation: .strata/templates/gitops/apps/__env__/__service__.yaml.tera`"),
        "{stderr}"
    );
    let web = fs_err::read_to_string(gitops.join("apps/dev/web.yaml")).unwrap();
    assert!(web.contains("reviewed-by: platform"), "{web}");
}

/// Issue 20: `new --templates` keeps a gitops override of a platform path in the foundation.
#[test]
fn new_keeps_gitops_overrides_of_platform_paths_in_the_foundation() {
    let tmp = assert_fs::TempDir::new().unwrap();
    let templates = tmp.path().join("t");
    fs_err::create_dir_all(templates.join("gitops")).unwrap();
    let codeowners = embedded("CODEOWNERS.tera") + "/docs/ @acme/writers\n";
    fs_err::write(templates.join("gitops/CODEOWNERS.tera"), &codeowners).unwrap();
    let out = tmp.path().join("ws");
    fs_err::create_dir_all(&out).unwrap();
    strata()
        .arg("new")
        .args(crate::common::known_values(&[]))
        .args(["acme", "--envs", "dev", "--templates"])
        .arg(&templates)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let gitops = out.join("acme-gitops");
    assert!(!gitops.join(".strata/templates/CODEOWNERS.tera").exists());
    assert!(out
        .join("acme-foundation/.strata/templates/gitops/CODEOWNERS.tera")
        .is_file());
    assert!(fs_err::read_to_string(gitops.join("CODEOWNERS"))
        .unwrap()
        .contains("/docs/ @acme/writers"));
    strata()
        .args(["add", "service", "api", "-C"])
        .arg(&gitops)
        .assert()
        .success();
}
