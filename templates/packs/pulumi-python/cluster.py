"""The EKS control plane: KMS key for secrets, the cluster itself, admin access, the Kubernetes provider.

`pulumi_eks.Cluster` is a remote component; this module passes it only plain
values and Outputs of strings (no Resource objects), and reads back only scalar
outputs (`kubeconfig_json`, `oidc_provider_arn`, `oidc_issuer`). The cluster
name is the configured `clusterName`, never an auto-name, because Helm values,
IAM conditions and the node groups need it as a plain string.

Deviation from the EKS Best Practices, on purpose: in API authentication mode
pulumi-eks always grants the identity that runs `pulumi up` cluster-admin
(`bootstrapClusterCreatorAdminPermissions`), because it must reach the cluster
itself. Human and CI admins get explicit access entries from `adminRoleArns`.

The usual first deploy is run by one of those admins: EKS then makes that role's entry (and its
cluster-admin association) itself when it creates the cluster, and creating it again fails with
`ResourceInUseException` (pulumi/pulumi-eks#2373). So the entries are declared here, with the
names and parent pulumi-eks gives them (`cluster-<key>` under the cluster, so stacks made by an
earlier version keep them), and:
- before the cluster exists, the deploying role's entry is not declared at all (EKS makes it);
- once the cluster exists, an entry EKS already has is *adopted* (`import_`: Pulumi reads it
  instead of creating it; an entry already in the state is unaffected), the others are created.
The first deployment by an admin role therefore adopts its entry on the next `pulumi up`.
Roles are matched by account and name, as IAM names them uniquely whatever their path; give
`adminRoleArns` with the path (SSO roles have one), as EKS stores the entry under that ARN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from auto_mode import NODE_POOLS, AutoModeRoles, create_auto_mode_roles
from aws_context import AwsContext
from irsa import OidcProvider
from network import NetworkOutputs
from settings import Settings

CLUSTER_ADMIN_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"


@dataclass(frozen=True)
class ClusterOutputs:
    """What the rest of the program needs from the cluster."""

    name: str
    component: eks.Cluster
    oidc: OidcProvider
    kubeconfig_json: pulumi.Output[str]
    k8s_provider: k8s.Provider
    kms_key_arn: pulumi.Output[str]
    auto_mode: AutoModeRoles | None = None  # its roles with `compute: auto-mode`


def create_secrets_key(settings: Settings) -> aws.kms.Key:
    """A customer managed KMS key, rotated yearly, for envelope encryption of Kubernetes Secrets."""
    key = aws.kms.Key(
        "eks-secrets",
        description=f"EKS secrets envelope encryption for cluster {settings.cluster_name}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        tags=settings.tags,
    )
    aws.kms.Alias(
        "eks-secrets",
        name=f"alias/{settings.cluster_name}-eks-secrets",
        target_key_id=key.key_id,
        opts=pulumi.ResourceOptions(parent=key),
    )
    return key


def _access_entry_key(role_arn: str) -> str:
    """A stable, readable key for a role's access entry: `admin-<role name>`."""
    role_name = role_arn.rsplit("/", 1)[-1]
    return "admin-" + re.sub(r"[^A-Za-z0-9-]", "-", role_name).lower()


def _role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN, whatever its path; None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return None
    return parts[4], parts[5].rsplit("/", 1)[-1]


def same_role(configured: str, deployer: str) -> bool:
    """Whether `configured` names the role that runs this deployment (paths aside)."""
    return _role_key(configured) is not None and _role_key(configured) == _role_key(deployer)


def cluster_exists(name: str) -> bool:
    """Whether the EKS cluster exists already (`eks:ListClusters`)."""
    return name in (aws.eks.get_clusters().names or [])


def access_entry_exists(cluster_name: str, principal_arn: str) -> bool:
    """Whether EKS has an access entry for the principal (`eks:DescribeAccessEntry`)."""
    try:
        aws.eks.get_access_entry(cluster_name=cluster_name, principal_arn=principal_arn)
    except Exception:  # the provider reports a missing entry as a failed lookup
        return False
    return True


def create_admin_access(settings: Settings, cluster: eks.Cluster, aws_context: AwsContext) -> None:
    """One access entry with cluster-scoped `AmazonEKSClusterAdminPolicy` per `adminRoleArns` item;
    the entry EKS makes for the cluster's creator is adopted, never created twice."""
    exists = cluster_exists(settings.cluster_name)
    policy_arn = CLUSTER_ADMIN_POLICY.format(partition=aws_context.deployer_partition)
    for arn in settings.admin_role_arns:
        deployer = same_role(arn, aws_context.deployer_arn)
        principal = aws_context.deployer_arn if deployer else arn  # EKS's entry has the role's path
        if deployer and principal != arn:
            pulumi.log.warn(
                f"`adminRoleArns` names `{arn}`, which is `{principal}` with its path: EKS keeps access "
                "entries under the full ARN, so write that one (a run by another identity would not "
                "recognise the role)"
            )
        if deployer and not exists:
            pulumi.log.info(
                f"EKS makes the access entry of `{principal}`, which creates the cluster; the next "
                "`pulumi up` adopts it"
            )
            continue
        adopt = exists and access_entry_exists(settings.cluster_name, principal)
        key = _access_entry_key(arn)
        # EKS's own entry carries its username and no tags: they are not compared on adoption.
        entry = aws.eks.AccessEntry(
            f"cluster-{key}",
            cluster_name=settings.cluster_name,
            principal_arn=principal,
            type="STANDARD",
            opts=pulumi.ResourceOptions(
                parent=cluster,
                depends_on=[cluster],
                import_=f"{settings.cluster_name}:{principal}" if adopt else None,
                ignore_changes=["userName", "kubernetesGroups", "tags", "tagsAll"] if adopt else None,
            ),
        )
        aws.eks.AccessPolicyAssociation(
            f"cluster-{key}-cluster-admin",
            cluster_name=settings.cluster_name,
            principal_arn=principal,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(
                parent=entry,
                depends_on=[entry],
                # Only the creator's entry surely comes with EKS's cluster-admin association.
                import_=f"{settings.cluster_name}#{principal}#{policy_arn}" if adopt and deployer else None,
            ),
        )


def _endpoint_ingress(settings: Settings, cluster: eks.Cluster) -> None:
    """HTTPS to the API server from `endpointIngressSecurityGroupIds` and `endpointIngressCidrs`:
    a self-hosted CI runner (or a VPN) in the VPC or a peered network reaching the private endpoint."""
    endpoint = settings.endpoint
    sources = [("sg", group, {"source_security_group_id": group}) for group in endpoint.ingress_security_group_ids]
    sources += [("cidr", cidr, {"cidr_blocks": [cidr]}) for cidr in endpoint.ingress_cidrs]
    for kind, source, args in sources:
        aws.ec2.SecurityGroupRule(
            f"api-ingress-{kind}-{source.replace('/', '-')}",
            type="ingress",
            protocol="tcp",
            from_port=443,
            to_port=443,
            security_group_id=cluster.cluster_security_group_id,
            description=f"Kubernetes API from {source} (endpointIngress)",
            opts=pulumi.ResourceOptions(parent=cluster),
            **args,
        )


def _compute_args(settings: Settings, auto_mode: AutoModeRoles | None) -> dict:
    """The cluster's arguments that depend on `compute`.

    Auto Mode: pulumi-eks makes the cluster role with Auto Mode's five policies; its compute (the
    built-in node pools, launched with the node role), block storage
    and load balancing are switched on by pulumi-eks's `auto_mode`; the add-ons Auto Mode runs
    itself are not created (pulumi-eks leaves out vpc-cni and kube-proxy by itself, but would add
    CoreDNS). Otherwise the VPC CNI add-on enforces NetworkPolicies with its policy agent on.
    """
    if auto_mode is None:
        # NetworkPolicies (the environments' default-deny) are only enforced with the policy agent on.
        return {"vpc_cni_options": eks.VpcCniOptionsArgs(enable_network_policy=True)}
    return {
        "auto_mode": eks.AutoModeOptionsArgs(
            enabled=True,
            create_node_role=False,
            compute_config=eks.ClusterComputeConfigArgs(
                node_pools=list(NODE_POOLS), node_role_arn=auto_mode.node_role.arn
            ),
        ),
        "coredns_addon_options": eks.CoreDnsAddonOptionsArgs(enabled=False),
        "kube_proxy_addon_options": eks.KubeProxyAddonOptionsArgs(enabled=False),
    }


def create_cluster(settings: Settings, network: NetworkOutputs, aws_context: AwsContext) -> ClusterOutputs:
    """Create the KMS key, the EKS cluster with its OIDC provider, and a Kubernetes provider for it."""
    key = create_secrets_key(settings)
    endpoint = settings.endpoint
    auto_mode = create_auto_mode_roles(settings, aws_context) if settings.auto_mode else None
    cluster = eks.Cluster(
        "cluster",
        name=settings.cluster_name,
        version=settings.kubernetes_version,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        # Auto Mode's built-in node class launches nodes in the cluster's subnets, with a public
        # address in a public one: only the private subnets then (its load balancers find the
        # public subnets through their role tags and the IngressClassParams).
        public_subnet_ids=None if settings.auto_mode else network.public_subnet_ids,
        node_associate_public_ip_address=False,
        skip_default_node_group=True,
        authentication_mode=eks.AuthenticationMode.API,
        create_oidc_provider=True,
        encryption_config_key_arn=key.arn,
        enabled_cluster_log_types=list(settings.cluster_log_types),
        endpoint_private_access=endpoint.private_access,
        endpoint_public_access=endpoint.public_access,
        public_access_cidrs=list(endpoint.public_access_cidrs) if endpoint.public_access else None,
        upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=settings.support_type),
        tags=settings.tags,
        **_compute_args(settings, auto_mode),
        # The cluster is created once its roles carry their policies.
        opts=pulumi.ResourceOptions(depends_on=auto_mode.attachments) if auto_mode else None,
    )
    create_admin_access(settings, cluster, aws_context)
    _endpoint_ingress(settings, cluster)
    provider = k8s.Provider(
        "k8s",
        kubeconfig=cluster.kubeconfig_json,
        enable_server_side_apply=True,
        opts=pulumi.ResourceOptions(depends_on=[cluster]),
    )
    return ClusterOutputs(
        name=settings.cluster_name,
        component=cluster,
        oidc=OidcProvider(arn=cluster.oidc_provider_arn, issuer=cluster.oidc_issuer),
        kubeconfig_json=cluster.kubeconfig_json,
        k8s_provider=provider,
        kms_key_arn=key.arn,
        auto_mode=auto_mode,
    )
