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
