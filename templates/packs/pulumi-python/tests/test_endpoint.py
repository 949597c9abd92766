"""Fail closed: a public API endpoint without the networks allowed to reach it stops at preview."""

from __future__ import annotations

import pytest

from tests.conftest import STACKS, endpoint_of, lacks_api_cidrs, planned, run
from tests.harness import REPO_ROOT, project_name

KEY = f"{project_name(REPO_ROOT)}:endpoint.publicAccessCidrs"
FIRST = STACKS[0] if STACKS else ""  # conftest refuses a repository without stacks
OPEN_WITHOUT_NETWORKS = (
    {"endpoint": {"privateAccess": True, "publicAccess": True, "publicAccessCidrs": []}},
    {"endpoint": {"privateAccess": True, "publicAccess": True}},
)
PRIVATE = {"endpoint": {"privateAccess": True, "publicAccess": False}}
RUNNER_IN_VPC = {
    **PRIVATE,
    "endpointIngressSecurityGroupIds": ["sg-0123456789abcdef0"],
    "endpointIngressCidrs": ["10.99.0.0/24"],
}
BAD_RUNNER_ACCESS = {"endpointIngressSecurityGroupIds": ["default"], "endpointIngressCidrs": ["10.99.0.0/33"]}
# Every run of this module joins the session's one batch.
for _overrides in (*OPEN_WITHOUT_NETWORKS, PRIVATE, RUNNER_IN_VPC, BAD_RUNNER_ACCESS):
    planned(FIRST, _overrides)
for _stack in STACKS:
    if lacks_api_cidrs(_stack):
        planned(_stack)


def _refusal(stack: str, overrides: dict | None = None) -> str:
    result = run(stack, overrides)
    assert isinstance(result, Exception), f"stack `{stack}` ran although the API would be open to the internet"
    return str(result)


def _says_how_to_fix(message: str) -> None:
    assert f"`{KEY}` is empty" in message
    assert "public_access_cidrs" in message and "strata set cluster.public_access_cidrs" in message
    assert "strata new --api-cidrs" in message
    assert "strata set cluster.endpoint_public_access=false" in message


@pytest.mark.parametrize("stack", [s for s in STACKS if lacks_api_cidrs(s)] or [None], ids=str)
def test_a_stack_without_api_networks_stops_and_says_which_key_to_set(stack: str | None) -> None:
    if stack is None:
        return  # every stack lists its networks; the next test covers the refusal
    _says_how_to_fix(_refusal(stack))


def test_an_empty_or_missing_network_list_stops_the_preview() -> None:
    for overrides in OPEN_WITHOUT_NETWORKS:
        _says_how_to_fix(_refusal(FIRST, overrides))


def test_a_private_endpoint_needs_no_networks() -> None:
    result = run(FIRST, PRIVATE)
    assert not isinstance(result, Exception), result
    (cluster,) = [r["inputs"] for r in result.resources if r["type"] == "eks:index:Cluster"]
    assert cluster["endpointPublicAccess"] is False and "publicAccessCidrs" not in cluster
    assert endpoint_of(FIRST) is not None


def test_a_runner_in_the_vpc_reaches_the_private_endpoint_by_security_group_or_cidr() -> None:
    result = run(FIRST, RUNNER_IN_VPC)
    assert not isinstance(result, Exception), result
    rules = [r["inputs"] for r in result.resources if r["type"] == "aws:ec2/securityGroupRule:SecurityGroupRule"]
    api = [rule for rule in rules if "endpointIngress" in rule.get("description", "")]
    assert {(rule.get("sourceSecurityGroupId"), tuple(rule.get("cidrBlocks") or ())) for rule in api} == {
        ("sg-0123456789abcdef0", ()),
        (None, ("10.99.0.0/24",)),
    }
    for rule in api:
        assert (rule["type"], rule["protocol"], rule["fromPort"], rule["toPort"]) == ("ingress", "tcp", 443, 443)
        assert rule["securityGroupId"] == "sg-cluster", "the cluster security group, on the API server's ENIs"


def test_endpoint_ingress_takes_only_security_group_ids_and_cidrs() -> None:
    result = run(FIRST, BAD_RUNNER_ACCESS)
    assert isinstance(result, Exception)
    assert "`default` is not a security group id" in str(result) and "`10.99.0.0/33` is not an IPv4 CIDR" in str(result)
