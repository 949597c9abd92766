"""The stack configuration is held to strata's own limits (`limits.py`), at each limit's edge."""

from __future__ import annotations

import ipaddress

import pytest

from limits import (
    ADDON_REPLICAS_MAX,
    AZ_COUNT_MAX,
    ENVIRONMENT_NAME_MAX,
    KUBERNETES_VERSIONS,
    NODE_GROUP_NAME_MAX,
    PROJECT_NAME_MAX,
    RESERVED_ENVIRONMENT_NAMES,
    VPC_PREFIX_MAX,
)
from settings import SettingsError
from tests.test_settings import _load, _node_groups_config, _valid_config


def _problems(config: dict[str, object]) -> str:
    """The problems of a configuration, one per line; empty when it is valid."""
    try:
        _load(config)
    except SettingsError as error:
        return "\n".join(error.problems)
    return ""


def _network(prefix: int, az_count: int) -> dict[str, object]:
    """A `network` laid out as strata lays it out: each AZ an equal share of the VPC, its private
    subnet the first half of the share and its public subnet the third quarter."""
    vpc = ipaddress.IPv4Network(f"10.0.0.0/{prefix}")
    bits = (az_count - 1).bit_length()
    shares = list(vpc.subnets(prefixlen_diff=bits))[:az_count]
    return {
        "cidr": str(vpc),
        "azCount": az_count,
        "natGateways": "Single",
        "privateSubnetCidrs": [str(next(share.subnets(prefixlen_diff=1))) for share in shares],
        "publicSubnetCidrs": [str(list(share.subnets(prefixlen_diff=2))[2]) for share in shares],
    }


def _with_environment(config: dict[str, object], **changes: object) -> dict[str, object]:
    """The configuration with its first environment changed."""
    first, *rest = config["environments"]  # type: ignore[misc]
    return {**config, "environments": [{**first, **changes}, *rest]}


def test_the_smallest_vpc_at_the_most_azs_is_taken_and_one_bit_less_is_not() -> None:
    config = _valid_config()
    assert _problems({**config, "network": _network(VPC_PREFIX_MAX, AZ_COUNT_MAX)}) == ""
    problems = _problems({**config, "network": _network(VPC_PREFIX_MAX + 1, AZ_COUNT_MAX)})
    assert f"`network.cidr` must be a /16 to /{VPC_PREFIX_MAX} network" in problems
    assert "`network.azCount`" in _problems({**config, "network": _network(16, AZ_COUNT_MAX + 1)})


def test_add_on_replicas_stay_within_strata_s_bounds() -> None:
    config = _valid_config()
    addons = config["addons"]
    for replicas, valid in ((ADDON_REPLICAS_MAX, True), (ADDON_REPLICAS_MAX + 1, False), (0, False)):
        metrics = {**addons["metricsServer"], "replicas": replicas}  # type: ignore[index]
        problems = _problems({**config, "addons": {**addons, "metricsServer": metrics}})  # type: ignore[dict-item]
        assert ("`addons.metricsServer.replicas` must be between" not in problems) == valid, replicas


def test_environment_names_follow_strata_s_rule() -> None:
    config = _valid_config()
    for name in ("qa-1", "Qa", "1qa", "q" * (ENVIRONMENT_NAME_MAX + 1)):
        assert "`environments[0].name` must be lowercase letters and digits" in _problems(
            _with_environment(config, name=name)
        ), name
    for name in (*RESERVED_ENVIRONMENT_NAMES, "argocd"):
        assert f"`environments[0].name` `{name}` is reserved" in _problems(_with_environment(config, name=name))


def test_project_and_node_group_names_fit_strata_s_lengths() -> None:
    config = _node_groups_config()
    too_long = "p" * (PROJECT_NAME_MAX + 1)
    assert "`project` must be a DNS-1035 label" in _problems({**config, "project": too_long})
    assert "`project` must be a DNS-1035 label" in _problems({**config, "project": "a--b"})
    group = {**config["nodeGroups"][0], "name": "g" * (NODE_GROUP_NAME_MAX + 1)}  # type: ignore[index]
    assert "`nodeGroups[0].name` must be a DNS-1035 label" in _problems({**config, "nodeGroups": [group]})


@pytest.mark.parametrize(("value", "valid"), [(KUBERNETES_VERSIONS[-1], True), ("1.20", False)])
def test_the_kubernetes_version_is_one_strata_has_add_ons_for(value: str, valid: bool) -> None:
    problems = _problems({**_valid_config(), "kubernetesVersion": value})
    assert ("`kubernetesVersion` must be one of" not in problems) == valid


def test_a_domain_ends_in_a_top_level_domain() -> None:
    config = _valid_config()
    assert "`domain` is not a DNS domain" in _problems({**config, "domain": "example.c0m"})
    assert "`domain` is not a DNS domain" not in _problems({**config, "domain": "example.xn--p1ai"})
