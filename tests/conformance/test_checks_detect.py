"""The checks are not vacuous: each one fails on a workspace broken in the way it guards against.

A small workspace is generated once; each test copies a repo, breaks one thing, and expects the
check to raise an AssertionError that names the problem.
"""

from __future__ import annotations

import copy as copy_module
import re
import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml

import checks
from conftest import ACCOUNT_ID, API_CIDRS, DOMAIN, GIT_BASE


@pytest.fixture(scope="module")
def base(workspace_root):
    ws = checks.new_workspace(workspace_root("detect"), "det", "--domain", DOMAIN, "--preset", "startup", "--envs", "dev,prod",
                              "--services", "api", "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE,
                              "--api-cidrs", API_CIDRS)
    ws.strata("add", "service", "billing", "--irsa", "--secret", "DB_PASSWORD", "-C", ws.gitops, "--commit")
    checks.structural_checks(ws)  # the unbroken workspace passes
    return ws


@pytest.fixture
def copy(base, tmp_path):
    """Copy one repo of the base workspace (keeping the `<name>-<repo>` directory name)."""

    def make(repo: Path) -> Path:
        target = tmp_path / repo.name
        shutil.copytree(repo, target, symlinks=True)
        return target

    return make


def edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text(encoding="utf-8")
    after = change(before)
    assert after != before, f"the mutation did not change `{path}`"
    path.write_text(after, encoding="utf-8")


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def raises(pattern: str, check: Callable[[], object]) -> None:
    with pytest.raises(AssertionError) as caught:
        check()
    assert re.search(pattern, str(caught.value)), f"the failure does not say /{pattern}/:\n{caught.value}"


def test_kustomize_builds_reports_a_kustomization_that_does_not_build(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/overlays/dev/kustomization.yaml", lambda t: t.replace("networkpolicy.yaml", "missing.yaml"))
    raises(r"services/api/overlays/dev.*\n?.*missing\.yaml", lambda: checks.kustomize_builds(gitops))


def test_validate_objects_reports_an_unknown_field_of_a_core_kind(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/base/deployment.yaml", lambda t: t.replace("  revisionHistoryLimit: 5", "  revisionHistoryLimits: 5"))
    raises(r"Deployment dev/api.*revisionHistoryLimits", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_validate_objects_reports_an_unknown_field_of_an_application(base, copy):
    gitops = copy(base.gitops)
    edit_yaml(gitops / "apps/dev/api.yaml", lambda d: d["spec"]["syncPolicy"].update(autoSync=True))
    raises(r"Application .*api-dev.*/spec/syncPolicy.*autoSync", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_foundation_resources_report_a_wrong_type_in_an_appproject(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "gitops.py", lambda t: t.replace(
        '"sourceRepos": [settings.gitops.repo_url],\n        "destinations": [{"server": IN_CLUSTER, "namespace": env.namespace}]',
        '"sourceRepos": settings.gitops.repo_url,\n        "destinations": [{"server": IN_CLUSTER, "namespace": env.namespace}]'))
    raises(r"AppProject argocd/dev: /spec/sourceRepos", lambda: checks.foundation_resources(foundation))


def test_validate_objects_reports_an_unknown_field_of_an_externalsecret(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/billing/overlays/dev/externalsecret.yaml", lambda t: t.replace("refreshInterval:", "refreshEvery:"))
    raises(r"ExternalSecret dev/billing.*refreshEvery", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_validate_objects_reports_bad_metadata_of_a_custom_resource(base, copy):
    gitops = copy(base.gitops)
    edit_yaml(gitops / "apps/dev/api.yaml", lambda d: d["metadata"].update(label={"a": "b"}))
    raises(r"Application .*/metadata.*label", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_validate_objects_reports_karpenter_objects_its_crds_reject():
    node_pool = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "workload"},
                 "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                                 "name": "workload"}, "requirements": []}},
                          "disruption": {"consolidationPolicy": "Sometimes"}}}
    raises(r"consolidationPolicy", lambda: checks.validate_objects([node_pool]))
    node_class = {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass", "metadata": {"name": "workload"},
                  "spec": {"role": "nodes", "amiSelector": [{"alias": "al2023@latest"}],
                           "subnetSelectorTerms": [{"id": "subnet-1"}], "securityGroupSelectorTerms": [{"id": "sg-1"}]}}
    raises(r"amiSelector", lambda: checks.validate_objects([node_class]))


def test_applications_resolve_reports_a_foreign_repo_and_a_missing_path(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "apps/dev/api.yaml", lambda t: t.replace("services/api/overlays/dev", "services/api/overlays/qa"))
    edit(gitops / "apps/prod/api.yaml", lambda t: t.replace("det-gitops", "other-gitops"))
    builds = checks.kustomize_builds(gitops)
    raises(r"overlays/qa` does not exist", lambda: checks.applications_resolve(gitops, builds, base.runs))
    raises(r"repoURL `https://github.com/acme/other-gitops.git` is not", lambda: checks.applications_resolve(gitops, builds, base.runs))


def test_reachability_reports_a_service_no_application_deploys(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "apps/prod/kustomization.yaml", lambda t: t.replace("  - billing.yaml\n", ""))
    raises(r"apps/prod: expected one Application syncing `services/billing/overlays/prod`",
           lambda: checks.reachability(base.foundation, gitops, base.runs, checks.kustomize_builds(gitops)))


def test_reachability_reports_an_object_the_project_refuses(base, copy):
    gitops = copy(base.gitops)
    (gitops / "services/api/overlays/dev/role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: x\nrules: []\n", encoding="utf-8")
    edit(gitops / "services/api/overlays/dev/kustomization.yaml", lambda t: t.replace("  - networkpolicy.yaml", "  - networkpolicy.yaml\n  - role.yaml"))
    raises(r"rbac.authorization.k8s.io/Role is not in project `dev`",
           lambda: checks.reachability(base.foundation, gitops, base.runs, checks.kustomize_builds(gitops)))


def test_security_invariants_report_a_writable_root_filesystem_and_a_wide_project(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/base/deployment.yaml", lambda t: t.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    foundation = copy(base.foundation)
    edit(foundation / "gitops.py", lambda t: t.replace(
        '"destinations": [{"server": IN_CLUSTER, "namespace": env.namespace}],\n        "clusterResourceWhitelist": [],',
        '"destinations": [{"server": IN_CLUSTER, "namespace": env.namespace}],\n        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],'))
    builds, runs = checks.kustomize_builds(gitops), checks.harness_runs(foundation)
    raises(r"Deployment `api`: container `api`: readOnlyRootFilesystem", lambda: checks.security_invariants(gitops, builds, runs))
    raises(r"foundation AppProject `prod`: clusterResourceWhitelist", lambda: checks.security_invariants(gitops, builds, runs))
    raises(r"AppProject `prod`: clusterResourceWhitelist", lambda: checks.foundation_projects(runs, checks.gitops_url(base.answers)))


# Issue 8: the environments' AppProjects are the foundation's; one in git is a boundary anyone can widen.
def test_an_appproject_in_the_gitops_repo_is_reported(base, copy):
    gitops = copy(base.gitops)
    (gitops / "apps/dev/appproject.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata:\n  name: wide\n  namespace: argocd\n"
        "spec:\n  sourceRepos: ['*']\n  destinations: [{server: '*', namespace: '*'}]\n", encoding="utf-8")
    edit(gitops / "apps/dev/kustomization.yaml", lambda t: t.replace("resources:\n", "resources:\n  - appproject.yaml\n"))
    builds = checks.kustomize_builds(gitops)
    raises(r"apps/dev: carries AppProject `wide`", lambda: checks.applications_resolve(gitops, builds, base.runs))
    raises(r"AppProject `wide` is defined in the gitops repo", lambda: checks.security_invariants(gitops, builds, base.runs))
    raises(r"argoproj.io/AppProject is not in project `dev-root`",
           lambda: checks.reachability(base.foundation, gitops, base.runs, builds))


def test_an_application_in_a_project_the_foundation_does_not_make_is_reported(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "apps/dev/api.yaml", lambda t: t.replace("project: dev", "project: default"))
    builds = checks.kustomize_builds(gitops)
    raises(r"Application `api-dev`: its project `default` is not an AppProject the foundation creates",
           lambda: checks.applications_resolve(gitops, builds, base.runs))


# Issue 8: each check beyond mocks fails on the defect it guards against.
def test_network_reports_private_subnets_routed_to_the_internet_gateway(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "network.py", lambda t: t.replace("            nat_gateway_id=nat.id,\n", "            gateway_id=gateway.id,\n"))
    raises(r"private subnet `private-0` does not route 0.0.0.0/0 through a NAT gateway",
           lambda: checks.network(checks.harness_runs(foundation)))


def test_network_reports_overlapping_subnets_and_a_missing_discovery_tag(base):
    # The settings refuse overlapping CIDRs before any resource exists: break the record instead.
    runs = copy_module.deepcopy(base.runs)
    (stack,) = runs.values()
    public = [s for s in stack.of_type("aws:ec2/subnet:Subnet") if s["name"] == "public-0"][0]
    public["inputs"]["cidrBlock"] = "10.0.0.0/19"
    del public["inputs"]["tags"]["kubernetes.io/cluster/det"]
    raises(r"subnet `public-0` \(10.0.0.0/19\) overlaps subnet `private-0`|subnet `private-0` .* overlaps subnet `public-0`",
           lambda: checks.network(runs))
    raises(r"subnet `public-0` .* lacks the tag kubernetes.io/cluster/det: shared", lambda: checks.network(runs))


def test_managed_policies_report_a_policy_aws_does_not_have(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "addons.py", lambda t: t.replace('EBS_CSI_POLICY = "AmazonEBSCSIDriverPolicyV2"',
                                                       'EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicyV2"'))
    raises(r"attaches `arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicyV2`, which is not an AWS managed policy",
           lambda: checks.managed_policies_exist(checks.harness_runs(foundation)))


def test_parliament_reports_a_high_finding_and_an_unaccepted_one(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "addons.py", lambda t: t.replace('"Sid": "ScaleOwnNodeGroups"', '"Sid": "Describe"'))
    edit(foundation / "external_secrets.py", lambda t: t.replace(
        '"Resource": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{prefix}*"', '"Resource": "*"'))
    runs = checks.harness_runs(foundation)
    raises(r"policy `cluster-autoscaler`: HIGH DUPLICATE_SID", lambda: checks.iam_policies_pass_parliament(runs))
    raises(r"policy `read-environment-secrets`: LOW RESOURCE_STAR .*not an accepted finding",
           lambda: checks.iam_policies_pass_parliament(runs))


def test_helm_reports_a_chart_version_that_is_not_vendored(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "Pulumi.shared.yaml", lambda t: t.replace('chartVersion: "1.21.1"', 'chartVersion: "1.20.0"'))
    raises(r"chart `external-dns` version `1.20.0` is not vendored",
           lambda: checks.helm_releases_deploy(checks.harness_runs(foundation)))


def test_helm_reports_values_a_chart_rejects_and_misplaced_pods(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "addons.py", lambda t: t.replace('"policy": settings.addons.external_dns.policy,',
                                                       '"policy": "everything",'))
    edit(foundation / "addons.py", lambda t: t.replace(
        '"global": placement(settings, ARGOCD.priority_class),', '"global": placement(settings),'))
    runs = checks.harness_runs(foundation)
    raises(r"release `external-dns` .*fails with the foundation's values", lambda: checks.helm_releases_deploy(runs))
    edit(foundation / "addons.py", lambda t: t.replace('"policy": "everything",', '"policy": settings.addons.external_dns.policy,'))
    raises(r"release `argocd`: Deployment `argocd-server` has priority class None, expected `platform-critical`",
           lambda: checks.helm_releases_deploy(checks.harness_runs(foundation)))


def test_helm_reports_an_irsa_service_account_no_chart_annotates(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "addons.py", lambda t: t.replace(
        '"serviceAccount": service_account_values(EXTERNAL_DNS, role_arn),',
        '"serviceAccount": service_account_values(EXTERNAL_DNS, None),'))
    raises(r"ServiceAccount external-dns/external-dns is annotated None, but the role trusting it is",
           lambda: checks.helm_releases_deploy(checks.harness_runs(foundation)))


def test_tls_reports_a_host_the_certificate_does_not_cover_and_a_foreign_ingress_class(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/overlays/dev/patch-ingress.yaml", lambda t: t.replace(f"api.dev.{DOMAIN}", "api.example.org"))
    edit(gitops / "services/api/overlays/prod/patch-ingress.yaml", lambda t: t.replace("value: prod-public", "value: dev-public"))
    builds = checks.kustomize_builds(gitops)
    raises(r"host `api.example.org` is not covered by `dev`'s certificate", lambda: checks.tls_and_ingress(base.runs, gitops, builds))
    raises(r"services/api/overlays/prod: Ingress `api` uses IngressClass `dev-public`, not one of `prod`",
           lambda: checks.tls_and_ingress(base.runs, gitops, builds))


def test_tls_reports_params_open_to_every_namespace(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "ingress.py", lambda t: t.replace(
        '"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: spec.env.namespace}},', ""))
    raises(r"IngressClassParams `dev-public`: namespaceSelector is None",
           lambda: checks.tls_and_ingress(checks.harness_runs(foundation)))


def test_repo_credentials_report_a_template_that_drops_the_credential(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "repo_credentials.py", lambda t: t.replace('"mergePolicy": "Merge",', '"mergePolicy": "Replace",'))
    raises(r"mergePolicy is not Merge",
           lambda: checks.repo_credentials(checks.harness_runs(foundation), checks.gitops_url(base.answers)))


def test_security_invariants_report_a_missing_pdb(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/base/kustomization.yaml", lambda t: t.replace("  - pdb.yaml\n", ""))
    raises(r"no PodDisruptionBudget", lambda: checks.security_invariants(gitops, checks.kustomize_builds(gitops), base.runs))


def test_checkov_clean_reports_a_failed_check_and_a_skip_without_reason(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/base/deployment.yaml", lambda t: t.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"))
    edit(gitops / "services/billing/base/deployment.yaml", lambda t: re.sub(r"checkov.io/skip1: .*", 'checkov.io/skip1: "CKV_K8S_43"', t))
    raises(r"(?s)CKV_K8S_20.*Deployment.dev.api.*skipped check\(s\) without a reason:.*CKV_K8S_43",
           lambda: checks.checkov_clean(gitops, checks.kustomize_builds(gitops)))


def test_wiring_reports_a_role_of_another_account(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/billing/overlays/prod/patch-serviceaccount.yaml", lambda t: t.replace(ACCOUNT_ID, "210987654321"))
    raises(r"role ARN .*210987654321.* is not in account",
           lambda: checks.wiring(base.foundation, gitops, base.runs, checks.kustomize_builds(gitops)))


def test_no_orphans_reports_a_leftover_environment(base, copy):
    gitops = copy(base.gitops)
    (gitops / "apps/qa").mkdir()
    raises(r"apps/ holds \['dev', 'prod', 'qa'\]", lambda: checks.no_orphans(gitops))


def test_git_state_reports_a_dirty_tree_and_a_wrong_count(base, copy):
    gitops = copy(base.gitops)
    raises(r"1 commit\(s\) on main, expected 2|2 commit\(s\) on main, expected 1", lambda: checks.git_state(gitops, 1))
    (gitops / "stray.txt").write_text("x", encoding="utf-8")
    raises(r"not clean:\n\?\? stray.txt", lambda: checks.git_state(gitops, 2))


def test_foundation_resources_report_an_application_object_in_the_foundation(base, copy):
    foundation = copy(base.foundation)
    edit(foundation / "platform_layer.py", lambda t: t.replace(
        "    create_shared_config(settings, network, opts)\n",
        "    create_shared_config(settings, network, opts)\n"
        "    k8s.core.v1.ConfigMap('stray', metadata=k8s.meta.v1.ObjectMetaArgs(name='stray', namespace='dev'), opts=opts)\n"
        "    k8s.core.v1.Secret('token', metadata=k8s.meta.v1.ObjectMetaArgs(name='token', namespace='dev'), opts=opts)\n"))
    raises(r"creates v1 ConfigMap dev/stray", lambda: checks.foundation_resources(foundation))
    raises(r"creates v1 Secret dev/token", lambda: checks.foundation_resources(foundation))


def test_a_missing_tool_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECTL", str(tmp_path / "no-kubectl"))
    raises(r"kubectl not found: .*no-kubectl", checks.kubectl)
    monkeypatch.setenv("STRATA_SHARED", str(tmp_path))
    raises(r"CRD schemas not found", checks.schemas_dir)
