"""Stack configuration, read once and validated into typed settings.

This module owns the contract between strata and the program: every key of
`Pulumi.<stack>.yaml` is read here (and only here) and turned into frozen
dataclasses. Validation reports every problem at once, so a broken stack file
is fixed in one pass. Nothing in this module creates a resource.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pulumi

# The limits strata checks too, written by strata from its own definitions (see `limits.py`).
from limits import (
    ADDON_REPLICAS_MAX,
    ADDON_REPLICAS_MIN,
    AWS_PARTITIONS,
    AZ_COUNT_MAX,
    AZ_COUNT_MIN,
    CAPACITY_TYPES,
    COMPUTE_CHOICES,
    EKS_CLUSTER_NAME_MAX,
    ENVIRONMENT_NAME_MAX,
    EXTERNAL_DNS_POLICIES,
    GIT_URL_PREFIXES,
    GITHUB_OWNER_MAX,
    GITHUB_REPOSITORY_NAME_MAX,
    HOSTNAME_MAX,
    IAM_ROLE_NAME_MAX,
    IDENTITY_CHOICES,
    IDN_TLD_PREFIX,
    KUBERNETES_VERSIONS,
    LABEL_MAX,
    LOG_RETENTION_DAYS,
    LOG_TYPES,
    NAT_STRATEGIES,
    NODE_DISK_GIB_MAX,
    NODE_DISK_GIB_MIN,
    NODE_GROUP_NAME_MAX,
    PROJECT_NAME_MAX,
    REPO_CREDENTIALS,
    REQUIRED_LOG_TYPES,
    RESERVED_ENVIRONMENT_NAMES,
    RESERVED_NAMESPACE_PREFIX,
    RESERVED_NAMESPACES,
    ROLE_PATH_NAME_MAX,
    S3_BUCKET_MAX,
    S3_BUCKET_MIN,
    SERVICE_NAME_MAX,
    SUPPORT_TYPES,
    TAINT_EFFECTS,
    TLD_MIN,
    VPC_PREFIX_MAX,
    VPC_PREFIX_MIN,
)

OIDC_PROVIDER_MODES = ("create", "existing")
# The forms of GitHub's OIDC `sub` the CI roles trust: `names` (`repo:<owner>/<name>:...`),
# `ids` (`repo:<owner>@<owner id>/<name>@<repository id>:...`, GitHub's immutable subject), or
# `both` (while a repository moves to the immutable subject).
SUBJECT_FORMATS = ("auto", "names", "ids", "both")
DNS_DELEGATION_CHECKS = ("stop", "warn")
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
_LABEL = rf"[a-z0-9]([-a-z0-9]{{0,{LABEL_MAX - 2}}}[a-z0-9])?"
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
# strata's names (project, environment, service, node group): a DNS-1035 label without `--`; their
# length is checked on its own. An environment's name holds no `-` at all.
_NAME = re.compile(r"^[a-z](-?[a-z0-9])*$")
_ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]*$")
_CLUSTER_NAME = re.compile(rf"^[0-9A-Za-z][A-Za-z0-9_-]{{0,{EKS_CLUSTER_NAME_MAX - 1}}}$")
_PARTITION = "(" + "|".join(map(re.escape, AWS_PARTITIONS)) + ")"
_ROLE_ARN = re.compile(
    rf"^arn:{_PARTITION}:iam::[0-9]{{12}}:role/(?!/)[A-Za-z0-9+=,.@_/-]{{1,{ROLE_PATH_NAME_MAX}}}(?<!/)$"
)
_POLICY_ARN = re.compile(rf"^arn:{_PARTITION}:iam::([0-9]{{12}}|aws):policy/[\w+=,.@/-]+$")
_IAM_ROLE_NAME = re.compile(rf"^[\w+=,.@-]{{1,{IAM_ROLE_NAME_MAX}}}$")
# A top-level domain: letters, or an internationalized one (`xn--` and its punycode).
_IDN_TLD = rf"{re.escape(IDN_TLD_PREFIX)}[-a-z0-9]{{0,{LABEL_MAX - len(IDN_TLD_PREFIX) - 1}}}[a-z0-9]"
_TLD = rf"([a-z]{{{TLD_MIN},{LABEL_MAX}}}|{_IDN_TLD})"
_DOMAIN = re.compile(rf"^(?=.{{1,{HOSTNAME_MAX}}}$)({_LABEL}\.)+{_TLD}$")
_IMAGE_TAG = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+$")
# A certificate name: a DNS name, optionally a wildcard in its leftmost label only.
_CERTIFICATE_NAME = re.compile(rf"^(\*\.)?({_LABEL}\.)+{_TLD}$")
# The load balancer controller's IngressGroup names: lowercase alphanumerics and `-`, a DNS label.
_INGRESS_GROUP = _DNS_LABEL
# `owner/name` of a GitHub repository (GitHub's own character set for both parts).
_GITHUB_REPOSITORY = re.compile(
    rf"^[A-Za-z0-9-]{{1,{GITHUB_OWNER_MAX}}}/[A-Za-z0-9._-]{{1,{GITHUB_REPOSITORY_NAME_MAX}}}$"
)
_S3_BUCKET = re.compile(rf"^(?!.*\.\.)[a-z0-9][a-z0-9.-]{{{S3_BUCKET_MIN - 2},{S3_BUCKET_MAX - 2}}}[a-z0-9]$")


def _is_name(value: str, max_length: int) -> bool:
    """`value` is one of strata's names of at most `max_length` characters."""
    return len(value) <= max_length and bool(_NAME.match(value))


_REQUIRED: Any = object()


class SettingsError(ValueError):
    """Raised with every problem found in the stack configuration."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Network:
    """The VPC layout: one public and one private subnet in each of `az_count` AZs, at the exact
    CIDRs strata chose (so that the gitops repo's NetworkPolicies can admit the load balancers'
    public subnets and nothing else)."""

    cidr: str
    az_count: int
    nat_gateways: str  # "Single" or "OnePerAz" (the awsx NatGatewayStrategy wire values)
    private_subnet_cidrs: tuple[str, ...]
    public_subnet_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class Endpoint:
    """Who may reach the Kubernetes API server endpoint."""

    private_access: bool
    public_access: bool
    public_access_cidrs: tuple[str, ...]
    # Who reaches the private endpoint from inside the VPC or a connected network (a self-hosted
    # CI runner, a VPN): HTTPS ingress to the cluster security group. Top-level keys
    # `endpointIngressSecurityGroupIds` and `endpointIngressCidrs`, which strata does not write.
    ingress_security_group_ids: tuple[str, ...] = ()
    ingress_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Taint:
    """A node taint in the EKS API form (`effect` is NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE)."""

    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeGroup:
    """One EKS managed node group."""

    name: str
    instance_types: tuple[str, ...]
    capacity_type: str
    min_size: int
    max_size: int
    desired_size: int
    disk_size: int
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    ami_type: str


@dataclass(frozen=True)
class NodePool:
    """One Karpenter NodePool (with `compute: karpenter`): what it may launch, and how many nodes."""

    name: str
    instance_types: tuple[str, ...]
    capacity_type: str
    max_nodes: int
    disk_size: int


@dataclass(frozen=True)
class ChartAddon:
    """A Helm-installed add-on: its pinned chart version, replica count and chart repository."""

    chart_version: str
    replicas: int
    repository: str | None = None


@dataclass(frozen=True)
class ClusterAutoscaler(ChartAddon):
    """Cluster Autoscaler; `image_tag` must match the cluster's minor version."""

    image_tag: str = ""


@dataclass(frozen=True)
class ExternalDns(ChartAddon):
    """ExternalDNS; `policy` is upsert-only, sync or create-only."""

    policy: str = "sync"


@dataclass(frozen=True)
class ArgoCd(ChartAddon):
    """Argo CD; `ha` switches on the chart's HA values."""

    ha: bool = False


@dataclass(frozen=True)
class Addons:
    """Versions and sizes of every platform add-on."""

    load_balancer_controller: ChartAddon
    cluster_autoscaler: ClusterAutoscaler
    metrics_server: ChartAddon
    external_dns: ExternalDns
    external_secrets: ChartAddon
    argocd: ArgoCd
    ebs_csi_addon_version: str | None
    node_pool: str | None
    karpenter: ChartAddon | None = None


@dataclass(frozen=True)
class Quota:
    """ResourceQuota of an environment namespace (Kubernetes quantities as strings)."""

    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    pods: str


@dataclass(frozen=True)
class Limits:
    """LimitRange of an environment namespace: container defaults and maxima."""

    default_cpu: str
    default_memory: str
    default_request_cpu: str
    default_request_memory: str
    max_cpu: str
    max_memory: str


@dataclass(frozen=True)
class Certificate:
    """The ACM certificate of an environment's load balancers: a name and its alternative names.

    Every name must be the `domain` or under it, because the DNS validation records go into
    the domain's public hosted zone.
    """

    domain_name: str
    subject_alternative_names: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the certificate covers, the primary one first."""
        return (self.domain_name, *self.subject_alternative_names)


@dataclass(frozen=True)
class Environment:
    """An environment hosted by this cluster: one namespace, its certificate, its root Argo CD Application."""

    name: str
    namespace: str
    quota: Quota
    limits: Limits
    certificate: Certificate
    log_retention_days: int = 30  # the retention of the environment's container log group (logging on)


@dataclass(frozen=True)
class GitOps:
    """Where Argo CD pulls the applications from, and how it authenticates.

    `repo_credentials` is `secrets-manager` (a private repository: Argo CD's credential comes
    from the Secrets Manager secret `<project>/argocd/gitops-repo` through External Secrets)
    or `none` (a public repository).
    """

    repo_url: str
    target_revision: str
    repo_credentials: str = "secrets-manager"


@dataclass(frozen=True)
class PlatformServices:
    """Layer 3: which platform services the gitops repo's `platform/` tree deploys on this cluster.

    The charts themselves are Argo CD Applications of the gitops repository; the foundation
    creates what they need from AWS and the cluster: namespaces, the IRSA role and log groups
    of the log shipper, Grafana's admin secret, and the AppProject and root Application.
    """

    monitoring: bool = False
    logging: bool = False
    path: str = ""  # the gitops repo's folder of this cluster's platform Applications, `platform/<stack>/apps`

    @property
    def any(self) -> bool:
        """Whether any platform service is on (then the `platform` root Application exists)."""
        return self.monitoring or self.logging


@dataclass(frozen=True)
class ServiceRole:
    """An IRSA role for one application service account."""

    service: str
    role_name: str
    namespace: str
    service_account: str
    policy_arns: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The key of this role in the `serviceRoleArns` output: `<namespace>/<service>`."""
        return f"{self.namespace}/{self.service}"


@dataclass(frozen=True)
class Ci:
    """GitHub Actions' access to AWS (`ci`, see `ci_access.py`).

    `github_repository` (`owner/name`) is the foundation repository whose workflows may assume
    the roles; empty when the repository is not on github.com, and then no CI role exists.
    `oidc_provider` is `create` for the one stack of an AWS account that creates GitHub's OIDC
    provider (strata writes it per account) and `existing` for the others; the key
    `ciOidcProvider` (not written by strata) overrides it. `oidc_provider_arn`
    (`ciOidcProviderArn`, not written by strata) names a provider that already exists in the
    account, made by anything else: the stack then neither creates nor looks one up.

    `github_owner_id` and `github_repository_id` (`ciGithubOwnerId`, `ciGithubRepositoryId`, not
    written by strata: GitHub's numeric ids, which strata cannot know) and `subject_format`
    (`ciSubjectFormat`) choose the `sub` the roles trust: GitHub's immutable subject
    (`repo:<owner>@<owner id>/<name>@<repository id>:...`, the default for repositories created
    since July 2026: `ids`, the default once both ids are set), the name-only one (`names`), both
    exactly (`both`), or, the default without ids, `auto`: the name-only subject exactly and the
    immutable one with any ids (`repo:<owner>@*/<name>@*:...`), so that CI works for a repository
    made today before anyone looks its ids up. Owner and repository names hold no `@`, `/` or
    `:`, so the pattern matches this repository's jobs only, whatever its ids.
    """

    github_repository: str
    deploy_environment: str
    deploy_role_name: str
    preview_role_name: str
    oidc_provider: str = "create"
    state_bucket: str | None = None
    state_prefix: str = ""
    secrets_provider: str | None = None
    oidc_provider_arn: str | None = None
    github_owner_id: str = ""
    github_repository_id: str = ""
    subject_format: str = "auto"

    @property
    def enabled(self) -> bool:
        """Whether the stack creates CI roles at all."""
        return bool(self.github_repository)


@dataclass(frozen=True)
class Settings:
    """Everything the program needs, validated."""

    project: str
    region: str
    cluster_name: str
    kubernetes_version: str
    support_type: str
    cluster_log_types: tuple[str, ...]
    network: Network
    endpoint: Endpoint
    admin_role_arns: tuple[str, ...]
    node_groups: tuple[NodeGroup, ...]
    addons: Addons
    domain: str
    environments: tuple[Environment, ...]
    gitops: GitOps
    service_roles: tuple[ServiceRole, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    platform_services: PlatformServices = PlatformServices()
    ci: Ci | None = None
    # `dnsDelegationCheck` (not written by strata): `stop` at preview when the domain is not
    # delegated to its hosted zone, or only `warn` (see `dns_delegation.py`).
    dns_delegation_check: str = "stop"
    # `compute`: `node-groups` (Cluster Autoscaler), `karpenter` (`nodePools`) or `auto-mode`
    # (EKS Auto Mode's built-in node pools, no `nodeGroups`);
    # `identity`: `irsa` or `pod-identity`. Stack files written before either existed have none.
    compute: str = "node-groups"
    identity: str = "irsa"
    node_pools: tuple[NodePool, ...] = ()
    # `account`: the AWS account this stack deploys into, when each environment lives in an
    # account of its own (`strata new --account`); the provider's `aws:allowedAccountIds` and
    # the AWS profile of the stack keep it there, and `aws_context.py` checks it. Empty: the caller's.
    account: str = ""
    # `dnsZone`: the stack's public hosted zone, `<env>.<domain>` in an account of its own
    # (delegated from the zone of `domain`); empty: the zone of `domain`.
    dns_zone: str = ""
    # `karpenterAmiAlias` (not written by strata): the AL2023 release Karpenter's nodes run,
    # `al2023@latest` (every new AMI rolls the nodes, within the disruption budgets) or a pinned
    # `al2023@vYYYYMMDD`, which Karpenter recommends for production (`managing-amis`).
    karpenter_ami_alias: str = "al2023@latest"

    @property
    def zone(self) -> str:
        """The domain of the stack's public hosted zone: `dnsZone`, else `domain`."""
        return self.dns_zone or self.domain

    @property
    def karpenter(self) -> bool:
        return self.compute == "karpenter"

    @property
    def auto_mode(self) -> bool:
        return self.compute == "auto-mode"

    @property
    def pod_identity(self) -> bool:
        return self.identity == "pod-identity"


_C = TypeVar("_C", bound=ChartAddon)


class _Reader:
    """Reads raw config values and collects problems instead of failing on the first one."""

    def __init__(self, config: pulumi.Config, aws_config: pulumi.Config) -> None:
        self._config = config
        self._aws_config = aws_config
        self.problems: list[str] = []

    @property
    def namespace(self) -> str:
        """The configuration namespace of the program's keys: the Pulumi project, `<project>-foundation`."""
        return self._config.name

    def fail(self, message: str) -> None:
        """Record a problem."""
        self.problems.append(message)

    def check(self, ok: bool, message: str) -> None:
        """Record `message` unless `ok`."""
        if not ok:
            self.fail(message)

    def raw(self, key: str, default: Any = _REQUIRED) -> Any:
        """A top-level object or list key, decoded from the JSON Pulumi passes.

        A missing key without a default is reported as a problem and read as `None`.
        """
        try:
            value = self._config.get_object(key)
        except ValueError:
            self.fail(f"`{key}` must be an object or a list")
            return None
        if value is None:
            if default is _REQUIRED:
                self.fail(f"`{key}` is required")
                return None
            return default
        return value

    def text(self, key: str, default: str | None = None) -> str:
        """A top-level string key, exactly as written (`"1.30"` stays `1.30`)."""
        value = self._config.get(key)
        if value is None or not value.strip():
            if default is None:
                self.fail(f"`{key}` is required")
                return ""
            return default
        if value.lstrip().startswith(("{", "[")):
            self.fail(f"`{key}` must be a string")
            return ""
        return value

    def region(self) -> str:
        """The provider's `aws:region`."""
        region = self._aws_config.get("region")
        if not region:
            self.fail("`aws:region` is required")
            return ""
        return region


def _text(r: _Reader, obj: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    """A string field of a config object; numbers and booleans are accepted as their text."""
    value = obj.get(key, default) if isinstance(obj, Mapping) else default
    if value is None or (isinstance(value, str) and not value.strip()):
        r.fail(f"`{where}.{key}` is required")
        return ""
    if isinstance(value, (dict, list)):
        r.fail(f"`{where}.{key}` must be a string")
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _int(r: _Reader, obj: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    """An integer field of a config object."""
    value = obj.get(key, default) if isinstance(obj, Mapping) else default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        r.fail(f"`{where}.{key}` must be an integer")
        return 0
    try:
        return int(value)
    except ValueError:
        r.fail(f"`{where}.{key}` must be an integer, not `{value}`")
        return 0


def _bool(r: _Reader, obj: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    """A boolean field of a config object."""
    value = obj.get(key, default) if isinstance(obj, Mapping) else default
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        r.fail(f"`{where}.{key}` must be true or false")
        return default
    return value


def _strings(r: _Reader, value: Any, where: str) -> tuple[str, ...]:
    """A list of strings; `None` reads as empty."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        r.fail(f"`{where}` must be a list of strings")
        return ()
    return tuple(value)


def _mapping(r: _Reader, value: Any, where: str) -> Mapping[str, Any]:
    """An object; anything else is reported and read as empty."""
    if not isinstance(value, Mapping):
        r.fail(f"`{where}` must be an object")
        return {}
    return value


def _one_of(r: _Reader, value: str, allowed: tuple[str, ...], where: str) -> str:
    """Report `value` unless it is one of `allowed`."""
    r.check(value in allowed, f"`{where}` must be one of {', '.join(allowed)}, not `{value}`")
    return value


def _read_network(r: _Reader) -> Network:
    """`network`: VPC CIDR, AZ count, NAT strategy and the subnets of each AZ."""
    raw = _mapping(r, r.raw("network", {}), "network")
    network = Network(
        cidr=_text(r, raw, "cidr", "network", "10.0.0.0/16"),
        az_count=_int(r, raw, "azCount", "network", 2),
        nat_gateways=_text(r, raw, "natGateways", "network", "OnePerAz"),
        private_subnet_cidrs=_strings(r, raw.get("privateSubnetCidrs"), "network.privateSubnetCidrs"),
        public_subnet_cidrs=_strings(r, raw.get("publicSubnetCidrs"), "network.publicSubnetCidrs"),
    )
    _one_of(r, network.nat_gateways, NAT_STRATEGIES, "network.natGateways")
    r.check(
        AZ_COUNT_MIN <= network.az_count <= AZ_COUNT_MAX,
        f"`network.azCount` must be between {AZ_COUNT_MIN} and {AZ_COUNT_MAX} (load balancers need two AZs)",
    )
    try:
        vpc = ipaddress.IPv4Network(network.cidr)
    except ValueError:
        r.fail(f"`network.cidr` is not an IPv4 network: `{network.cidr}`")
        return network
    r.check(
        VPC_PREFIX_MIN <= vpc.prefixlen <= VPC_PREFIX_MAX,
        f"`network.cidr` must be a /{VPC_PREFIX_MIN} to /{VPC_PREFIX_MAX} network, not /{vpc.prefixlen}",
    )
    subnets: list[ipaddress.IPv4Network] = []
    for key, cidrs in (
        ("privateSubnetCidrs", network.private_subnet_cidrs),
        ("publicSubnetCidrs", network.public_subnet_cidrs),
    ):
        r.check(len(cidrs) == network.az_count, f"`network.{key}` must list one CIDR per AZ ({network.az_count})")
        for cidr in cidrs:
            try:
                subnet = ipaddress.IPv4Network(cidr)
            except ValueError:
                r.fail(f"`network.{key}` has an invalid network `{cidr}`")
                continue
            r.check(subnet.subnet_of(vpc), f"`network.{key}`: `{cidr}` is outside the VPC `{network.cidr}`")
            r.check(
                not any(subnet.overlaps(other) for other in subnets),
                f"`network.{key}`: `{cidr}` overlaps another subnet",
            )
            subnets.append(subnet)
    return network


_SECURITY_GROUP_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")


def _is_ipv4_network(value: str) -> bool:
    """`value` is an IPv4 network in CIDR notation (host bits clear)."""
    try:
        return isinstance(ipaddress.ip_network(value), ipaddress.IPv4Network) and "/" in value
    except ValueError:
        return False


def _read_endpoint(r: _Reader) -> Endpoint:
    """`endpoint`: who may reach the API server."""
    raw = _mapping(r, r.raw("endpoint", {}), "endpoint")
    endpoint = Endpoint(
        private_access=_bool(r, raw, "privateAccess", "endpoint", True),
        public_access=_bool(r, raw, "publicAccess", "endpoint", False),
        public_access_cidrs=_strings(r, raw.get("publicAccessCidrs"), "endpoint.publicAccessCidrs"),
        ingress_security_group_ids=_strings(
            r, r.raw("endpointIngressSecurityGroupIds", []), "endpointIngressSecurityGroupIds"
        ),
        ingress_cidrs=_strings(r, r.raw("endpointIngressCidrs", []), "endpointIngressCidrs"),
    )
    for group in endpoint.ingress_security_group_ids:
        r.check(
            bool(_SECURITY_GROUP_ID.match(group)),
            f"`endpointIngressSecurityGroupIds`: `{group}` is not a security group id (sg-...)",
        )
    for cidr in endpoint.ingress_cidrs:
        r.check(_is_ipv4_network(cidr), f"`endpointIngressCidrs`: `{cidr}` is not an IPv4 CIDR")
    r.check(endpoint.private_access or endpoint.public_access, "`endpoint` needs private or public access")
    if endpoint.public_access:
        # Fail closed: an empty list would open the Kubernetes API to the whole internet.
        key = f"{r.namespace}:endpoint.publicAccessCidrs"
        r.check(
            bool(endpoint.public_access_cidrs),
            f"`{key}` is empty while `endpoint.publicAccess` is true, which would open the Kubernetes API "
            "to the whole internet: strata owns this key, so list the networks allowed to reach it with "
            "`strata set cluster.public_access_cidrs=203.0.113.0/24` (it changes `strata.toml` of both "
            "repos and rewrites the stack files; or generate the workspace with "
            "`strata new --api-cidrs 203.0.113.0/24`); to keep the API private, "
            "`strata set cluster.endpoint_public_access=false` instead and run Pulumi from inside the VPC",
        )
    else:
        r.check(
            not endpoint.public_access_cidrs, "`endpoint.publicAccessCidrs` is only allowed with `publicAccess: true`"
        )
    for cidr in endpoint.public_access_cidrs:
        try:
            ipaddress.IPv4Network(cidr)
        except ValueError:
            r.fail(f"`endpoint.publicAccessCidrs` has an invalid network `{cidr}`")
    return endpoint


def _read_taint(r: _Reader, raw: Any, where: str) -> Taint:
    """One `nodeGroups[].taints[]` entry."""
    raw = _mapping(r, raw, where)
    taint = Taint(
        key=_text(r, raw, "key", where),
        value=_text(r, raw, "value", where, ""),
        effect=_text(r, raw, "effect", where),
    )
    _one_of(r, taint.effect, TAINT_EFFECTS, f"{where}.effect")
    return taint


def _read_node_group(r: _Reader, raw: Any, index: int) -> NodeGroup:
    """One `nodeGroups[]` entry."""
    where = f"nodeGroups[{index}]"
    raw = _mapping(r, raw, where)
    labels = _mapping(r, raw.get("labels") or {}, f"{where}.labels")
    group = NodeGroup(
        name=_text(r, raw, "name", where),
        instance_types=_strings(r, raw.get("instanceTypes"), f"{where}.instanceTypes"),
        capacity_type=_text(r, raw, "capacityType", where, "ON_DEMAND"),
        min_size=_int(r, raw, "minSize", where),
        max_size=_int(r, raw, "maxSize", where),
        desired_size=_int(r, raw, "desiredSize", where),
        disk_size=_int(r, raw, "diskSize", where, 50),
        labels={str(k): str(v) for k, v in labels.items()},
        taints=tuple(_read_taint(r, t, f"{where}.taints[{i}]") for i, t in enumerate(raw.get("taints") or [])),
        ami_type=_text(r, raw, "amiType", where, "AL2023_x86_64_STANDARD"),
    )
    r.check(
        _is_name(group.name, NODE_GROUP_NAME_MAX),
        f"`{where}.name` must be a DNS-1035 label of at most {NODE_GROUP_NAME_MAX} characters, not `{group.name}`",
    )
    r.check(bool(group.instance_types), f"`{where}.instanceTypes` must not be empty")
    _one_of(r, group.capacity_type, CAPACITY_TYPES, f"{where}.capacityType")
    r.check(
        0 <= group.min_size <= group.desired_size <= group.max_size and group.max_size >= 1,
        f"`{where}` needs 0 <= minSize <= desiredSize <= maxSize and maxSize >= 1",
    )
    r.check(
        NODE_DISK_GIB_MIN <= group.disk_size <= NODE_DISK_GIB_MAX,
        f"`{where}.diskSize` must be between {NODE_DISK_GIB_MIN} and {NODE_DISK_GIB_MAX} GiB",
    )
    r.check(group.ami_type.startswith("AL2023_"), f"`{where}.amiType` must be an AL2023 AMI type")
    r.check("strata.io/pool" not in group.labels, f"`{where}.labels` may not set `strata.io/pool`")
    return group


def _read_node_pool(r: _Reader, raw: Any, index: int) -> NodePool:
    """One `nodePools[]` entry."""
    where = f"nodePools[{index}]"
    raw = _mapping(r, raw, where)
    pool = NodePool(
        name=_text(r, raw, "name", where),
        instance_types=_strings(r, raw.get("instanceTypes"), f"{where}.instanceTypes"),
        capacity_type=_text(r, raw, "capacityType", where, "ON_DEMAND"),
        max_nodes=_int(r, raw, "maxNodes", where),
        disk_size=_int(r, raw, "diskSize", where, 50),
    )
    r.check(
        _is_name(pool.name, NODE_GROUP_NAME_MAX),
        f"`{where}.name` must be a DNS-1035 label of at most {NODE_GROUP_NAME_MAX} characters, not `{pool.name}`",
    )
    r.check(bool(pool.instance_types), f"`{where}.instanceTypes` must not be empty")
    _one_of(r, pool.capacity_type, CAPACITY_TYPES, f"{where}.capacityType")
    r.check(pool.max_nodes >= 1, f"`{where}.maxNodes` must be at least 1")
    r.check(
        NODE_DISK_GIB_MIN <= pool.disk_size <= NODE_DISK_GIB_MAX,
        f"`{where}.diskSize` must be between {NODE_DISK_GIB_MIN} and {NODE_DISK_GIB_MAX} GiB",
    )
    return pool


def _read_chart(r: _Reader, raw: Mapping[str, Any], key: str, cls: type[_C]) -> tuple[_C, Mapping[str, Any], str]:
    """The fields every Helm add-on shares; also returns its raw object and config path for the rest."""
    where = f"addons.{key}"
    obj = _mapping(r, raw.get(key, {}), where)
    addon = cls(
        chart_version=_text(r, obj, "chartVersion", where),
        replicas=_int(r, obj, "replicas", where, 1),
        repository=str(obj.get("repository") or "") or None,
    )
    r.check(
        ADDON_REPLICAS_MIN <= addon.replicas <= ADDON_REPLICAS_MAX,
        f"`{where}.replicas` must be between {ADDON_REPLICAS_MIN} and {ADDON_REPLICAS_MAX}",
    )
    return addon, obj, where


def _read_addons(r: _Reader) -> Addons:
    """`addons`: chart versions, replicas and add-on specific settings."""
    raw = _mapping(r, r.raw("addons") or {}, "addons")
    ebs = _mapping(r, raw.get("ebsCsiDriver") or {}, "addons.ebsCsiDriver")
    autoscaler, obj, where = _read_chart(r, raw, "clusterAutoscaler", ClusterAutoscaler)
    autoscaler = replace(autoscaler, image_tag=_text(r, obj, "imageTag", where))
    external_dns, obj, where = _read_chart(r, raw, "externalDns", ExternalDns)
    external_dns = replace(external_dns, policy=_text(r, obj, "policy", where, "sync"))
    argocd, obj, where = _read_chart(r, raw, "argocd", ArgoCd)
    argocd = replace(argocd, ha=_bool(r, obj, "ha", where, False))
    addons = Addons(
        load_balancer_controller=_read_chart(r, raw, "awsLoadBalancerController", ChartAddon)[0],
        cluster_autoscaler=autoscaler,
        metrics_server=_read_chart(r, raw, "metricsServer", ChartAddon)[0],
        external_dns=external_dns,
        external_secrets=_read_chart(r, raw, "externalSecrets", ChartAddon)[0],
        argocd=argocd,
        ebs_csi_addon_version=str(ebs.get("addonVersion") or "") or None,
        node_pool=str(raw.get("nodePool") or "") or None,
        karpenter=_read_chart(r, raw, "karpenter", ChartAddon)[0] if "karpenter" in raw else None,
    )
    _one_of(r, addons.external_dns.policy, EXTERNAL_DNS_POLICIES, "addons.externalDns.policy")
    r.check(
        bool(_IMAGE_TAG.match(addons.cluster_autoscaler.image_tag)),
        "`addons.clusterAutoscaler.imageTag` must look like `v1.35.2`",
    )
    return addons


def _read_certificate(
    r: _Reader, raw: Mapping[str, Any], where: str, env_name: str, domain: str, zone: str
) -> Certificate:
    """`environments[].certificate`; without it, `*.<env>.<domain>` (older stack files have none).
    Every name must be under `zone`, the stack's hosted zone (`dnsZone`, else `domain`)."""
    if raw.get("certificate") is None:
        return Certificate(domain_name=f"*.{env_name}.{domain}")
    domain = zone
    cw = f"{where}.certificate"
    obj = _mapping(r, raw.get("certificate"), cw)
    certificate = Certificate(
        domain_name=_text(r, obj, "domainName", cw),
        subject_alternative_names=_strings(r, obj.get("subjectAlternativeNames"), f"{cw}.subjectAlternativeNames"),
    )
    for name in certificate.names:
        if not _CERTIFICATE_NAME.match(name):
            r.fail(f"`{cw}` has `{name}`, which is not a DNS name (a wildcard only as the first label)")
        elif _DOMAIN.match(domain) and not (name == domain or name.endswith("." + domain)):
            r.fail(
                f"`{cw}` has `{name}`, which is not under `domain` `{domain}`: its DNS validation record "
                "must go into that domain's hosted zone"
            )
    _unique(r, list(certificate.names), f"`{cw}` name")
    return certificate


def _read_environment(r: _Reader, raw: Any, index: int, domain: str, zone: str) -> Environment:
    """One `environments[]` entry."""
    where = f"environments[{index}]"
    raw = _mapping(r, raw, where)
    quota = _mapping(r, raw.get("quota", {}), f"{where}.quota")
    limits = _mapping(r, raw.get("limits", {}), f"{where}.limits")
    qw, lw = f"{where}.quota", f"{where}.limits"
    name = _text(r, raw, "name", where)
    env = Environment(
        name=name,
        namespace=_text(r, raw, "namespace", where, raw.get("name")),
        quota=Quota(
            requests_cpu=_text(r, quota, "requestsCpu", qw),
            requests_memory=_text(r, quota, "requestsMemory", qw),
            limits_cpu=_text(r, quota, "limitsCpu", qw),
            limits_memory=_text(r, quota, "limitsMemory", qw),
            pods=_text(r, quota, "pods", qw),
        ),
        limits=Limits(
            default_cpu=_text(r, limits, "defaultCpu", lw),
            default_memory=_text(r, limits, "defaultMemory", lw),
            default_request_cpu=_text(r, limits, "defaultRequestCpu", lw),
            default_request_memory=_text(r, limits, "defaultRequestMemory", lw),
            max_cpu=_text(r, limits, "maxCpu", lw),
            max_memory=_text(r, limits, "maxMemory", lw),
        ),
        certificate=_read_certificate(r, raw, where, name, domain, zone),
        log_retention_days=_int(r, raw, "logRetentionDays", where, 30),
    )
    r.check(
        env.log_retention_days in LOG_RETENTION_DAYS,
        f"`{where}.logRetentionDays` must be a CloudWatch Logs retention ({', '.join(map(str, LOG_RETENTION_DAYS))})",
    )
    r.check(
        len(env.name) <= ENVIRONMENT_NAME_MAX and bool(_ENVIRONMENT_NAME.match(env.name)),
        f"`{where}.name` must be lowercase letters and digits, a letter first, at most {ENVIRONMENT_NAME_MAX} "
        f"characters, not `{env.name}`",
    )
    r.check(
        env.name not in RESERVED_ENVIRONMENT_NAMES and env.name not in RESERVED_NAMESPACES,
        f"`{where}.name` `{env.name}` is reserved",
    )
    r.check(bool(_DNS_LABEL.match(env.namespace)), f"`{where}.namespace` must be a DNS label, not `{env.namespace}`")
    r.check(
        env.namespace not in RESERVED_NAMESPACES and not env.namespace.startswith(RESERVED_NAMESPACE_PREFIX),
        f"`{where}.namespace` `{env.namespace}` is reserved",
    )
    return env


def _read_service_role(r: _Reader, raw: Any, index: int) -> ServiceRole:
    """One `serviceRoles[]` entry."""
    where = f"serviceRoles[{index}]"
    raw = _mapping(r, raw, where)
    role = ServiceRole(
        service=_text(r, raw, "service", where),
        role_name=_text(r, raw, "roleName", where),
        namespace=_text(r, raw, "namespace", where),
        service_account=_text(r, raw, "serviceAccount", where, raw.get("service")),
        policy_arns=_strings(r, raw.get("policyArns"), f"{where}.policyArns"),
    )
    r.check(bool(_IAM_ROLE_NAME.match(role.role_name)), f"`{where}.roleName` is not a valid IAM role name")
    for key, name in (("service", role.service), ("serviceAccount", role.service_account)):
        r.check(
            _is_name(name, SERVICE_NAME_MAX),
            f"`{where}.{key}` must be a service name (a DNS-1035 label of at most {SERVICE_NAME_MAX} characters)",
        )
    for arn in role.policy_arns:
        r.check(bool(_POLICY_ARN.match(arn)), f"`{where}.policyArns` has an invalid policy ARN `{arn}`")
    return role


def _read_platform_services(r: _Reader) -> PlatformServices:
    """`platformServices`: which platform services are on; older stack files have none (all off)."""
    raw = _mapping(r, r.raw("platformServices", {}), "platformServices")
    services = PlatformServices(
        monitoring=_bool(r, raw, "monitoring", "platformServices", False),
        logging=_bool(r, raw, "logging", "platformServices", False),
        path=str(raw.get("path") or ""),
    )
    r.check(
        not services.any or bool(re.match(r"^platform/[a-z0-9][-a-z0-9]*/apps$", services.path)),
        "`platformServices.path` must be `platform/<stack>/apps` when a platform service is on",
    )
    return services


def _read_ci(r: _Reader) -> Ci | None:
    """`ci`: the GitHub repository, roles and state access of CI; absent in older stack files (no CI roles)."""
    raw = r.raw("ci", None)
    if raw is None:
        return None
    raw = _mapping(r, raw, "ci")
    ci = Ci(
        github_repository=str(raw.get("githubRepository") or ""),
        deploy_environment=_text(r, raw, "deployEnvironment", "ci"),
        deploy_role_name=_text(r, raw, "deployRoleName", "ci"),
        preview_role_name=_text(r, raw, "previewRoleName", "ci"),
        oidc_provider=r.text("ciOidcProvider", _text(r, raw, "oidcProvider", "ci", "create")),
        state_bucket=str(raw.get("stateBucket") or "") or None,
        state_prefix=str(raw.get("statePrefix") or "").strip("/"),
        secrets_provider=str(raw.get("secretsProvider") or "") or None,
        oidc_provider_arn=r.text("ciOidcProviderArn", "") or None,
        github_owner_id=r.text("ciGithubOwnerId", ""),
        github_repository_id=r.text("ciGithubRepositoryId", ""),
    )
    ids = bool(ci.github_owner_id and ci.github_repository_id)
    ci = replace(ci, subject_format=r.text("ciSubjectFormat", "ids" if ids else "auto"))
    for key, value in (("ciGithubOwnerId", ci.github_owner_id), ("ciGithubRepositoryId", ci.github_repository_id)):
        r.check(not value or value.isdigit(), f"`{key}` must be GitHub's numeric id, not `{value}`")
    _one_of(r, ci.subject_format, SUBJECT_FORMATS, "ciSubjectFormat")
    r.check(
        ci.subject_format in ("auto", "names") or ids,
        f"`ciSubjectFormat: {ci.subject_format}` needs `ciGithubOwnerId` and `ciGithubRepositoryId` "
        "(`gh api repos/<owner>/<name> --jq '.owner.id, .id'`)",
    )
    if ci.oidc_provider_arn is not None:
        r.check(
            bool(
                re.match(
                    rf"^arn:{_PARTITION}:iam::\d{{12}}:oidc-provider/{re.escape(GITHUB_OIDC_HOST)}$",
                    ci.oidc_provider_arn,
                )
            ),
            f"`ciOidcProviderArn` must be the ARN of GitHub's OIDC provider "
            f"(`arn:aws:iam::<account>:oidc-provider/{GITHUB_OIDC_HOST}`), not `{ci.oidc_provider_arn}`",
        )
    if ci.github_repository:
        r.check(
            bool(_GITHUB_REPOSITORY.match(ci.github_repository)),
            f"`ci.githubRepository` must be `owner/name` of a GitHub repository, not `{ci.github_repository}`",
        )
    _one_of(r, ci.oidc_provider, OIDC_PROVIDER_MODES, "ci.oidcProvider (or ciOidcProvider)")
    for key, name in (("deployRoleName", ci.deploy_role_name), ("previewRoleName", ci.preview_role_name)):
        r.check(bool(_IAM_ROLE_NAME.match(name)), f"`ci.{key}` is not a valid IAM role name: `{name}`")
    r.check(
        ci.deploy_environment.strip() == ci.deploy_environment and len(ci.deploy_environment) <= 255,
        "`ci.deployEnvironment` must be a GitHub environment name (no surrounding spaces, at most 255 characters)",
    )
    if ci.state_bucket is not None:
        r.check(
            bool(_S3_BUCKET.match(ci.state_bucket)), f"`ci.stateBucket` is not an S3 bucket name: `{ci.state_bucket}`"
        )
    if ci.secrets_provider is not None and ci.secrets_provider.startswith("awskms://"):
        r.check(len(ci.secrets_provider) > len("awskms://"), "`ci.secretsProvider` names no KMS key after `awskms://`")
    return ci


def _unique(r: _Reader, values: list[str], what: str) -> None:
    """Report every value that appears more than once."""
    seen: set[str] = set()
    for value in values:
        r.check(value not in seen, f"{what} `{value}` appears twice")
        seen.add(value)


def _read(r: _Reader) -> Settings:
    """Read every key; problems are collected in the reader."""
    project = r.text("project")
    cluster_name = r.text("clusterName")
    domain = r.text("domain")
    zone = r.text("dnsZone", "") or domain
    log_types = _strings(r, r.raw("clusterLogTypes", list(LOG_TYPES)), "clusterLogTypes")
    node_groups = tuple(_read_node_group(r, g, i) for i, g in enumerate(r.raw("nodeGroups") or []))
    environments = tuple(_read_environment(r, e, i, domain, zone) for i, e in enumerate(r.raw("environments") or []))
    gitops = _mapping(r, r.raw("gitops") or {}, "gitops")
    service_roles = tuple(_read_service_role(r, s, i) for i, s in enumerate(r.raw("serviceRoles", []) or []))
    admin_role_arns = _strings(r, r.raw("adminRoleArns", []), "adminRoleArns")

    settings = Settings(
        project=project,
        region=r.region(),
        cluster_name=cluster_name,
        kubernetes_version=r.text("kubernetesVersion"),
        support_type=r.text("supportType", "STANDARD"),
        cluster_log_types=log_types,
        network=_read_network(r),
        endpoint=_read_endpoint(r),
        admin_role_arns=admin_role_arns,
        node_groups=node_groups,
        addons=_read_addons(r),
        domain=domain,
        environments=environments,
        gitops=GitOps(
            repo_url=_text(r, gitops, "repoUrl", "gitops"),
            target_revision=_text(r, gitops, "targetRevision", "gitops", "main"),
            repo_credentials=_one_of(
                r,
                _text(r, gitops, "repoCredentials", "gitops", "secrets-manager"),
                REPO_CREDENTIALS,
                "gitops.repoCredentials",
            ),
        ),
        service_roles=service_roles,
        tags={"Project": project, "Cluster": cluster_name, "ManagedBy": "pulumi"},
        platform_services=_read_platform_services(r),
        ci=_read_ci(r),
        dns_delegation_check=_one_of(
            r, r.text("dnsDelegationCheck", "stop"), DNS_DELEGATION_CHECKS, "dnsDelegationCheck"
        ),
        compute=_one_of(r, r.text("compute", "node-groups"), COMPUTE_CHOICES, "compute"),
        identity=_one_of(r, r.text("identity", "irsa"), IDENTITY_CHOICES, "identity"),
        node_pools=tuple(_read_node_pool(r, p, i) for i, p in enumerate(r.raw("nodePools", []) or [])),
        account=r.text("account", ""),
        dns_zone=r.text("dnsZone", ""),
        karpenter_ami_alias=r.text("karpenterAmiAlias", "al2023@latest"),
    )
    _check_cross_references(r, settings)
    return settings


def _check_cross_references(r: _Reader, s: Settings) -> None:
    """Rules that span several keys, and the formats of top-level strings."""
    r.check(
        _is_name(s.project, PROJECT_NAME_MAX),
        f"`project` must be a DNS-1035 label of at most {PROJECT_NAME_MAX} characters, not `{s.project}`",
    )
    r.check(
        bool(_CLUSTER_NAME.match(s.cluster_name)), f"`clusterName` is not a valid EKS cluster name: `{s.cluster_name}`"
    )
    _one_of(r, s.kubernetes_version, KUBERNETES_VERSIONS, "kubernetesVersion")
    _one_of(r, s.support_type, SUPPORT_TYPES, "supportType")
    for log_type in s.cluster_log_types:
        _one_of(r, log_type, LOG_TYPES, "clusterLogTypes[]")
    for log_type in REQUIRED_LOG_TYPES:
        r.check(log_type in s.cluster_log_types, f"`clusterLogTypes` must include `{log_type}`")
    for arn in s.admin_role_arns:
        r.check(bool(_ROLE_ARN.match(arn)), f"`adminRoleArns` has an invalid IAM role ARN `{arn}`")
    r.check(bool(_DOMAIN.match(s.domain)), f"`domain` is not a DNS domain: `{s.domain}`")
    r.check(
        not s.account or bool(re.fullmatch(r"[0-9]{12}", s.account)),
        f"`account` must be an AWS account id of twelve digits, not `{s.account}`",
    )
    r.check(
        not s.dns_zone or (_DOMAIN.match(s.dns_zone) is not None and s.dns_zone.endswith("." + s.domain)),
        f"`dnsZone` must be a subdomain of `domain` `{s.domain}`, not `{s.dns_zone}`",
    )
    r.check(
        re.fullmatch(r"al2023@(latest|v\d{8})", s.karpenter_ami_alias) is not None,
        "`karpenterAmiAlias` must be `al2023@latest` or a release such as `al2023@v20251209`, "
        f"not `{s.karpenter_ami_alias}`",
    )
    if s.auto_mode:
        # Auto Mode's built-in `system` and `general-purpose` pools run every pod.
        r.check(not s.node_groups, "`nodeGroups` must be empty with `compute: auto-mode` (its node pools run the pods)")
        r.check(s.addons.node_pool is None, "`addons.nodePool` is not read with `compute: auto-mode`")
    else:
        r.check(bool(s.node_groups), "`nodeGroups` must list at least one node group")
    if s.karpenter:
        r.check(s.addons.karpenter is not None, "`addons.karpenter` is required with `compute: karpenter`")
        r.check(bool(s.node_pools), "`nodePools` must list at least one Karpenter NodePool with `compute: karpenter`")
    else:
        r.check(not s.node_pools, "`nodePools` is only read with `compute: karpenter`")
    _unique(r, [p.name for p in s.node_pools], "node pool")
    r.check(bool(s.environments), "`environments` must list at least one environment")
    _unique(r, [g.name for g in s.node_groups], "node group")
    _unique(r, [e.name for e in s.environments], "environment")
    _unique(r, [e.namespace for e in s.environments], "environment namespace")
    _unique(r, [role.key for role in s.service_roles], "service role")
    _unique(r, [role.role_name for role in s.service_roles], "service role name")
    namespaces = {e.namespace for e in s.environments}
    for role in s.service_roles:
        r.check(
            role.namespace in namespaces,
            f"service role `{role.role_name}` is in namespace `{role.namespace}`, which no environment owns",
        )
    pools = {g.name for g in s.node_groups}
    if s.addons.node_pool is not None:
        r.check(s.addons.node_pool in pools, f"`addons.nodePool` `{s.addons.node_pool}` is not a node group")
    if s.addons.argocd.ha and not s.auto_mode:  # Auto Mode launches the nodes HA needs
        r.check(
            sum(g.min_size for g in s.node_groups if s.addons.node_pool in (None, g.name)) >= 3,
            "`addons.argocd.ha` needs at least 3 nodes (minSize) where the add-ons run",
        )
    r.check(s.gitops.repo_url.startswith(GIT_URL_PREFIXES), "`gitops.repoUrl` must be a git URL")
    for env in s.environments:
        for scheme in ("public", "internal"):
            group = f"{s.project}-{env.name}-{scheme}"
            r.check(
                bool(_INGRESS_GROUP.match(group)),
                f"the load balancer group `{group}` of environment `{env.name}` is longer than {LABEL_MAX} characters "
                "(shorten `project` or the environment name)",
            )


def load_settings(config: pulumi.Config | None = None, aws_config: pulumi.Config | None = None) -> Settings:
    """Read the stack configuration; raise `SettingsError` listing every problem."""
    reader = _Reader(config or pulumi.Config(), aws_config or pulumi.Config("aws"))
    settings = _read(reader)
    if reader.problems:
        raise SettingsError(reader.problems)
    return settings
