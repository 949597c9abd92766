"""Regression tests for problems the conformance checks found in strata's output.

Each test passes when strata either refuses the input (exit code != 0) or generates output that
passes the checks. Those still failing are marked `xfail(strict=True)` with the finding, so the
suite stays green and the mark must be removed once strata is fixed.
"""

from __future__ import annotations

import pytest

import checks
from conftest import ACCOUNT_ID, API_CIDRS, GIT_BASE


def _new_or_refused(root, name, *args) -> checks.Workspace | None:
    root.mkdir(parents=True, exist_ok=True)
    done = checks.run([checks.strata_bin(), "new", name, "--out", root, *args, "--api-cidrs", API_CIDRS],
                      cwd=root, timeout=120)
    return None if done.returncode != 0 else checks.Workspace(root, name)


# Fixed: environment names may not contain `-` (nor be `apps`/`root`), so derived names are unique.
def test_argo_cd_names_do_not_collide_in_a_shared_cluster(workspace_root):
    ws = _new_or_refused(workspace_root("collide"), "col", "--preset", "startup", "--envs", "dev,x-dev,dev-root",
                         "--services", "api,api-x", "--git-base", GIT_BASE)
    if ws is None:
        return  # refusing the names is a fix too
    checks.unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)


# Fixed: as above; `<project>-<env>-<service>` splits uniquely when `<env>` has no `-`.
def test_irsa_role_names_do_not_collide(workspace_root):
    root = workspace_root("collide-irsa")
    ws = _new_or_refused(root, "col", "--preset", "startup", "--envs", "dev,dev-api",
                         "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE)
    if ws is None:
        return  # refusing the environment name is a fix too
    ws.strata("add", "service", "api-x", "--irsa", "-C", ws.gitops, "--commit")
    done = checks.run([checks.strata_bin(), "add", "service", "x", "--irsa", "-C", ws.gitops, "--commit"], cwd=root)
    if done.returncode != 0:
        return  # refusing the colliding role is a fix too
    ws.refresh()
    checks.structural_checks(ws)
    checks.unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)


@pytest.mark.parametrize("preset", ["startup", "production"])
# Fixed: `--commit` also commits the uncommitted files that hold exactly what strata wrote.
def test_a_commit_after_uncommitted_changes_commits_a_consistent_tree(preset, workspace_root, tmp_path):
    root = workspace_root(f"dirty{preset[0]}")
    ws = checks.new_workspace(root, "dirty", "--preset", preset, "--envs", "dev", "--git-base", GIT_BASE,
                              "--api-cidrs", API_CIDRS)
    ws.strata("add", "env", "prod", "-C", ws.gitops)  # not committed
    done = checks.run([checks.strata_bin(), "add", "service", "api", "-C", ws.gitops, "--commit", "--allow-dirty"],
                      cwd=root)
    if done.returncode != 0:
        return  # refusing to commit a partial change is a fix too
    # What a clone of both repos gets: HEAD of each.
    head = tmp_path / "head"
    checks.committed_tree(ws.foundation, head / ws.foundation.name)
    checks.committed_tree(ws.gitops, head / ws.gitops.name)
    committed = checks.Workspace(head, "dirty")
    checks.structural_checks(committed)


# Fixed: the NetworkPolicies admit the public (load balancer) subnets only.
def test_a_shared_cluster_keeps_environments_apart(workspace_root):
    ws = checks.new_workspace(workspace_root("isolation"), "iso", "--preset", "startup", "--envs", "dev,prod",
                              "--api-cidrs", API_CIDRS,
                              "--services", "api", "--git-base", GIT_BASE)
    checks.namespace_isolation(ws.foundation, ws.gitops, ws.runs, ws.builds)
