"""Fixtures: every `Pulumi.<stack>.yaml` of the repository runs once under mocks, in its own process.

Every run the suite needs goes through one batch: a test module names its runs with `planned()`
when it is imported, and the first `run()` runs them all in one `python -m tests.harness --batch`
process, which imports the Pulumi SDKs once and forks a process per run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.harness import REPO_ROOT, StackRun, project_name, run_batch, stack_account, stack_values, stacks

sys.path.insert(0, str(REPO_ROOT))  # the program's modules, for the unit tests of settings

STACKS = stacks()
# A documentation network (RFC 5737) standing in for the API's allowed networks in a stack that
# does not list them yet: such a stack stops at preview (test_endpoint.py checks that), and the
# other tests look at what it will build once the networks are set.
PLACEHOLDER_API_CIDRS = ["192.0.2.0/24"]


def endpoint_of(name: str) -> dict[str, Any]:
    """The `endpoint` object of a stack's configuration."""
    values, _ = stack_values(REPO_ROOT, name)
    return values.get(f"{project_name(REPO_ROOT)}:endpoint") or {}


def lacks_api_cidrs(name: str) -> bool:
    """The stack opens the public API endpoint without naming the networks allowed to reach it."""
    endpoint = endpoint_of(name)
    return bool(endpoint.get("publicAccess")) and not endpoint.get("publicAccessCidrs")


@dataclass
class Stack:
    """One stack's configuration and what the program registered for it."""

    name: str
    config: dict[str, Any]  # project config keys without namespace, decoded
    region: str
    run: StackRun
    overrides: dict[str, Any]

    @property
    def resources(self) -> list[dict]:
        return self.run.resources

    @property
    def account(self) -> str:
        """The AWS account the stack runs in (its own with `strata new --account`)."""
        return stack_account(self.name)

    def of_type(self, type_token: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == type_token]

    def one(self, type_token: str, name: str | None = None) -> dict:
        found = [r for r in self.of_type(type_token) if name is None or r["name"] == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {len(found)}"
        return found[0]

    def kubernetes_objects(self, kind: str) -> list[dict]:
        """Kubernetes objects of a kind (type tokens look like `kubernetes:<group>/<version>:<Kind>`)."""
        return [r for r in self.resources if r["type"].startswith("kubernetes:") and r["type"].endswith(f":{kind}")]

    def by_urn(self, urn: str) -> dict:
        return next(r for r in self.resources if r["urn"] == urn)

    def output(self, name: str) -> Any:
        return self.run.outputs[name]["value"]


_PLANNED: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {}  # label -> (stack, overrides, world)
_RUNS: dict[str, StackRun | Exception] = {}  # label -> what the run recorded, or its error
_LABELS: dict[tuple[str, str, str], str] = {}  # (stack, overrides as JSON, world as JSON) -> label


def _run_key(stack: str, overrides: dict[str, Any] | None, world: dict[str, Any]) -> tuple[str, str, str]:
    return stack, json.dumps(overrides or {}, sort_keys=True), json.dumps(world, sort_keys=True)


def planned(stack: str, overrides: dict[str, Any] | None = None, **world: Any) -> None:
    """Add a run to the session's batch; a test module calls it when it is imported.

    `world` is what the program finds outside its resources (the harness's `--world`: `caller`,
    `publicNameServers`, `logGroups`, `secrets`)."""
    key = _run_key(stack, overrides, world)
    if key not in _LABELS:
        _LABELS[key] = label = f"{stack}.{len(_LABELS)}"
        _PLANNED[label] = (stack, overrides or {}, world)


def run(stack: str, overrides: dict[str, Any] | None = None, **world: Any) -> StackRun | Exception:
    """What the program registers for `stack` with `overrides` in `world`, or the error it stops
    with. The first call runs every planned run at once; a run nobody planned runs with the next
    batch.
    """
    planned(stack, overrides, **world)
    label = _LABELS[_run_key(stack, overrides, world)]
    if label not in _RUNS:
        batch = dict(_PLANNED)
        _PLANNED.clear()
        _RUNS.update(run_batch(batch))
    return _RUNS[label]


def _overrides(name: str) -> dict[str, Any]:
    """What a stack runs with: its own configuration, or the placeholder API networks if it lacks them."""
    if lacks_api_cidrs(name):
        return {"endpoint": {**endpoint_of(name), "publicAccessCidrs": PLACEHOLDER_API_CIDRS}}
    return {}


def runnable(name: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """`overrides` plus what the stack needs to run at all (the placeholder API networks if it
    lacks them), for tests about something else."""
    return {**_overrides(name), **(overrides or {})}


def _load(name: str) -> Stack:
    """The run of one stack."""
    recorded = run(name, _overrides(name))
    if isinstance(recorded, Exception):
        raise recorded
    values, _ = stack_values(REPO_ROOT, name)
    prefix = project_name(REPO_ROOT) + ":"
    config = {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}
    for key, value in _overrides(name).items():
        config[key] = value
    return Stack(name=name, config=config, region=values["aws:region"], run=recorded, overrides=_overrides(name))


for _name in STACKS:
    planned(_name, _overrides(_name))


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Each stack of the repository, run once per test session."""
    yield _load(request.param)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail loudly when the repository has no stack file: a suite that tests nothing must not pass."""
    if not STACKS:
        raise pytest.UsageError(f"no `Pulumi.<stack>.yaml` in `{REPO_ROOT}`")
