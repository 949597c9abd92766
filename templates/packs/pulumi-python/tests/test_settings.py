"""The stack configuration is validated, and every problem is reported at once."""

from __future__ import annotations

import json

import pulumi
import pytest

from settings import Settings, SettingsError, load_settings
from tests.conftest import PLACEHOLDER_API_CIDRS, endpoint_of, lacks_api_cidrs
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
    """The first stack of the repository, as plain values under the test project's namespace
    (with the placeholder API networks if it lists none yet)."""
    stack = stacks()[0]
    values, _ = stack_values(REPO_ROOT, stack)
    config: dict[str, object] = {}
    for key, value in values.items():
        namespace, name = key.split(":", 1)
        config[key if namespace == "aws" else name] = value
    if lacks_api_cidrs(stack):
        config["endpoint"] = {**endpoint_of(stack), "publicAccessCidrs": PLACEHOLDER_API_CIDRS}
    return config


SAMPLE_NODE_GROUP = {
    "name": "general",
    "instanceTypes": ["t3.large"],
    "capacityType": "ON_DEMAND",
    "minSize": 3,  # enough for Argo CD's HA replicas, where the preset runs them
    "maxSize": 4,
    "desiredSize": 3,
    "diskSize": 50,
    "labels": {},
    "taints": [],
}


def _node_groups_config() -> dict[str, object]:
    """The first stack with node groups: an EKS Auto Mode stack has none, so it gets one and
    `compute: node-groups`."""
    config = _valid_config()
    if config.get("compute") == "auto-mode":
        config.update(compute="node-groups", nodeGroups=[SAMPLE_NODE_GROUP])
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
    config = _node_groups_config()
    group = dict(config["nodeGroups"][0])  # type: ignore[index]
    group.update(minSize=3, desiredSize=2, maxSize=1)
    config["nodeGroups"] = [group]
    with pytest.raises(SettingsError, match="minSize <= desiredSize <= maxSize"):
        _load(config)


def test_certificate_names_must_be_under_the_domain_and_default_to_the_environment_wildcard() -> None:
    config = _valid_config()
    env = dict(config["environments"][0])  # type: ignore[index]
    env.pop("certificate", None)
    config["environments"] = [env, *config["environments"][1:]]  # type: ignore[index]
    settings = _load(config)
    assert settings.environments[0].certificate.names == (f"*.{env['name']}.{config['domain']}",)
    env["certificate"] = {"domainName": "*.dev.example.org", "subjectAlternativeNames": ["a.*.example.com"]}
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "`*.dev.example.org`, which is not under `domain`" in text
    assert "`a.*.example.com`, which is not a DNS name" in text


def test_repo_credentials_are_secrets_manager_or_none() -> None:
    config = _valid_config()
    config["gitops"] = {**config["gitops"], "repoCredentials": "vault"}  # type: ignore[dict-item]
    with pytest.raises(SettingsError, match="`gitops.repoCredentials` must be one of secrets-manager, none"):
        _load(config)
    config["gitops"] = {k: v for k, v in config["gitops"].items() if k != "repoCredentials"}  # type: ignore[union-attr]
    assert _load(config).gitops.repo_credentials == "secrets-manager"


def test_ci_settings_are_checked_and_ci_oidc_provider_overrides_them() -> None:
    config = _valid_config()
    base = {"deployEnvironment": "prod", "deployRoleName": "acme-prod-ci-deploy", "previewRoleName": "p"}
    config["ci"] = {**base, "githubRepository": "not a repository", "oidcProvider": "sometimes"}
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "ci.githubRepository" in text and "ci.oidcProvider" in text
    config["ci"] = {**base, "githubRepository": "acme/acme-foundation", "oidcProvider": "existing"}
    config["ciOidcProvider"] = "create"
    ci = _load(config).ci
    assert ci is not None and ci.enabled and ci.oidc_provider == "create"
    config["ci"] = {**base, "githubRepository": ""}
    del config["ciOidcProvider"]
    ci = _load(config).ci
    assert ci is not None and not ci.enabled, "a foundation outside github.com gets no CI role"


def test_github_ids_choose_the_immutable_subject_and_are_checked() -> None:
    config = _valid_config()
    config["ci"] = {
        "deployEnvironment": "prod",
        "deployRoleName": "d",
        "previewRoleName": "p",
        "githubRepository": "acme/acme-foundation",
    }
    ci = _load(config).ci
    assert ci is not None and ci.subject_format == "auto" and ci.oidc_provider_arn is None
    config |= {"ciGithubOwnerId": "123456", "ciGithubRepositoryId": "789012"}
    ci = _load(config).ci
    assert ci is not None and ci.subject_format == "ids"
    config["ciSubjectFormat"] = "both"
    assert _load(config).ci.subject_format == "both"  # type: ignore[union-attr]
    config |= {"ciGithubOwnerId": "acme", "ciOidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/example.com"}
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "ciGithubOwnerId" in text and "ciOidcProviderArn" in text
    del config["ciGithubOwnerId"], config["ciGithubRepositoryId"], config["ciOidcProviderArn"]
    with pytest.raises(SettingsError, match="ciSubjectFormat: both` needs `ciGithubOwnerId`"):
        _load(config)


def test_compute_and_identity_are_choices_and_karpenter_needs_its_pools() -> None:
    config = _node_groups_config()
    config.update(compute="karpenter", identity="pod-identity", nodePools=[])
    addons = dict(config["addons"])  # type: ignore[arg-type]
    addons.pop("karpenter", None)
    config["addons"] = addons
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "`addons.karpenter` is required" in text
    assert "`nodePools` must list at least one Karpenter NodePool" in text
    config.update(compute="fargate", identity="keys")
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "`compute` must be one of node-groups, karpenter, auto-mode, not `fargate`" in text
    assert "`identity` must be one of irsa, pod-identity, not `keys`" in text


def test_auto_mode_runs_no_node_group_of_its_own() -> None:
    config = _node_groups_config()
    addons = {**config["addons"], "nodePool": "general"}  # type: ignore[dict-item]
    config.update(compute="auto-mode", nodePools=[], addons=addons)
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "`nodeGroups` must be empty with `compute: auto-mode`" in text
    assert "`addons.nodePool` is not read with `compute: auto-mode`" in text
    del addons["nodePool"]
    config.update(nodeGroups=[], addons=addons)
    settings = _load(config)
    assert settings.auto_mode and not settings.karpenter and settings.node_groups == ()


def test_a_stack_file_without_the_choices_keeps_node_groups_and_irsa() -> None:
    config = _node_groups_config()
    for key in ("compute", "identity", "nodePools"):
        config.pop(key, None)
    settings = _load(config)
    assert (settings.compute, settings.identity, settings.node_pools) == ("node-groups", "irsa", ())


def test_karpenters_ami_alias_floats_unless_the_stack_pins_a_release() -> None:
    config = _valid_config()
    config.pop("karpenterAmiAlias", None)
    assert _load(config).karpenter_ami_alias == "al2023@latest"
    assert _load({**config, "karpenterAmiAlias": "al2023@v20251209"}).karpenter_ami_alias == "al2023@v20251209"
    for wrong in ("al2023", "bottlerocket@latest", "al2023@2025"):
        with pytest.raises(SettingsError, match="karpenterAmiAlias"):
            _load({**config, "karpenterAmiAlias": wrong})


def test_an_account_of_its_own_and_its_delegated_zone_are_checked() -> None:
    config = _valid_config()
    config.pop("account", None)
    config.pop("dnsZone", None)
    settings = _load(config)
    assert (settings.account, settings.zone) == ("", config["domain"])
    # A stack in an account of its own hosts one environment, under its own zone.
    env = dict(config["environments"][0])  # type: ignore[index]
    config["environments"] = [env]
    config["serviceRoles"] = [r for r in config.get("serviceRoles") or [] if r["namespace"] == env["namespace"]]  # type: ignore[union-attr]
    env["certificate"] = {"domainName": f"*.{env['name']}.{config['domain']}", "subjectAlternativeNames": []}
    config["account"], config["dnsZone"] = "222222222222", f"{env['name']}.{config['domain']}"
    settings = _load(config)
    assert (settings.account, settings.zone) == ("222222222222", f"{env['name']}.{config['domain']}")
    config["account"], config["dnsZone"] = "2222", "example.org"
    env["certificate"] = {"domainName": f"*.{config['domain']}", "subjectAlternativeNames": []}
    with pytest.raises(SettingsError) as error:
        _load(config)
    text = "\n".join(error.value.problems)
    assert "`account` must be an AWS account id of twelve digits, not `2222`" in text
    assert f"`dnsZone` must be a subdomain of `domain` `{config['domain']}`, not `example.org`" in text
    assert f"`*.{config['domain']}`, which is not under `domain` `example.org`" in text
