//! Issue 20: the boundary holds through `strata check` itself. Each test is a bypass that
//! passed today's `check` as "the rule holds": manifests written in YAML forms a line scanner
//! misses, infrastructure delivered through a chart or a remote base, cluster-scoped kinds it
//! did not know, and inputs that are not regular files.

use std::path::Path;

use assert_fs::TempDir;
use fs_err as fs;
use serde_json::Value;

use crate::common::strata;

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

/// `strata check --gitops DIR --json`: the exit code, the findings and stderr.
fn check_gitops(dir: &Path) -> (i32, Vec<Value>, String) {
    check_json("--gitops", dir)
}

/// `strata check -C DIR --json` (a whole workspace): the exit code, the findings and stderr.
fn check_workspace(dir: &Path) -> (i32, Vec<Value>, String) {
    check_json("-C", dir)
}

fn check_json(target: &str, dir: &Path) -> (i32, Vec<Value>, String) {
    let output = strata()
        .args(["check", "--json", target])
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let findings = serde_json::from_slice::<Value>(&output.stdout)
        .ok()
        .and_then(|report| report["result"]["findings"].as_array().cloned())
        .unwrap_or_default();
    (output.status.code().unwrap(), findings, stderr)
}

#[track_caller]
fn find<'a>(findings: &'a [Value], rule: &str, what: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["rule"] == rule && f.to_string().contains(what))
        .unwrap_or_else(|| panic!("no `{rule}` finding about `{what}` in {findings:#?}"))
}

fn utf16le(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        out.extend(unit.to_le_bytes());
    }
    out
}

#[test]
fn a_cluster_role_is_found_in_every_yaml_form_kustomize_builds() {
    let tmp = TempDir::new().unwrap();
    let forms: &[(&str, &[u8])] = &[
        ("bom.yaml", b"\xEF\xBB\xBFapiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: bom\n"),
        ("folded.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\nkind: >-\n  ClusterRole\nmetadata:\n  name: folded\n"),
        ("quoted.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\n'kind': ClusterRole\nmetadata:\n  name: quoted\n"),
        ("tagged.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\nkind: !!str ClusterRole\nmetadata:\n  name: tagged\n"),
        ("merged.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\n<<: {kind: ClusterRole}\nmetadata:\n  name: merged\n"),
        ("alias.yaml", b"x: &k ClusterRole\napiVersion: rbac.authorization.k8s.io/v1\nkind: *k\nmetadata:\n  name: alias\n"),
        ("next-line.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\nkind:\n  ClusterRole\nmetadata:\n  name: next-line\n"),
        ("flow.yaml", b"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: flow}\n"),
        ("multi.yaml", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n--- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: multi}}\n"),
        ("list.yaml", b"apiVersion: v1\nkind: List\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata:\n    name: listed\n"),
    ];
    for (file, bytes) in forms {
        write(&tmp.path().join("base").join(file), bytes);
    }
    write(
        &tmp.path().join("base/utf16.yaml"),
        &utf16le("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: utf16\n"),
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    for name in [
        "bom",
        "folded",
        "quoted",
        "tagged",
        "merged",
        "alias",
        "next-line",
        "flow",
        "multi",
        "listed",
        "utf16",
    ] {
        let finding = findings
            .iter()
            .find(|f| f["kind"] == "ClusterRole" && f["name"] == name)
            .unwrap_or_else(|| panic!("ClusterRole `{name}` not found: {findings:#?}"));
        assert_eq!(finding["rule"], "gitops.infrastructure");
    }
}

#[test]
fn a_file_check_cannot_read_is_a_finding_that_says_why() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("bad.yaml"),
        b"kind: ClusterRole\n  metadata: [\n",
    );
    write(
        &tmp.path().join("binary.yaml"),
        b"\xC3\x28kind: ClusterRole\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    let bad = find(&findings, "manifest.unreadable", "bad.yaml");
    assert!(
        bad["message"].as_str().unwrap().contains("not YAML"),
        "{bad}"
    );
    find(&findings, "manifest.unreadable", "binary.yaml");
}

#[test]
fn an_applicationset_installing_karpenter_through_its_generators_is_infrastructure() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("bootstrap/addons.yaml"),
        br#"apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: addons-karpenter
  namespace: argocd
spec:
  goTemplate: true
  generators:
    - merge:
        generators:
          - clusters:
              values:
                addonChart: karpenter
                addonChartRepository: public.ecr.aws/karpenter
  template:
    metadata:
      name: 'addon-{{.name}}-{{.values.addonChart}}'
    spec:
      project: default
      source:
        repoURL: '{{.values.addonChartRepository}}'
        chart: '{{.values.addonChart}}'
        targetRevision: 1.14.1
      destination:
        namespace: kube-system
        name: '{{.name}}'
"#,
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    let finding = find(&findings, "delivery.infrastructure-chart", "karpenter");
    assert_eq!(finding["kind"], "ApplicationSet");
    assert_eq!(finding["row"], "foundational");
}

#[test]
fn a_flux_helm_release_of_cert_manager_and_an_application_of_the_alb_controller_are_infrastructure()
{
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("infrastructure/controllers/cert-manager.yaml"),
        b"apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: cert-manager\n  namespace: cert-manager\nspec:\n  interval: 12h\n  chart:\n    spec:\n      chart: cert-manager\n      version: 1.x\n      sourceRef:\n        kind: HelmRepository\n        name: jetstack\n",
    );
    write(
        &tmp.path().join("apps/alb.yaml"),
        b"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: alb\nspec:\n  project: default\n  source:\n    repoURL: https://aws.github.io/eks-charts\n    chart: aws-load-balancer-controller\n    targetRevision: 1.13.0\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: kube-system\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    assert_eq!(
        find(&findings, "delivery.infrastructure-chart", "cert-manager")["kind"],
        "HelmRelease"
    );
    assert_eq!(
        find(
            &findings,
            "delivery.infrastructure-chart",
            "aws-load-balancer-controller"
        )["kind"],
        "Application"
    );
}

#[test]
fn a_remote_argo_cd_install_base_is_a_finding_unless_allowed() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("argocd/kustomization.yaml"),
        b"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: argocd\nresources:\n  - https://raw.githubusercontent.com/argoproj/argo-cd/v3.2.0/manifests/install.yaml\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    find(&findings, "delivery.remote", "argoproj/argo-cd");
    write(
        &tmp.path().join("strata.toml"),
        b"[check]\nallowed_remotes = [\"https://raw.githubusercontent.com/argoproj/argo-cd/\"]\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 0, "{findings:#?}");
}

#[test]
fn cluster_scoped_kinds_are_judged_by_scope_gateway_class_kops_and_a_crd_of_the_repo() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("gateway.yaml"),
        b"apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\nmetadata:\n  name: public\nspec:\n  controllerName: example.com/gateway\n",
    );
    write(
        &tmp.path().join("kops/cluster.yaml"),
        b"apiVersion: kops.k8s.io/v1alpha2\nkind: Cluster\nmetadata:\n  name: prod.k8s.local\n---\napiVersion: kops.k8s.io/v1alpha2\nkind: InstanceGroup\nmetadata:\n  name: nodes\n",
    );
    write(
        &tmp.path().join("nodes/pool.yaml"),
        b"apiVersion: karpenter.sh/v1\nkind: NodeClaim\nmetadata:\n  name: claim\n---\napiVersion: eks.amazonaws.com/v1\nkind: NodeClass\nmetadata:\n  name: auto\n",
    );
    write(
        &tmp.path().join("crds/widgets.yaml"),
        b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: meshes.acme.io\nspec:\n  group: acme.io\n  scope: Cluster\n  names:\n    kind: Mesh\n",
    );
    write(
        &tmp.path().join("mesh.yaml"),
        b"apiVersion: acme.io/v1\nkind: Mesh\nmetadata:\n  name: global\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    for kind in [
        "GatewayClass",
        "Cluster",
        "InstanceGroup",
        "NodeClaim",
        "NodeClass",
        "Mesh",
    ] {
        assert!(
            findings
                .iter()
                .any(|f| f["rule"] == "gitops.infrastructure" && f["kind"] == kind),
            "no finding for {kind}: {findings:#?}"
        );
    }
}

#[test]
fn an_applications_own_namespace_in_its_chart_is_a_warning_not_infrastructure() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("charts/shop/Chart.yaml"),
        b"apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    );
    write(
        &tmp.path().join("charts/shop/templates/namespace.yaml"),
        b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ .Release.Namespace }}\n",
    );
    write(
        &tmp.path().join("charts/shop/templates/deployment.yaml"),
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 0, "a warning only: {findings:#?}");
    let warning = find(&findings, "delivery.own-namespace", "Namespace");
    assert_eq!(warning["severity"], "warning");
    // The same Namespace in a chart of the catalog is infrastructure.
    write(
        &tmp.path().join("charts/shop/Chart.yaml"),
        b"apiVersion: v2\nname: ingress-nginx\nversion: 0.1.0\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    find(&findings, "delivery.infrastructure-chart", "ingress-nginx");
    find(&findings, "gitops.infrastructure", "Namespace");
}

#[test]
fn the_catalog_is_extended_and_overridden_in_strata_toml() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("apps/x.yaml"),
        b"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: x\nspec:\n  source:\n    repoURL: https://charts.example.com\n    chart: our-operator\n---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: y\nspec:\n  source:\n    repoURL: https://charts.jetstack.io\n    chart: cert-manager\n",
    );
    write(
        &tmp.path().join("strata.toml"),
        b"[check]\napplication_charts = [\"cert-manager\"]\n\n[check.infrastructure_charts]\nour-operator = \"installs a cluster-wide webhook\"\n",
    );
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    find(&findings, "delivery.infrastructure-chart", "our-operator");
    assert!(
        !findings
            .iter()
            .any(|f| f.to_string().contains("cert-manager")),
        "{findings:#?}"
    );
}

#[test]
fn a_fifo_a_device_link_or_a_link_out_of_the_repo_is_refused_with_exit_2() {
    let tmp = TempDir::new().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo.join("ok.yaml"), b"kind: ConfigMap\napiVersion: v1\n");
    let made = std::process::Command::new("mkfifo")
        .arg(repo.join("pipe.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/dev/zero", repo.join("zero.yaml")).unwrap();
    write(&tmp.path().join("outside.yaml"), b"kind: ClusterRole\n");
    std::os::unix::fs::symlink(tmp.path().join("outside.yaml"), repo.join("out.yaml")).unwrap();
    let (code, _, stderr) = check_gitops(&repo);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`pipe.yaml`: is a FIFO"), "{stderr}");
    assert!(
        stderr.contains("`zero.yaml`: is a symbolic link out of the repo"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`out.yaml`: is a symbolic link out of the repo"),
        "{stderr}"
    );
}

#[test]
fn a_link_inside_the_repo_is_read_through() {
    let tmp = TempDir::new().unwrap();
    write(
        &tmp.path().join("real/role.yaml"),
        b"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: linked\n",
    );
    fs::create_dir_all(tmp.path().join("env")).unwrap();
    std::os::unix::fs::symlink("../real/role.yaml", tmp.path().join("env/role.yaml")).unwrap();
    let (code, findings, _) = check_gitops(tmp.path());
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["file"] == "env/role.yaml"),
        "{findings:#?}"
    );
}

const V4: &str = "tests/data/stack-exports/pulumi-eks-encryption-provider-k8s-v4.json";

/// `strata check --stack-export FILE --json`, stopped after 20 s (a FIFO must not hang it).
fn check_export(file: &Path) -> (i32, Vec<Value>, String) {
    let output = strata()
        .args(["check", "--json", "--stack-export"])
        .arg(file)
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    let findings = serde_json::from_slice::<Value>(&output.stdout)
        .ok()
        .and_then(|report| report["result"]["findings"].as_array().cloned())
        .unwrap_or_default();
    (
        output.status.code().unwrap_or(-1),
        findings,
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn a_stack_name_with_a_command_substitution_is_refused_before_it_reaches_a_shell() {
    let tmp = TempDir::new().unwrap();
    let text = fs::read_to_string(V4)
        .unwrap()
        .replace("urn:pulumi:test::", "urn:pulumi:dev$(id)::");
    let export = tmp.path().join("export.json");
    write(&export, text.as_bytes());
    let (code, _, stderr) = check_export(&export);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr
            .contains("names the stack `dev$(id)`, which has characters outside `[A-Za-z0-9._-]`"),
        "{stderr}"
    );
}

#[test]
fn dev_zero_a_link_to_it_and_a_fifo_are_refused_as_exports_with_exit_2() {
    let tmp = TempDir::new().unwrap();
    let link = tmp.path().join("export.json");
    std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
    let fifo = tmp.path().join("fifo.json");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (file, says) in [
        (Path::new("/dev/zero"), "is a device, not a regular file"),
        (link.as_path(), "is a device, not a regular file"),
        (fifo.as_path(), "is a FIFO, not a regular file"),
    ] {
        let (code, _, stderr) = check_export(file);
        assert_eq!(code, 2, "{}: {stderr}", file.display());
        assert!(stderr.contains(says), "{}: {stderr}", file.display());
    }
}

#[test]
fn an_applications_helm_release_in_pulumi_state_is_told_from_an_add_on_by_the_catalog() {
    let tmp = TempDir::new().unwrap();
    let release = |name: &str, chart: &str| {
        serde_json::json!({
            "urn": format!("urn:pulumi:dev::shop::kubernetes:helm.sh/v3:Release::{name}"),
            "type": "kubernetes:helm.sh/v3:Release",
            "custom": true,
            "id": format!("default/{name}"),
            "inputs": {"chart": chart, "repositoryOpts": {"repo": "https://charts.example.com"}},
        })
    };
    let export = serde_json::json!({"version": 3, "deployment": {"resources": [
        {"urn": "urn:pulumi:dev::shop::pulumi:pulumi:Stack::shop-dev", "type": "pulumi:pulumi:Stack", "custom": false},
        release("blog", "wordpress"),
        release("nodes", "oci://public.ecr.aws/karpenter/karpenter"),
    ]}});
    let file = tmp.path().join("export.json");
    write(&file, export.to_string().as_bytes());
    let (code, findings, stderr) = check_export(&file);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = find(&findings, "state.application", "wordpress");
    assert!(finding["urn"].as_str().unwrap().ends_with("Release::blog"));
}

#[test]
fn a_workspace_check_follows_what_its_applications_deliver() {
    let tmp = TempDir::new().unwrap();
    let (_, gitops) =
        crate::common::new_workspace(tmp.path(), &["--envs", "dev", "--services", "api"]);
    // An Application of a Karpenter chart slipped into an environment's app-of-apps directory.
    write(
        &gitops.join("apps/dev/nodes.yaml"),
        b"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: nodes\n  namespace: argocd\nspec:\n  project: dev\n  source:\n    repoURL: public.ecr.aws/karpenter\n    chart: karpenter\n    targetRevision: 1.14.1\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: dev\n",
    );
    let (code, findings, _) = check_workspace(&gitops);
    assert_eq!(code, 1, "{findings:#?}");
    find(&findings, "delivery.infrastructure-chart", "karpenter");
}

#[test]
fn a_service_running_as_another_services_account_is_a_finding() {
    let ws = crate::common::Test::new().services("api,web").create();
    let patch = ws
        .gitops
        .join("services/web/overlays/dev/patch-identity.yaml");
    write(
        &patch,
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      serviceAccountName: api\n",
    );
    let reader = ws
        .gitops
        .join("services/api/overlays/dev/patch-reader.yaml");
    write(
        &reader,
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      serviceAccountName: aws-secrets-reader\n",
    );
    let (code, findings, _) = check_workspace(&ws.gitops);
    assert_eq!(code, 1, "{findings:#?}");
    find(&findings, "boundary.borrowed-identity", "service `api`'s");
    find(
        &findings,
        "boundary.borrowed-identity",
        "reads every service's secrets",
    );
}

#[test]
fn an_application_in_a_services_tree_is_a_finding() {
    let ws = crate::common::Test::new().services("api").create();
    write(
        &ws.gitops.join("services/api/base/escape.yaml"),
        b"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: escape\n  namespace: argocd\nspec:\n  project: default\n  destination:\n    server: https://kubernetes.default.svc\n    namespace: kube-system\n  source:\n    repoURL: https://example.com/other.git\n    path: .\n",
    );
    let (code, findings, _) = check_workspace(&ws.gitops);
    assert_eq!(code, 1, "{findings:#?}");
    find(
        &findings,
        "boundary.delivery-in-service",
        "Application `escape` is in service `api`'s tree",
    );
}

#[test]
fn a_service_pod_that_reaches_its_node_is_a_finding() {
    let ws = crate::common::Test::new().services("api").create();
    write(
        &ws.gitops.join("services/api/overlays/dev/patch-host.yaml"),
        b"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      hostPID: true\n      volumes:\n        - name: docker\n          hostPath:\n            path: /var/run/docker.sock\n",
    );
    let (code, findings, _) = check_workspace(&ws.gitops);
    assert_eq!(code, 1, "{findings:#?}");
    find(
        &findings,
        "boundary.node-access",
        "reaches its node: `hostPID`, the `hostPath` volume `docker`",
    );
}

#[test]
fn a_gitops_override_of_a_platform_path_fails_check_before_it_is_rendered() {
    // upstream-review-2 F7: strata refused it only at the next render, after the merge.
    let ws = crate::common::Test::new().services("api").create();
    write(
        &ws.gitops
            .join(".strata/templates/.github/workflows/validate.yml.tera"),
        b"name: validate\n",
    );
    let (code, findings, _) = check_workspace(&ws.gitops);
    assert_eq!(code, 1, "{findings:#?}");
    find(
        &findings,
        "boundary.platform-override",
        "`.strata/templates/.github/workflows/validate.yml.tera` changes a path of the platform team",
    );
}

#[test]
fn node_access_through_inline_json6902_and_list_patches_is_a_finding() {
    // break-report-3 F3: only workload documents were read.
    let ws = crate::common::Test::new().services("api").create();
    let overlay = ws.gitops.join("services/api/overlays/dev");
    let kustomization = fs_err::read_to_string(overlay.join("kustomization.yaml")).unwrap();
    write(
        &overlay.join("kustomization.yaml"),
        kustomization
            .replacen(
                "\npatches:\n",
                "\npatches:\n  - target:\n      kind: Deployment\n      name: api\n    patch: |-\n      - op: add\n        path: /spec/template/spec/hostNetwork\n        value: true\n",
                1,
            )
            .as_bytes(),
    );
    write(
        &ws.gitops.join("services/api/base/ops.yaml"),
        b"- op: add\n  path: /spec/template/spec/volumes/-\n  value:\n    name: root\n    hostPath:\n      path: /\n",
    );
    write(
        &ws.gitops.join("services/api/base/list.yaml"),
        b"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata:\n      name: api\n    spec:\n      template:\n        spec:\n          hostPID: true\n",
    );
    let (code, findings, _) = check_workspace(&ws.gitops);
    assert_eq!(code, 1, "{findings:#?}");
    for what in [
        "reaches its node: `hostNetwork`",
        "reaches its node: the `hostPath` volume `root`",
        "reaches its node: `hostPID`",
    ] {
        find(&findings, "boundary.node-access", what);
    }
}
