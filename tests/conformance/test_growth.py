"""Issue 3: a workspace that grows and shrinks stays conformant after every step.

For both presets: `new` with one environment, `add service` x3 (one with `--irsa`, which needs
the account id given to `new`), `add env` x2, `remove service`, `remove env`. After every step
the same checks run (kustomize builds, schemas, Application paths, topology, reachability
through the foundation's harness for every stack, wiring, name collisions, orphans, security
invariants). Steps with `--commit` must add exactly one commit to each repo the step touched,
with a message naming the change; steps without it must add none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

import checks
from conftest import ACCOUNT_ID, API_CIDRS, DOMAIN, GIT_BASE


@dataclass(frozen=True)
class Step:
    args: tuple[str, ...]  # after `strata`, without -C
    commit: bool
    subject: str  # regex the commit subject must match (when committed)

    def describe(self) -> str:
        return "strata " + " ".join(self.args) + (" --commit" if self.commit else "")


STEPS = (
    Step(("add", "service", "api"), True, r"(?i)^add service `api`"),
    Step(("add", "service", "billing", "--irsa", "--secret", "DB_PASSWORD", "--config", "LOG_LEVEL=debug"),
         True, r"(?i)^add service `billing`"),
    Step(("add", "service", "web", "--min", "2", "--max", "5"), True, r"(?i)^add service `web`"),
    Step(("add", "env", "stage"), True, r"(?i)^add environment `stage`"),
    # From here on nothing is committed: each later step touches files left uncommitted.
    Step(("add", "env", "prod", "--from", "stage"), False, ""),
    Step(("remove", "service", "web", "--allow-dirty"), False, ""),
    # `--force`: the stack was never deployed (strata refuses to remove an environment whose stack
    # file is there, as its stack may still run; issue 19).
    Step(("remove", "env", "stage", "--allow-dirty", "--force"), False, ""),
)


def _check_state(ws: checks.Workspace, preset: str) -> None:
    checks.structural_checks(ws)
    checks.security_invariants(ws.gitops, ws.builds, ws.runs)
    checks.strata_list_consistent(ws.gitops)
    envs = list(checks.environments(ws.answers))
    stack_files = sorted(p.name for p in ws.foundation.glob("Pulumi.*.yaml"))
    if preset == "production":
        assert stack_files == sorted(f"Pulumi.{env}.yaml" for env in envs), stack_files
    else:
        assert stack_files == ["Pulumi.shared.yaml"], stack_files


@pytest.mark.parametrize("preset", ["startup", "production"])
def test_every_step_of_growth_leaves_a_conformant_workspace(preset, workspace_root):
    name = f"grow{preset[0]}"
    ws = checks.new_workspace(workspace_root(name), name, "--domain", DOMAIN, "--preset", preset, "--envs", "dev",
                              "--account-id", ACCOUNT_ID, "--git-base", GIT_BASE, "--api-cidrs", API_CIDRS)
    failures: list[str] = []
    try:
        _check_state(ws, preset)
    except AssertionError as error:
        failures.append(f"after `strata new`:\n{error}")
    logs = {repo: checks.git_state(repo, 1) for repo in (ws.foundation, ws.gitops)}
    for number, step in enumerate(STEPS, start=1):
        ws.strata(*step.args, "-C", ws.gitops, *(["--commit"] if step.commit else []))
        try:
            _check_state(ws, preset)
        except AssertionError as error:
            failures.append(f"after step {number} `{step.describe()}`:\n{error}")
        for repo in (ws.foundation, ws.gitops):
            before = logs[repo]
            after = checks.git_log(repo)
            if step.commit:
                try:
                    checks.git_state(repo, len(before) + 1)
                    assert after[1:] == before, f"history rewritten: {before} -> {after}"
                    assert re.search(step.subject, after[0]), f"commit subject `{after[0]}` does not name the change"
                except AssertionError as error:
                    failures.append(f"after step {number} `{step.describe()}`, git of `{repo.name}`:\n{error}")
            elif after != before:
                failures.append(f"after step {number} `{step.describe()}` (no --commit), `{repo.name}` gained "
                                f"commits: {after[: len(after) - len(before)]}")
            logs[repo] = after
    # The final state: what the workspace deploys is clean for checkov, and the foundation's own
    # tests pass against its final stacks.
    for label, final_check in (
        ("checkov", lambda: checks.checkov_clean(ws.gitops, ws.builds)),
        ("foundation pytest", lambda: checks.foundation_pytest(ws.foundation)),
        ("foundation resources", lambda: checks.foundation_resources(ws.foundation, ws.runs)),
        ("deployable", lambda: checks.deployable(ws)),
    ):
        try:
            final_check()
        except AssertionError as error:
            failures.append(f"final state, {label}:\n{error}")
    answers = ws.answers
    assert list(checks.environments(answers)) == ["dev", "prod"]
    assert sorted(checks.service_envs(answers)) == ["api", "billing"]
    assert all(sorted(envs) == ["dev", "prod"] for envs in checks.service_envs(answers).values()), checks.service_envs(answers)
    assert not failures, "\n\n".join(failures)
