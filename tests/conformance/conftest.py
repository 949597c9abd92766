"""Shared fixtures of the conformance suite: generated workspaces live under pytest's tmp dirs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks  # noqa: E402

ENVS = ["dev", "qa", "stage", "perf", "prod"]
SERVICES = ["api", "web", "worker", "billing", "search"]
ACCOUNT_ID = "123456789012"
GIT_BASE = "https://github.com/acme"
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
