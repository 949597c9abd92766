"""Regression tests for problems the conformance checks found in strata's output.

Each test pins the fix that was made: where strata now refuses the input, the test expects that
exact refusal (exit code 2, the offending value named, nothing written); where it now generates
correct output, the test runs the checks on it. A crash (exit 101) or any other exit fails.
"""

from __future__ import annotations

import pytest

import checks
from conftest import ACCOUNT_ID, API_CIDRS, DOMAIN, GIT_BASE


def _refused(root, what: str, *args) -> None:
    """`strata ARGS` exits 2 naming `what`, and `root` stays empty."""
    root.mkdir(parents=True, exist_ok=True)
    done = checks.run([checks.strata_bin(), *args], cwd=root, timeout=120)
    assert done.returncode == 2, checks._describe(done)
    assert what in done.stderr and "hint:" in done.stderr, done.stderr
    assert not any(root.iterdir()), list(root.iterdir())


# Fixed: environment names may not contain `-` (nor be `apps`/`root`), so derived names are unique.
def test_argo_cd_names_do_not_collide_in_a_shared_cluster(workspace_root):
    root = workspace_root("collide")
    _refused(root, "x-dev", "new", "col", "--out", root, "--preset", "startup", "--envs", "dev,x-dev,dev-root",
             "--services", "api,api-x", "--domain", DOMAIN, "--git-base", GIT_BASE)
    ws = checks.new_workspace(root, "col", "--domain", DOMAIN, "--preset", "startup", "--envs", "dev,xdev",
                              "--services", "api,api-x", "--git-base", GIT_BASE, "--api-cidrs", API_CIDRS)
    checks.unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)


# Fixed: as above; `<project>-<env>-<service>` splits uniquely when `<env>` has no `-`.
def test_irsa_role_names_do_not_collide(workspace_root):
    root = workspace_root("collide-irsa")
    _refused(root, "dev-api", "new", "col", "--out", root, "--preset", "startup", "--envs", "dev,dev-api",
             "--account-id", ACCOUNT_ID, "--domain", DOMAIN, "--git-base", GIT_BASE)
    ws = checks.new_workspace(root, "col", "--domain", DOMAIN, "--preset", "startup", "--envs", "dev,devapi",
                              "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE, "--api-cidrs", API_CIDRS)
    ws.strata("add", "service", "api-x", "--irsa", "-C", ws.gitops, "--commit")
    ws.strata("add", "service", "x", "--irsa", "-C", ws.gitops, "--commit")
    checks.structural_checks(ws)
    checks.unique_names(ws.foundation, ws.gitops, ws.runs, ws.builds)


@pytest.mark.parametrize("preset", ["startup", "production"])
# Fixed: a commit never holds a tree that does not deploy. Since issue 21, `--commit` commits only
# its own command's change: strata's earlier uncommitted change is refused, nothing written, and
# once the user commits it (as the message says), the next `--commit` makes a consistent tree.
def test_a_commit_after_uncommitted_changes_commits_a_consistent_tree(preset, workspace_root, tmp_path):
    root = workspace_root(f"dirty{preset[0]}")
    ws = checks.new_workspace(root, "dirty", "--domain", DOMAIN, "--preset", preset, "--envs", "dev", "--git-base", GIT_BASE,
                              "--api-cidrs", API_CIDRS)
    ws.strata("add", "env", "prod", "-C", ws.gitops)  # not committed
    refused = checks.run([checks.strata_bin(), "add", "service", "api", "-C", ws.gitops, "--commit", "--allow-dirty"],
                         cwd=ws.root, timeout=120)
    assert refused.returncode == 1, checks._describe(refused)
    assert "`strata add env prod`" in refused.stderr and "nothing was written" in refused.stderr, refused.stderr
    for repo in (ws.foundation, ws.gitops):
        checks.run([checks.git(), "add", "-A"], cwd=repo).check_returncode()
        checks.run([checks.git(), "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "Add env prod"],
                   cwd=repo).check_returncode()
    ws.strata("add", "service", "api", "-C", ws.gitops, "--commit")
    # What a clone of both repos gets: HEAD of each.
    head = tmp_path / "head"
    checks.committed_tree(ws.foundation, head / ws.foundation.name)
    checks.committed_tree(ws.gitops, head / ws.gitops.name)
    committed = checks.Workspace(head, "dirty")
    checks.structural_checks(committed)
    assert "api" in checks.service_envs(committed.answers)


# Fixed: the NetworkPolicies admit the public (load balancer) subnets only.
def test_a_shared_cluster_keeps_environments_apart(workspace_root):
    ws = checks.new_workspace(workspace_root("isolation"), "iso", "--domain", DOMAIN, "--preset", "startup", "--envs", "dev,prod",
                              "--services", "api", "--git-base", GIT_BASE, "--api-cidrs", API_CIDRS)
    checks.namespace_isolation(ws.foundation, ws.gitops, ws.runs, ws.builds)
