"""Platform add-ons: their IRSA roles with least-privilege policies, the Helm releases, the EKS managed add-ons.

Every Helm release pins the chart version from the stack configuration and has
an explicit release name, because the charts derive ServiceAccount names from
it and the IRSA trust policies name those accounts. Service account names are
set explicitly for the same reason. Each release is atomic (a failed install or
upgrade is rolled back, not left half applied) and has a timeout, so a stuck
rollout fails `pulumi up` instead of hanging it.

The releases wait for the node groups (pods need nodes) and for the AWS Load
Balancer Controller (its webhooks must answer before other charts create
Services and pods).

Every add-on pod is placed alike: it tolerates `CriticalAddonsOnly`, runs on
`addons.nodePool` when one is set, and has a priority class: the controllers
the cluster itself depends on (load balancers and their webhooks, autoscaling,
metrics) run as `system-cluster-critical` in kube-system, the others as
`platform-critical`.

EKS managed add-ons: the EBS CSI driver, and CoreDNS. pulumi-eks makes vpc-cni
and kube-proxy managed add-ons itself, but CoreDNS only with its default node
group, which this program skips; CoreDNS is created here, after the node groups,
because a managed add-on whose pods cannot be scheduled ends up degraded and
fails the deployment. The default StorageClass `gp3` is encrypted.

With `compute: auto-mode` EKS runs the load balancer controller, the EBS CSI driver, CoreDNS,
the pod network and the Pod Identity agent itself, and Karpenter replaces Cluster Autoscaler:
none of them is installed here. The add-ons run on Auto Mode's built-in `system` node pool, and
`auto_mode.py` makes the StorageClass and the network policy switch Auto Mode expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from auto_mode import NODE_POOL_LABEL, SYSTEM_POOL, create_auto_mode_objects
from aws_context import AwsContext
from cluster import ClusterOutputs
from network import NetworkOutputs
from platform_layer import PlatformLayer
from settings import ChartAddon, Settings
from workload_identity import WorkloadRole, addon_role

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
LBC_POLICY_FILE = Path(__file__).parent / "policies" / "aws-load-balancer-controller" / "iam_policy.json"
# v2 of the managed policy: only volumes and snapshots tagged `ebs.csi.aws.com/cluster: true`
# (the driver tags what it provisions; imported volumes must be tagged by hand).
EBS_CSI_POLICY = "AmazonEBSCSIDriverPolicyV2"  # no path, unlike the V1 policy (`service-role/...`)
HELM_TIMEOUT_SECONDS = 900
SYSTEM_CLUSTER_CRITICAL = "system-cluster-critical"
PLATFORM_CRITICAL = "platform-critical"
DEFAULT_STORAGE_CLASS = "gp3"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
ARGOCD_APPLICATION_HEALTH = """\
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then
    hs.message = obj.status.health.message
  end
end
return hs
"""


@dataclass(frozen=True)
class Chart:
    """A Helm chart, its default repository, release name, namespace, service account and priority class."""

    chart: str
    repository: str
    release: str
    namespace: str
    service_account: str
    priority_class: str = PLATFORM_CRITICAL


LOAD_BALANCER_CONTROLLER = Chart(
    chart="aws-load-balancer-controller",
    repository="https://aws.github.io/eks-charts",
    release="aws-load-balancer-controller",
    namespace="kube-system",
    service_account="aws-load-balancer-controller",
    priority_class=SYSTEM_CLUSTER_CRITICAL,
)
CLUSTER_AUTOSCALER = Chart(
    chart="cluster-autoscaler",
    repository="https://kubernetes.github.io/autoscaler",
    release="cluster-autoscaler",
    namespace="kube-system",
    service_account="cluster-autoscaler",
    priority_class=SYSTEM_CLUSTER_CRITICAL,
)
METRICS_SERVER = Chart(
    chart="metrics-server",
    repository="https://kubernetes-sigs.github.io/metrics-server/",
    release="metrics-server",
    namespace="kube-system",
    service_account="metrics-server",
    priority_class=SYSTEM_CLUSTER_CRITICAL,
)
EXTERNAL_DNS = Chart(
    chart="external-dns",
    repository="https://kubernetes-sigs.github.io/external-dns/",
    release="external-dns",
    namespace="external-dns",
    service_account="external-dns",
)
EXTERNAL_SECRETS = Chart(
    chart="external-secrets",
    repository="https://charts.external-secrets.io",
    release="external-secrets",
    namespace="external-secrets",
    service_account="external-secrets",
)
ARGOCD = Chart(
    chart="argo-cd",
    repository="https://argoproj.github.io/argo-helm",
    release="argocd",  # the chart's nameOverride is `argocd`: objects are named argocd-server, ...
    namespace="argocd",
    service_account="argocd-server",
)
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"


@dataclass(frozen=True)
class AddonOutputs:
    """Releases and roles that later stages and the stack outputs need."""

    argocd: k8s.helm.v3.Release
    external_secrets: k8s.helm.v3.Release
    load_balancer_controller: k8s.helm.v3.Release | None  # None with Auto Mode, which runs its own
    role_arns: dict[str, pulumi.Output[str]]  # add-on -> its role's ARN (IRSA or Pod Identity)
    pod_identity_agent: pulumi.Resource | None = None


# --- IAM policies -----------------------------------------------------------------------------


def load_balancer_controller_policy() -> str:
    """The official AWS Load Balancer Controller policy, shipped in `policies/` (see its SOURCE)."""
    return json.dumps(json.loads(LBC_POLICY_FILE.read_text(encoding="utf-8")), separators=(",", ":"))


def security_group_guard_policy(vpc_arn: str) -> str:
    """Deny security-group rule changes outside this VPC.

    The official policy allows `Authorize/RevokeSecurityGroupIngress` on every
    security group; the LBC install guide suggests narrowing it with `ec2:Vpc`.
    A separate deny keeps the vendored file byte for byte as published. IAM evaluates a
    negated operator (`ArnNotEquals`) as true when the request has no `ec2:Vpc` at all, so
    without the `Null` guard the deny would also refuse every request that carries no VPC;
    with it, the deny applies exactly to security groups of another VPC.
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlySecurityGroupsOfThisVpc",
                    "Effect": "Deny",
                    "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                    "Resource": "*",
                    "Condition": {"Null": {"ec2:Vpc": "false"}, "ArnNotEquals": {"ec2:Vpc": vpc_arn}},
                }
            ],
        }
    )


def cluster_autoscaler_policy(cluster_name: str) -> str:
    """Describe anything; scale or terminate only the ASGs of this cluster (EKS tags them `owned`)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Describe",
                    "Effect": "Allow",
                    "Action": [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                        "eks:DescribeNodegroup",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "ScaleOwnNodeGroups",
                    "Effect": "Allow",
                    "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                    },
                },
            ],
        }
    )


def external_dns_policy(zone_arn: str) -> str:
    """Change records only in the project's public hosted zone; list zones to find it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ManageRecordsOfTheZone",
                    "Effect": "Allow",
                    "Action": [
                        "route53:ChangeResourceRecordSets",
                        "route53:ListResourceRecordSets",
                        "route53:ListTagsForResources",
                    ],
                    "Resource": [zone_arn],
                },
                {
                    "Sid": "FindZones",
                    "Effect": "Allow",
                    "Action": ["route53:ListHostedZones"],
                    "Resource": "*",
                },
            ],
        }
    )


# --- Helm values helpers ----------------------------------------------------------------------


def placement(settings: Settings, priority_class: str | None = None) -> dict[str, Any]:
    """Scheduling values shared by the add-ons: tolerate a `CriticalAddonsOnly` pool, pin to `nodePool`,
    and (where the chart takes it at this level) the priority class."""
    values: dict[str, Any] = {"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}
    if settings.auto_mode:  # the built-in pool for add-ons, tainted `CriticalAddonsOnly`
        values["nodeSelector"] = {NODE_POOL_LABEL: SYSTEM_POOL}
    elif settings.addons.node_pool:
        values["nodeSelector"] = {"strata.io/pool": settings.addons.node_pool}
    if priority_class:
        values["priorityClassName"] = priority_class
    return values


def service_account_values(chart: Chart, role_arn: pulumi.Input[str] | None) -> dict[str, Any]:
    """A chart-created service account with a fixed name and, if given, the IRSA annotation."""
    annotations = {ROLE_ARN_ANNOTATION: role_arn} if role_arn is not None else {}
    return {"create": True, "name": chart.service_account, "annotations": annotations}


def release(
    chart: Chart,
    addon: ChartAddon,
    values: Mapping[str, Any],
    namespace: pulumi.Input[str],
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    """A Helm release with the pinned chart version, an explicit release name, atomic, with a timeout.

    A chart in an OCI registry (`oci://...`) is named by its full reference, with no repository.
    """
    repository = addon.repository or chart.repository
    oci = repository.startswith("oci://")
    return k8s.helm.v3.Release(
        chart.release,
        name=chart.release,
        chart=f"{repository.rstrip('/')}/{chart.chart}" if oci else chart.chart,
        version=addon.chart_version,
        namespace=namespace,
        repository_opts=None if oci else k8s.helm.v3.RepositoryOptsArgs(repo=repository),
        skip_crds=skip_crds,
        values=dict(values),
        atomic=True,
        timeout=HELM_TIMEOUT_SECONDS,
        max_history=10,
        opts=pulumi.ResourceOptions(provider=provider, depends_on=list(depends_on)),
    )


# --- the add-ons ------------------------------------------------------------------------------


def load_balancer_controller_values(
    settings: Settings, vpc_id: pulumi.Input[str], role_arn: pulumi.Input[str] | None
) -> dict:
    """Region and VPC are set, so the controller never needs IMDS (nodes allow one hop only).

    The chart's own `alb` IngressClass is not created: the foundation creates each environment's
    IngressClasses with their parameters (certificate, scheme, group), see `ingress.py`.
    """
    addon = settings.addons.load_balancer_controller
    return {
        "clusterName": settings.cluster_name,
        "region": settings.region,
        "vpcId": vpc_id,
        "replicaCount": addon.replicas,
        "createIngressClassResource": False,
        "serviceAccount": service_account_values(LOAD_BALANCER_CONTROLLER, role_arn),
        "podDisruptionBudget": {"maxUnavailable": 1} if addon.replicas > 1 else {},
        **placement(settings, LOAD_BALANCER_CONTROLLER.priority_class),
    }


def cluster_autoscaler_values(settings: Settings, role_arn: pulumi.Input[str] | None) -> dict:
    """Auto-discovery of this cluster's node groups; the image tag follows the cluster version."""
    addon = settings.addons.cluster_autoscaler
    return {
        "cloudProvider": "aws",
        "awsRegion": settings.region,
        "autoDiscovery": {"clusterName": settings.cluster_name},
        "replicaCount": addon.replicas,
        "image": {"tag": addon.image_tag},
        "rbac": {"serviceAccount": service_account_values(CLUSTER_AUTOSCALER, role_arn)},
        "extraArgs": {"balance-similar-node-groups": True, "expander": "least-waste"},
        **placement(settings, CLUSTER_AUTOSCALER.priority_class),
    }


def metrics_server_values(settings: Settings) -> dict:
    """Metrics Server needs no AWS access."""
    addon = settings.addons.metrics_server
    return {
        "replicas": addon.replicas,
        "podDisruptionBudget": {"enabled": addon.replicas > 1, "minAvailable": 1},
        **placement(settings, METRICS_SERVER.priority_class),
    }


def external_dns_values(settings: Settings, role_arn: pulumi.Input[str] | None) -> dict:
    """Records for Services and Ingresses under the stack's zone only, owned by this cluster."""
    return {
        "provider": {"name": "aws"},
        "domainFilters": [settings.zone],
        "policy": settings.addons.external_dns.policy,
        "registry": "txt",
        "txtOwnerId": settings.cluster_name,
        "sources": ["service", "ingress"],
        "extraArgs": {"aws-zone-type": "public"},
        "serviceAccount": service_account_values(EXTERNAL_DNS, role_arn),
        **placement(settings, EXTERNAL_DNS.priority_class),
    }


def external_secrets_values(settings: Settings) -> dict:
    """External Secrets Operator; its own service account gets no AWS role.

    Each environment's SecretStore authenticates as a service account of its own
    namespace instead (see `external_secrets.py`).
    """
    addon = settings.addons.external_secrets
    ha = addon.replicas > 1
    return {
        "installCRDs": True,
        "replicaCount": addon.replicas,
        "leaderElect": ha,
        "serviceAccount": service_account_values(EXTERNAL_SECRETS, None),
        "podDisruptionBudget": {"enabled": ha, "minAvailable": 1},
        # The webhook and the cert controller are placed like the operator itself.
        "webhook": {
            "replicaCount": addon.replicas,
            "podDisruptionBudget": {"enabled": ha, "minAvailable": 1},
            **placement(settings, EXTERNAL_SECRETS.priority_class),
        },
        "certController": {"replicaCount": addon.replicas, **placement(settings, EXTERNAL_SECRETS.priority_class)},
        **placement(settings, EXTERNAL_SECRETS.priority_class),
    }


def argocd_values(settings: Settings) -> dict:
    """Argo CD, HA when `addons.argocd.ha`; Application health is restored for app-of-apps waves."""
    addon = settings.addons.argocd
    values: dict[str, Any] = {
        "global": placement(settings, ARGOCD.priority_class),
        "configs": {"cm": {"resource.customizations.health.argoproj.io_Application": ARGOCD_APPLICATION_HEALTH}},
    }
    if addon.ha:
        replicas = max(2, addon.replicas)
        # redis-ha is a subchart: Argo CD's `global` placement does not reach it, so it (and its
        # HAProxy, which takes the same nodeSelector and tolerations) is placed explicitly.
        redis_placement = placement(settings, ARGOCD.priority_class)
        values.update(
            {
                "redis-ha": {
                    "enabled": True,
                    **redis_placement,
                    "haproxy": {"priorityClassName": ARGOCD.priority_class},
                },
                "controller": {"replicas": 1},
                "server": {"replicas": replicas, "pdb": {"enabled": True, "minAvailable": 1}},
                "repoServer": {"replicas": replicas, "pdb": {"enabled": True, "minAvailable": 1}},
                "applicationSet": {"replicas": replicas, "pdb": {"enabled": True, "minAvailable": 1}},
            }
        )
    return values


def create_addon_roles(
    settings: Settings, cluster: ClusterOutputs, network: NetworkOutputs, aws_context: AwsContext
) -> dict[str, WorkloadRole]:
    """The role of every add-on that calls AWS, each for exactly its service account (IRSA or Pod
    Identity, per `identity`)."""
    vpc_arn = pulumi.Output.all(aws_context.partition, aws_context.account_id, network.vpc_id).apply(
        lambda a: f"arn:{a[0]}:ec2:{settings.region}:{a[1]}:vpc/{a[2]}"
    )

    def role(chart_name: str, namespace: str, service_account: str, **permissions: Any) -> WorkloadRole:
        return addon_role(settings, cluster, chart_name, namespace, service_account, **permissions)

    roles = {
        "external-dns": role(
            EXTERNAL_DNS.chart,
            EXTERNAL_DNS.namespace,
            EXTERNAL_DNS.service_account,
            inline_policies={"external-dns": aws_context.zone_arn.apply(external_dns_policy)},
        ),
    }
    if settings.auto_mode:  # Auto Mode runs the load balancer and EBS controllers with the cluster role
        return roles
    roles |= {
        "aws-load-balancer-controller": role(
            LOAD_BALANCER_CONTROLLER.chart,
            LOAD_BALANCER_CONTROLLER.namespace,
            LOAD_BALANCER_CONTROLLER.service_account,
            inline_policies={
                "aws-load-balancer-controller": load_balancer_controller_policy(),
                "security-groups-of-this-vpc-only": vpc_arn.apply(security_group_guard_policy),
            },
        ),
        "aws-ebs-csi-driver": role(
            "aws-ebs-csi-driver",
            "kube-system",
            EBS_CSI_SERVICE_ACCOUNT,
            managed_policy_arns=[aws_context.managed_policy_arn(EBS_CSI_POLICY)],
        ),
    }
    if settings.compute == "node-groups":  # Karpenter and Auto Mode scale the nodes themselves
        roles["cluster-autoscaler"] = role(
            CLUSTER_AUTOSCALER.chart,
            CLUSTER_AUTOSCALER.namespace,
            CLUSTER_AUTOSCALER.service_account,
            inline_policies={"cluster-autoscaler": cluster_autoscaler_policy(settings.cluster_name)},
        )
    return roles


def create_ebs_csi_driver(
    settings: Settings, role: WorkloadRole, depends_on: Sequence[pulumi.Resource]
) -> aws.eks.Addon:
    """The EBS CSI driver as an EKS managed add-on (its own default StorageClass stays off: it is
    not encrypted unless the account encrypts EBS by default; see `create_storage_classes`)."""
    return aws.eks.Addon(
        "aws-ebs-csi-driver",
        cluster_name=settings.cluster_name,
        addon_name="aws-ebs-csi-driver",
        addon_version=settings.addons.ebs_csi_addon_version,
        # With Pod Identity the association (made with the role) names the service account.
        service_account_role_arn=None if settings.pod_identity else role.role.arn,
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=settings.tags,
        opts=pulumi.ResourceOptions(depends_on=[*depends_on, *role.ready]),
    )


def create_pod_identity_agent(settings: Settings, depends_on: Sequence[pulumi.Resource]) -> aws.eks.Addon:
    """The EKS Pod Identity agent (`identity: pod-identity`): a DaemonSet on every node that hands
    the pods the credentials of their service account's association. Created once the node groups
    exist, like CoreDNS; the node role's `AmazonEKSWorkerNodePolicy` lets it call
    `eks-auth:AssumeRoleForPodIdentity`."""
    return aws.eks.Addon(
        "eks-pod-identity-agent",
        cluster_name=settings.cluster_name,
        addon_name="eks-pod-identity-agent",
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=settings.tags,
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )


def create_coredns(settings: Settings, depends_on: Sequence[pulumi.Resource]) -> aws.eks.Addon:
    """CoreDNS as an EKS managed add-on, adopting the copy EKS bootstraps (`OVERWRITE`).

    Created once the node groups exist: its pods need nodes, and an add-on that stays
    degraded fails the deployment. The version is the EKS default for the cluster version.
    """
    return aws.eks.Addon(
        "coredns",
        cluster_name=settings.cluster_name,
        addon_name="coredns",
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=settings.tags,
        opts=pulumi.ResourceOptions(depends_on=list(depends_on)),
    )


def create_storage_classes(
    provider: k8s.Provider, depends_on: Sequence[pulumi.Resource]
) -> k8s.storage.v1.StorageClass:
    """The default StorageClass `gp3`: encrypted EBS gp3 volumes, bound where the pod is scheduled.

    EKS no longer marks its in-tree `gp2` class default (since Kubernetes 1.30, the oldest
    version strata supports is newer) and newer clusters have no `gp2` class at all, so nothing
    else is default: a patch of `gp2` would fail where the class does not exist.
    """
    opts = pulumi.ResourceOptions(provider=provider, depends_on=list(depends_on))
    return k8s.storage.v1.StorageClass(
        "storage-class-gp3",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=DEFAULT_STORAGE_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
        volume_binding_mode="WaitForFirstConsumer",  # the volume is created in the AZ of the pod's node
        allow_volume_expansion=True,
        reclaim_policy="Delete",
        opts=opts,
    )


def install_addons(
    settings: Settings,
    cluster: ClusterOutputs,
    network: NetworkOutputs,
    platform: PlatformLayer,
    node_groups: Sequence[pulumi.Resource],
    aws_context: AwsContext,
) -> AddonOutputs:
    """Roles, the EBS CSI add-on and the Helm releases, in dependency order."""
    roles = create_addon_roles(settings, cluster, network, aws_context)
    provider = cluster.k8s_provider
    addons = settings.addons
    after_nodes = [*node_groups, *platform.priority_classes.values()]
    namespaces = platform.platform_namespaces

    # Auto Mode runs the Pod Identity agent, CoreDNS and the EBS CSI driver itself.
    agent = (
        create_pod_identity_agent(settings, node_groups) if settings.pod_identity and not settings.auto_mode else None
    )
    if agent is not None:
        # Pods started before the agent runs get no credentials: every release waits for it.
        after_nodes.append(agent)
    if settings.auto_mode:
        create_auto_mode_objects(provider, [cluster.component])
    else:
        create_coredns(settings, node_groups)
        ebs = create_ebs_csi_driver(settings, roles["aws-ebs-csi-driver"], after_nodes)
        create_storage_classes(provider, [ebs])
    arn = {name: (None if settings.pod_identity else role.role.arn) for name, role in roles.items()}
    after_nodes += [ready for role in roles.values() for ready in role.ready]
    lbc = None
    if "aws-load-balancer-controller" in roles:
        lbc = release(
            LOAD_BALANCER_CONTROLLER,
            addons.load_balancer_controller,
            load_balancer_controller_values(settings, network.vpc_id, arn["aws-load-balancer-controller"]),
            "kube-system",
            provider,
            after_nodes,
        )
    after_lbc = [*after_nodes, *([lbc] if lbc else [])]
    if "cluster-autoscaler" in roles:
        release(
            CLUSTER_AUTOSCALER,
            addons.cluster_autoscaler,
            cluster_autoscaler_values(settings, arn["cluster-autoscaler"]),
            "kube-system",
            provider,
            after_lbc,
        )
    release(METRICS_SERVER, addons.metrics_server, metrics_server_values(settings), "kube-system", provider, after_lbc)
    release(
        EXTERNAL_DNS,
        addons.external_dns,
        external_dns_values(settings, arn["external-dns"]),
        namespaces[EXTERNAL_DNS.namespace].metadata.name,
        provider,
        after_lbc,
    )
    external_secrets = release(
        EXTERNAL_SECRETS,
        addons.external_secrets,
        external_secrets_values(settings),
        namespaces[EXTERNAL_SECRETS.namespace].metadata.name,
        provider,
        after_lbc,
    )
    argocd = release(
        ARGOCD, addons.argocd, argocd_values(settings), namespaces[ARGOCD.namespace].metadata.name, provider, after_lbc
    )
    return AddonOutputs(
        argocd=argocd,
        external_secrets=external_secrets,
        load_balancer_controller=lbc,
        role_arns={name: role.role.arn for name, role in roles.items()},
        pod_identity_agent=agent,
    )
