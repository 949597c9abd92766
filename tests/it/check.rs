//! `strata check` (issue 11): every rule, each planted once in a fresh workspace (exit 1 and
//! that finding named), the clean case (exit 0), any gitops repo, stack exports, bad input.

use fs_err as fs;
use std::path::{Path, PathBuf};

use crate::common::{new_workspace, strata};
use assert_fs::TempDir;
use serde_json::Value;

const V4: &str = "tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v4.json";
const V3: &str = "tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v3.json";

fn fresh() -> (TempDir, PathBuf, PathBuf) {
    let tmp = TempDir::new().unwrap();
    let (foundation, gitops) =
        new_workspace(tmp.path(), &["--envs", "dev,prod", "--services", "api,web"]);
    (tmp, foundation, gitops)
}

/// Runs `strata check --json` with `args`; returns the exit code and the findings.
fn check(args: &[&str]) -> (i32, Vec<Value>) {
    let output = strata()
        .arg("check")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "not JSON ({err}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    // The report is the envelope's result (docs/json.md).
    let report = json["result"].clone();
    assert_eq!(
        report["holds"],
        Value::Bool(
            !report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["severity"] == "error")
        )
    );
    (
        output.status.code().unwrap(),
        report["findings"].as_array().unwrap().clone(),
    )
}

fn check_workspace(gitops: &Path) -> (i32, Vec<Value>) {
    check(&["-C", gitops.to_str().unwrap()])
}

#[track_caller]
fn assert_finding(findings: &[Value], rule: &str, what: &str) -> Value {
    findings
        .iter()
        .find(|f| f["rule"] == rule && f.to_string().contains(what))
        .cloned()
        .unwrap_or_else(|| panic!("no `{rule}` finding about `{what}` in {findings:#?}"))
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "`{from}` not in {}", path.display());
    fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_fresh_workspace_holds_the_rule_and_exits_0() {
    let (_tmp, foundation, gitops) = fresh();
    for dir in [&foundation, &gitops] {
        let (code, findings) = check_workspace(dir);
        assert_eq!(code, 0, "{findings:#?}");
    }
    // The text form fits a CI log: one summary line.
    strata()
        .args(["check", "-C"])
        .arg(&gitops)
        .assert()
        .success()
        .stdout(predicates::str::contains("strata check: the rule holds"));
    // strata's own gitops repo, checked as any gitops repo, holds no infrastructure.
    let (code, findings) = check(&["--gitops", gitops.to_str().unwrap()]);
    assert_eq!(code, 0, "{findings:#?}");
}

#[test]
fn an_edited_owned_file_is_drift() {
    let (_tmp, _, gitops) = fresh();
    edit(
        &gitops.join("services/api/base/deployment.yaml"),
        "revisionHistoryLimit: 5",
        "revisionHistoryLimit: 9",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    let finding = assert_finding(
        &findings,
        "drift.owned-file",
        "services/api/base/deployment.yaml",
    );
    assert!(finding["fix"].as_str().unwrap().contains("git -C"));
}

#[test]
fn a_deleted_owned_file_is_drift_and_an_edited_seed_is_not() {
    let (_tmp, foundation, gitops) = fresh();
    fs::remove_file(foundation.join("cluster.py")).unwrap();
    edit(
        &gitops.join("services/api/overlays/dev/kustomization.yaml"),
        "ENVIRONMENT=dev",
        "ENVIRONMENT=dev-1",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(&findings, "drift.owned-file", "cluster.py");
    assert!(
        !findings
            .iter()
            .any(|f| f.to_string().contains("overlays/dev/kustomization.yaml")),
        "a seed is its owner's: {findings:#?}"
    );
}

#[test]
fn a_service_directory_strata_does_not_know_is_drift_of_the_answers() {
    let (_tmp, _, gitops) = fresh();
    write(
        &gitops.join("services/ghost/base/kustomization.yaml"),
        "resources: []\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(&findings, "drift.answers", "services/ghost/");
}

#[test]
fn an_application_pointing_nowhere_is_a_wiring_finding() {
    let (_tmp, _, gitops) = fresh();
    edit(
        &gitops.join("apps/dev/api.yaml"),
        "path: services/api/overlays/dev",
        "path: services/apii/overlays/dev",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    let finding = assert_finding(
        &findings,
        "wiring.application-path",
        "services/apii/overlays/dev",
    );
    assert_eq!(finding["file"], "apps/dev/api.yaml");
}

#[test]
fn a_service_left_out_of_its_app_of_apps_is_unreached() {
    let (_tmp, _, gitops) = fresh();
    edit(
        &gitops.join("apps/prod/kustomization.yaml"),
        "  - web.yaml\n",
        "",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(
        &findings,
        "wiring.unreached",
        "service `web` is not reached in `prod`",
    );
}

#[test]
fn an_overlay_no_application_deploys_is_an_orphan() {
    let (_tmp, _, gitops) = fresh();
    write(
        &gitops.join("services/api/overlays/qa/kustomization.yaml"),
        "resources:\n  - ../../base\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(
        &findings,
        "wiring.orphan-overlay",
        "services/api/overlays/qa",
    );
}

#[test]
fn an_appproject_and_its_cluster_whitelist_in_the_gitops_repo_are_boundary_findings() {
    let (_tmp, _, gitops) = fresh();
    write(
        &gitops.join("apps/dev/project.yaml"),
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: dev\n  namespace: argocd\nspec:\n  clusterResourceWhitelist:\n    - group: '*'\n      kind: '*'\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    let project = assert_finding(&findings, "boundary.appproject", "AppProject `dev`");
    assert_eq!(project["row"], "platform-owned");
    let whitelist = assert_finding(
        &findings,
        "boundary.cluster-whitelist",
        "apps/dev/project.yaml",
    );
    assert_eq!(whitelist["line"], 7);
}

#[test]
fn a_cluster_scoped_object_in_the_gitops_repo_is_a_boundary_finding() {
    let (_tmp, _, gitops) = fresh();
    write(
        &gitops.join("platform/storage.yaml"),
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: fast\nprovisioner: ebs.csi.aws.com\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    let finding = assert_finding(&findings, "boundary.cluster-scoped", "StorageClass `fast`");
    assert_eq!(finding["row"], "cluster-scoped");
    assert_eq!(finding["file"], "platform/storage.yaml");
}

#[test]
fn a_quota_in_the_gitops_repo_is_a_platform_object() {
    let (_tmp, _, gitops) = fresh();
    write(
        &gitops.join("platform/quota.yaml"),
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: more\n  namespace: dev\nspec:\n  hard:\n    pods: \"1000\"\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(
        &findings,
        "boundary.platform-object",
        "ResourceQuota `more`",
    );
}

#[test]
fn an_application_outside_its_environments_project_or_namespace_is_a_boundary_finding() {
    let (_tmp, _, gitops) = fresh();
    edit(
        &gitops.join("apps/dev/api.yaml"),
        "project: dev",
        "project: default",
    );
    edit(
        &gitops.join("apps/prod/web.yaml"),
        "namespace: prod",
        "namespace: kube-system",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    assert_finding(
        &findings,
        "boundary.application-project",
        "uses project `default`",
    );
    assert_finding(
        &findings,
        "boundary.application-destination",
        "namespace `kube-system`",
    );
}

#[test]
fn an_application_deploying_a_platform_kind_is_a_layer_finding() {
    let (_tmp, _, gitops) = fresh();
    let overlay = gitops.join("services/api/overlays/dev");
    write(
        &overlay.join("role.yaml"),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: api-reads-nodes\nrules: []\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: api-scratch\n",
    );
    edit(
        &overlay.join("kustomization.yaml"),
        "  - networkpolicy.yaml\n",
        "  - networkpolicy.yaml\n  - role.yaml\n",
    );
    let (code, findings) = check_workspace(&gitops);
    assert_eq!(code, 1);
    let role = assert_finding(
        &findings,
        "layer.platform-kind",
        "ClusterRole `api-reads-nodes`",
    );
    assert_eq!(role["file"], "services/api/overlays/dev/role.yaml");
    assert!(
        role["message"].as_str().unwrap().contains("api-dev"),
        "names the Application: {role}"
    );
    let namespace = assert_finding(&findings, "layer.platform-kind", "Namespace `api-scratch`");
    assert_eq!(namespace["line"], 7);
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "boundary.cluster-scoped"),
        "one finding per object: {findings:#?}"
    );
}

#[test]
fn auto_mode_node_pools_and_node_classes_in_a_gitops_repo_are_findings() {
    // Issue 22: EKS Auto Mode's NodeClass and its Karpenter NodePool are infrastructure, made by
    // the foundation; in the gitops repo each is a finding.
    let tmp = TempDir::new().unwrap();
    let repo = tmp.path();
    write(
        &repo.join("nodes/pool.yaml"),
        "apiVersion: eks.amazonaws.com/v1\nkind: NodeClass\nmetadata:\n  name: private\nspec:\n  role: AmazonEKSAutoNodeRole\n---\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: batch\nspec:\n  template:\n    spec:\n      nodeClassRef:\n        group: eks.amazonaws.com\n        kind: NodeClass\n        name: private\n",
    );
    let (code, findings) = check(&["--gitops", repo.to_str().unwrap()]);
    assert_eq!(code, 1);
    for (kind, name) in [("NodeClass", "private"), ("NodePool", "batch")] {
        let finding = findings
            .iter()
            .find(|f| f["rule"] == "gitops.infrastructure" && f["kind"] == kind)
            .unwrap_or_else(|| panic!("no finding for {kind}: {findings:#?}"));
        assert_eq!(finding["name"], name);
        assert_eq!(finding["file"], "nodes/pool.yaml");
    }
    // Without them the same repository has no finding.
    fs_err::remove_file(repo.join("nodes/pool.yaml")).unwrap();
    write(
        &repo.join("nodes/config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\n",
    );
    let (code, findings) = check(&["--gitops", repo.to_str().unwrap()]);
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "gitops.infrastructure"),
        "{findings:#?}"
    );
    assert_eq!(code, 0, "{findings:#?}");
}

#[test]
fn any_gitops_repo_is_searched_for_infrastructure_in_yaml_kustomize_and_helm_templates() {
    let tmp = TempDir::new().unwrap();
    let repo = tmp.path();
    write(
        &repo.join("clusters/prod/cluster.yaml"),
        "apiVersion: eksctl.io/v1alpha5\nkind: ClusterConfig\nmetadata:\n  name: prod\n  region: eu-west-1\n",
    );
    write(
        &repo.join("charts/nodes/templates/nodepool.yaml"),
        "{{- if .Values.enabled }}\napiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: {{ .Release.Name }}-general\nspec:\n  template:\n    spec:\n      nodeClassRef:\n        name: default\n{{- end }}\n---\napiVersion: karpenter.k8s.aws/v1\nkind: EC2NodeClass\nmetadata:\n  name: default\n",
    );
    write(
        &repo.join("charts/nodes/Chart.yaml"),
        "apiVersion: v2\nname: nodes\nversion: 0.1.0\n",
    );
    write(
        &repo.join("infra/kustomization.yaml"),
        "resources:\n  - bucket.yaml\n  - crd.yaml\n",
    );
    write(
        &repo.join("infra/bucket.yaml"),
        "apiVersion: s3.aws.upbound.io/v1beta1\nkind: Bucket\nmetadata:\n  name: assets\n",
    );
    write(
        &repo.join("infra/crd.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.acme.io\n",
    );
    write(
        &repo.join("legacy/provisioner.json"),
        r#"{"apiVersion":"karpenter.sh/v1alpha5","kind":"Provisioner","metadata":{"name":"old"}}"#,
    );
    write(
        &repo.join("legacy/template.yaml"),
        "apiVersion: karpenter.k8s.aws/v1alpha1\nkind: AWSNodeTemplate\nmetadata:\n  name: old\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin-ish\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    );
    write(
        &repo.join("apps/web/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n",
    );
    let (code, findings) = check(&["--gitops", repo.to_str().unwrap()]);
    assert_eq!(code, 1);
    for (kind, name, file) in [
        ("ClusterConfig", "prod", "clusters/prod/cluster.yaml"),
        (
            "NodePool",
            "{{ .Release.Name }}-general",
            "charts/nodes/templates/nodepool.yaml",
        ),
        (
            "EC2NodeClass",
            "default",
            "charts/nodes/templates/nodepool.yaml",
        ),
        ("Bucket", "assets", "infra/bucket.yaml"),
        (
            "CustomResourceDefinition",
            "widgets.acme.io",
            "infra/crd.yaml",
        ),
        ("Provisioner", "old", "legacy/provisioner.json"),
        ("AWSNodeTemplate", "old", "legacy/template.yaml"),
        ("ClusterRole", "admin-ish", "legacy/template.yaml"),
        ("Namespace", "team-a", "legacy/template.yaml"),
    ] {
        let finding = findings
            .iter()
            .find(|f| {
                f["rule"] == "gitops.infrastructure" && f["kind"] == kind && f["name"] == name
            })
            .unwrap_or_else(|| panic!("no finding for {kind} `{name}`: {findings:#?}"));
        assert_eq!(finding["file"], file);
        assert!(finding["line"].as_u64().unwrap() >= 1);
        assert!(!finding["fix"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        findings.len(),
        9,
        "the Deployment is the application's: {findings:#?}"
    );
}

#[test]
fn a_stack_export_lists_the_applications_in_pulumi_state_with_their_urns_and_not_the_platform() {
    for (export, suffix) in [(V4, "f90166b0"), (V3, "78f2fbc4")] {
        let (code, findings) = check(&["--stack-export", export]);
        assert_eq!(code, 1);
        let urns: Vec<&str> = findings
            .iter()
            .map(|f| f["urn"].as_str().unwrap())
            .collect();
        assert_eq!(urns.len(), 2, "{findings:#?}");
        assert!(urns
            .iter()
            .any(|u| u.ends_with("kubernetes:apps/v1:Deployment::nginx")));
        assert!(urns
            .iter()
            .any(|u| u.ends_with("kubernetes:core/v1:Secret::db-password")));
        let secret = assert_finding(
            &findings,
            "state.application",
            &format!("db-password-{suffix}"),
        );
        assert_eq!(secret["row"], "application-specific");
        assert!(secret["fix"].as_str().unwrap().contains("strata migrate"));
        // The cluster's own auth ConfigMap (aws-auth, pulumi-eks' nodeAccess) is the platform's.
        assert!(
            !findings.iter().any(|f| f.to_string().contains("aws-auth")),
            "{findings:#?}"
        );
    }
}

#[test]
fn helm_children_platform_namespaces_and_fences_in_state_are_not_flagged() {
    let (code, findings) = check(&[
        "--stack-export",
        "tests/data/stack-exports/constructed-shop-adopt-in-place-k8s-v3.json",
    ]);
    assert_eq!(code, 1);
    let names: Vec<String> = findings
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f["kind"].as_str().unwrap(),
                f["name"].as_str().unwrap()
            )
        })
        .collect();
    for platform in [
        "cluster-shared-config",
        "Deployment/metrics",
        "Namespace/",
        "ResourceQuota/",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(platform)),
            "{platform} flagged: {names:?}"
        );
    }
    assert!(
        names.contains(&"CronJob/shop-report".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"Deployment/shop".to_string()), "{names:?}");
}

#[test]
fn every_source_is_checked_in_one_run() {
    let (_tmp, _, gitops) = fresh();
    let other = TempDir::new().unwrap();
    write(
        &other.path().join("ns.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
    );
    let (code, findings) = check(&[
        "-C",
        gitops.to_str().unwrap(),
        "--gitops",
        other.path().to_str().unwrap(),
        "--stack-export",
        V4,
    ]);
    assert_eq!(code, 1);
    let rules: std::collections::BTreeSet<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules.into_iter().collect::<Vec<_>>(),
        ["gitops.infrastructure", "state.application"]
    );
}

#[test]
fn bad_input_exits_2_and_names_every_problem() {
    let tmp = TempDir::new().unwrap();
    let not_json = tmp.path().join("export.json");
    fs::write(&not_json, "{nope").unwrap();
    let old = tmp.path().join("old.json");
    fs::write(&old, r#"{"version": 2, "deployment": {}}"#).unwrap();
    let output = strata()
        .args(["check", "--gitops", "/nonexistent/repo", "--stack-export"])
        .arg(&not_json)
        .arg("--stack-export")
        .arg(&old)
        .arg("--stack-export")
        .arg(tmp.path().join("missing.json"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for what in [
        "is not a directory",
        "not JSON",
        "deployment format 2",
        "cannot be read",
    ] {
        assert!(stderr.contains(what), "`{what}` missing from:\n{stderr}");
    }
    strata()
        .args(["check", "-C"])
        .arg(tmp.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("strata.lock"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    /// Issue 11: whatever a manifest or an export holds, reading it never panics.
    #[test]
    fn reading_any_manifest_or_export_never_panics(text in "(apiVersion: v1\nkind: [A-Za-z]{0,12}\nmetadata:\n  name: [a-z{} .]{0,10}\n|---\n|[{}\\[\\]\"':# -]|[a-z]{1,8}|\n){0,40}") {
        let _ = strata::manifest_objects("f.yaml", &text, true);
        let _ = strata::StackExport::parse(text.as_bytes(), "f.json");
        let export = format!(r#"{{"version":3,"deployment":{{"resources":[{{"urn":"urn:pulumi:s::p::kubernetes:apps/v1:Deployment::x","type":"kubernetes:apps/v1:Deployment","custom":true,"id":"ns/x","inputs":{{"spec":{}}}}}]}}}}"#, serde_json::to_string(&text).unwrap());
        let parsed = strata::StackExport::parse(export.as_bytes(), "f.json").unwrap();
        let _ = strata::check_stack_export(&parsed, &strata::CheckSource::StackExport { file: "f".into() });
    }
}
