"""The checks are not vacuous: each one fails on a workspace broken in the way it guards against.

A small workspace is generated once; each test copies a repo, breaks one thing, and expects the
check to raise an AssertionError that names the problem.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml

import checks
from conftest import ACCOUNT_ID, GIT_BASE


@pytest.fixture(scope="module")
def base(workspace_root):
    ws = checks.new_workspace(workspace_root("detect"), "det", "--preset", "startup", "--envs", "dev,prod",
                              "--services", "api", "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE)
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


def test_validate_objects_reports_a_wrong_type_in_an_appproject(base, copy):
    gitops = copy(base.gitops)
    edit_yaml(gitops / "apps/dev/appproject.yaml", lambda d: d["spec"].update(sourceRepos="https://x"))
    raises(r"AppProject .*/spec/sourceRepos", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_validate_objects_reports_an_unknown_field_of_an_externalsecret(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/billing/overlays/dev/externalsecret.yaml", lambda t: t.replace("refreshInterval:", "refreshEvery:"))
    raises(r"ExternalSecret dev/billing.*refreshEvery", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_validate_objects_reports_bad_metadata_of_a_custom_resource(base, copy):
    gitops = copy(base.gitops)
    edit_yaml(gitops / "apps/dev/api.yaml", lambda d: d["metadata"].update(label={"a": "b"}))
    raises(r"Application .*/metadata.*label", lambda: checks.validate_objects(checks.kustomize_builds(gitops)))


def test_applications_resolve_reports_a_foreign_repo_and_a_missing_path(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "apps/dev/api.yaml", lambda t: t.replace("services/api/overlays/dev", "services/api/overlays/qa"))
    edit(gitops / "apps/prod/api.yaml", lambda t: t.replace("det-gitops", "other-gitops"))
    builds = checks.kustomize_builds(gitops)
    raises(r"overlays/qa` does not exist", lambda: checks.applications_resolve(gitops, builds))
    raises(r"repoURL `https://github.com/acme/other-gitops.git` is not", lambda: checks.applications_resolve(gitops, builds))


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
    edit_yaml(gitops / "apps/prod/appproject.yaml", lambda d: d["spec"].update(clusterResourceWhitelist=[{"group": "*", "kind": "*"}]))
    builds = checks.kustomize_builds(gitops)
    raises(r"Deployment `api`: container `api`: readOnlyRootFilesystem", lambda: checks.security_invariants(gitops, builds))
    raises(r"AppProject `prod`: clusterResourceWhitelist", lambda: checks.security_invariants(gitops, builds))


def test_security_invariants_report_a_missing_pdb(base, copy):
    gitops = copy(base.gitops)
    edit(gitops / "services/api/base/kustomization.yaml", lambda t: t.replace("  - pdb.yaml\n", ""))
    raises(r"no PodDisruptionBudget", lambda: checks.security_invariants(gitops, checks.kustomize_builds(gitops)))


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
