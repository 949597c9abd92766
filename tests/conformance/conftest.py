"""Shared fixtures of the conformance suite: generated workspaces live under pytest's tmp dirs.

The suite runs on every core (`pytest -n auto --dist loadgroup`, pytest-xdist): each module is
one group, so its module-scoped workspaces are made once, in one worker; the modules that take
longest come first, so that no worker starts a long one last. The growth sequences of the two
presets are independent and form a group each, and so do the `strata new` cases of each preset.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402

# Compiled bytecode goes to one cache outside the repos, for this process and every tool it
# starts: the venvs are installed without it (`pip install --no-compile`, most of their modules
# are never imported), and the generated repos stay as strata wrote them.
# Machines that set PYTHONDONTWRITEBYTECODE would compile the SDKs' hundreds of modules again in
# every process (most of a Pulumi run's time): the suite writes bytecode, there only.
os.environ.setdefault("PYTHONPYCACHEPREFIX", str(checks.REPO_ROOT / ".tools" / "pycache"))
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"]
sys.dont_write_bytecode = False

ENVS = ["dev", "qa", "stage", "perf", "prod"]
SERVICES = ["api", "web", "worker", "billing", "search"]
ACCOUNT_ID = "123456789012"
GIT_BASE = "https://github.com/acme"
# strata never invents the domain nor the git base (issue 19): every `strata new` gives both.
DOMAIN = "acme.example.com"
# The networks allowed to reach the API's public endpoint: without them the program stops at
# preview (fail closed), and every workspace the suite checks further needs them.
API_CIDRS = "203.0.113.0/24"


@pytest.fixture(scope="session")
def workspace_root(tmp_path_factory: pytest.TempPathFactory):
    """A factory of empty directories to run `strata new` in."""

    def make(name: str) -> Path:
        return tmp_path_factory.mktemp(name)

    return make


@pytest.fixture(scope="session", autouse=True)
def fork_servers():
    """The fork servers of the session (`checks.SERVERS`) stop with it."""
    yield
    checks.SERVERS.close()


# The modules in the order their groups are handed out: the longest first (`pytest --durations`).
LONGEST_FIRST = ("test_new", "test_growth", "test_platform", "test_checks_detect", "test_ci",
                 "test_yaml_roundtrip", "test_regressions")


def _preset(item: pytest.Item) -> str | None:
    """The preset a test is about: its `preset` parameter, or its case's."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    case = params.get("generated") or params.get("case_id")
    return params.get("preset") or getattr(case, "preset", None) or (case.split("-")[0] if case else None)


def _group(item: pytest.Item) -> str:
    module = item.module.__name__
    # test_growth: one chain of steps per preset, nothing shared between them. test_new: each
    # preset's workspaces are made in the worker that checks them.
    if module in ("test_growth", "test_new") and _preset(item):
        return f"{module}[{_preset(item)}]"
    return module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.module.__name__
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a module, the order pytest collected
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
