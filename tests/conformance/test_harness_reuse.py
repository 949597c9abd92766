"""The suite's reuse of work changes no result: a run forked from a fork server is the tool's own
run, and a result cached by content is the result a fresh run gives.

Each shortcut of `checks.py` (the fork servers of the Pulumi harness, checkov and parliament; the
content-keyed caches of harness runs and kustomize builds; one checkov run over many repos) is
held here against the plain command a user runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import checks
from conftest import API_CIDRS, DOMAIN, GIT_BASE


@pytest.fixture(scope="module")
def ws(workspace_root) -> checks.Workspace:
    return checks.new_workspace(workspace_root("reuse"), "reuse", "--domain", DOMAIN, "--preset", "production", "--envs", "dev,prod",
                                "--services", "api,web", "--git-base", GIT_BASE, "--api-cidrs", API_CIDRS)


def test_a_forked_harness_run_records_what_python_m_tests_harness_records(ws, tmp_path):
    stack = checks.stacks(ws.foundation)[0]
    forked = checks.run_harness(ws.foundation, stack)
    done = subprocess.run([str(checks.venv_python()), "-m", "tests.harness", stack, "--json", str(tmp_path / "r.json"),
                           "--outputs", str(tmp_path / "o.json")], cwd=ws.foundation, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    # The same resources with the same inputs; the order in which they register and list their
    # dependencies varies from run to run of the same program.
    by_urn = lambda resources: {r["urn"]: {**r, "dependencies": sorted(r["dependencies"])} for r in resources}  # noqa: E731
    assert by_urn(forked.resources) == by_urn(json.loads((tmp_path / "r.json").read_text(encoding="utf-8")))
    assert forked.outputs == json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))


def test_a_harness_run_is_reused_only_for_the_same_content(ws, tmp_path):
    stack = checks.stacks(ws.foundation)[0]
    first = checks.run_harness(ws.foundation, stack)
    copy = tmp_path / ws.foundation.name
    shutil.copytree(ws.foundation, copy, symlinks=True)
    assert checks.run_harness(copy, stack) is first, "the same program and configuration ran again"
    path = copy / f"Pulumi.{stack}.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("203.0.113.0/24", "198.51.100.0/24"), encoding="utf-8")
    changed = checks.run_harness(copy, stack)
    assert changed is not first
    (cluster,) = changed.of_type("eks:index:Cluster")
    assert cluster["inputs"]["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_a_failing_stack_fails_through_the_fork_server_with_the_programs_message(ws, tmp_path):
    stack = checks.stacks(ws.foundation)[0]
    copy = tmp_path / ws.foundation.name
    shutil.copytree(ws.foundation, copy, symlinks=True)
    path = copy / f"Pulumi.{stack}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("203.0.113.0/24", "not-a-cidr"), encoding="utf-8")
    with pytest.raises(AssertionError, match=r"not-a-cidr"):
        checks.run_harness(copy, stack)


def test_a_cached_kustomize_build_equals_a_fresh_one_and_follows_its_base(ws, tmp_path):
    overlay = "services/api/overlays/dev"
    cached = checks.kustomize_build(ws.gitops / overlay)
    fresh = subprocess.run([str(checks.kubectl()), "kustomize", str(ws.gitops / overlay)], capture_output=True,
                           text=True, check=True).stdout
    assert cached == [d for d in yaml.load_all(fresh, Loader=checks._LOADER) if d is not None]
    # A copy whose base changed builds anew: the cache key covers the base the overlay names.
    copy = tmp_path / ws.gitops.name
    shutil.copytree(ws.gitops, copy, symlinks=True)
    deployment = copy / "services/api/base/deployment.yaml"
    deployment.write_text(deployment.read_text(encoding="utf-8").replace("revisionHistoryLimit: 5",
                                                                          "revisionHistoryLimit: 7"), encoding="utf-8")
    (built,) = [o for o in checks.kustomize_build(copy / overlay) if o["kind"] == "Deployment"]
    assert built["spec"]["revisionHistoryLimit"] == 7


def test_one_checkov_run_over_many_repos_blames_only_the_repo_at_fault(ws, tmp_path):
    broken = tmp_path / ws.gitops.name
    shutil.copytree(ws.gitops, broken, symlinks=True)
    deployment = broken / "services/web/base/deployment.yaml"
    text = deployment.read_text(encoding="utf-8")
    assert "readOnlyRootFilesystem: true" in text
    deployment.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
                          encoding="utf-8")
    results = checks.checkov_clean_many({"clean": (ws.gitops, None), "broken": (broken, None)})
    assert isinstance(results["clean"], dict) and results["clean"]["resource_count"] > 0, results["clean"]
    assert isinstance(results["broken"], AssertionError)
    assert "web-" in str(results["broken"]) and "api-" not in str(results["broken"]), results["broken"]


def test_parliament_through_its_fork_server_finds_what_its_command_line_finds():
    policy = json.dumps({"Version": "2012-10-17",
                         "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]})
    forked = checks.parliament_findings([("stack", "probe", policy)])
    cli = Path(checks.parliament_python()).parent / "parliament"
    done = subprocess.run([str(cli), "--string", policy, "--json"], capture_output=True, text=True, check=False)
    found = [json.loads(line)["issue"] for line in done.stdout.splitlines() if line.strip()]
    assert {f["issue"] for f in forked} == set(found) == {"RESOURCE_STAR"}, (forked, done.stdout, done.stderr)
