"""Turning something off and on again works: what the stack retained (log groups, the gitops
repository credential) is adopted when it comes back, and secrets it deletes leave no recovery
window behind that would block their name."""

from __future__ import annotations

from tests.conftest import STACKS, Stack, planned, run, runnable
from tests.harness import REPO_ROOT, project_name, secret_arn, stack_values

FIRST = STACKS[0] if STACKS else ""  # conftest refuses a repository without stacks
ME = f"{project_name(REPO_ROOT)}/{FIRST}"
BASE = runnable(FIRST) if STACKS else {}
PROJECT = stack_values(REPO_ROOT, FIRST)[0].get(f"{project_name(REPO_ROOT)}:project", "") if STACKS else ""
REPO_SECRET = f"{PROJECT}/argocd/gitops-repo"
MINE = [{"name": REPO_SECRET, "tags": {"strata.io/owner-stack": ME}}]
THEIRS = [{"name": REPO_SECRET, "tags": {"strata.io/owner-stack": "someone/else"}}]
for _secrets in (MINE, THEIRS):
    planned(FIRST, BASE, secrets=_secrets)


def _log_groups(stack: str) -> list[str]:
    result = run(stack, BASE)
    assert not isinstance(result, Exception), result
    return [r["inputs"]["name"] for r in result.resources if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]


def test_retained_log_groups_are_adopted_when_logging_comes_back() -> None:
    groups = _log_groups(FIRST)
    if not groups:
        return  # logging is off in this stack
    result = run(FIRST, BASE, logGroups=groups[:1])
    assert not isinstance(result, Exception), result
    adopted = {
        r["inputs"]["name"]: r["importId"] for r in result.resources if r["type"] == "aws:cloudwatch/logGroup:LogGroup"
    }
    assert adopted[groups[0]] == groups[0], "a retained group is imported, not created again"
    assert all(not adopted[g] for g in groups[1:]), "a group that does not exist is created"
    assert all(r["retainOnDelete"] for r in result.resources if r["type"] == "aws:cloudwatch/logGroup:LogGroup")


def test_the_repository_credential_this_stack_retained_is_adopted(stack: Stack) -> None:
    secrets = [r for r in stack.of_type("aws:secretsmanager/secret:Secret") if r["name"] == "gitops-repo-credentials"]
    if not secrets or stack.name != FIRST:
        return  # a public repository, or another stack's
    name = secrets[0]["inputs"]["name"]
    assert name == REPO_SECRET
    result = run(FIRST, BASE, secrets=MINE)
    assert not isinstance(result, Exception), result
    (secret,) = [r for r in result.resources if r["name"] == "gitops-repo-credentials"]
    assert secret["importId"] == secret_arn(name, stack.account) and secret["retainOnDelete"]
    result = run(FIRST, BASE, secrets=THEIRS)
    assert not isinstance(result, Exception), result
    assert not [r for r in result.resources if r["name"] == "gitops-repo-credentials"], "another stack's: only read"


def test_grafanas_secret_is_deleted_without_a_recovery_window(stack: Stack) -> None:
    for secret in stack.of_type("aws:secretsmanager/secret:Secret"):
        if secret["name"] == "grafana-admin":
            assert secret["inputs"]["recoveryWindowInDays"] == 0
