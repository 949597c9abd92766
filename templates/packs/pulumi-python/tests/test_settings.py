"""The stack configuration is validated, and every problem is reported at once."""

from __future__ import annotations

import json

import pulumi
import pytest

from settings import Settings, SettingsError, load_settings
from tests.harness import REPO_ROOT, stack_values, stacks

PROJECT = "test-foundation"


def _load(config: dict[str, object]) -> Settings:
    raw = {
        f"{PROJECT}:{key}" if ":" not in key else key: v if isinstance(v, str) else json.dumps(v)
        for key, v in config.items()
    }
    pulumi.runtime.set_all_config(raw)
    return load_settings(pulumi.Config(PROJECT), pulumi.Config("aws"))


def _valid_config() -> dict[str, object]:
    """The first stack of the repository, as plain values under the test project's namespace."""
    values, _ = stack_values(REPO_ROOT, stacks()[0])
    config: dict[str, object] = {}
    for key, value in values.items():
        namespace, name = key.split(":", 1)
        config[key if namespace == "aws" else name] = value
    return config


def test_the_repositorys_first_stack_is_valid() -> None:
    settings = _load(_valid_config())
    assert settings.cluster_name


def test_every_problem_is_reported_at_once() -> None:
    config = _valid_config()
    config["clusterName"] = "not a name"
    config["network"] = {"cidr": "10.0.0.0/8", "azCount": 1, "natGateways": "Sometimes"}
    config["endpoint"] = {"privateAccess": True, "publicAccess": True}
    config["serviceRoles"] = [{"service": "api", "roleName": "x", "namespace": "nowhere", "serviceAccount": "api"}]
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    for fragment in (
        "clusterName",
        "network.azCount",
        "network.natGateways",
        "network.cidr",
        "publicAccessCidrs",
        "nowhere",
    ):
        assert fragment in text
    assert len(error.value.problems) >= 6


def test_a_missing_key_is_named() -> None:
    config = _valid_config()
    del config["domain"]
    with pytest.raises(SettingsError, match="`domain` is required"):
        _load(config)


def test_node_group_sizes_must_be_ordered() -> None:
    config = _valid_config()
    group = dict(config["nodeGroups"][0])  # type: ignore[index]
    group.update(minSize=3, desiredSize=2, maxSize=1)
    config["nodeGroups"] = [group]
    with pytest.raises(SettingsError, match="minSize <= desiredSize <= maxSize"):
        _load(config)
