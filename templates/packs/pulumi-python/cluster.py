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

The usual first deploy is run by one of those admins: EKS has then made that role's entry
(and its cluster-admin association) already, and creating it again fails with
`ResourceInUseException` (pulumi/pulumi-eks#2373). So the entries are declared here, with the
names and parent pulumi-eks gives them (`cluster-<key>` under the cluster, so stacks made by an
earlier version keep them), and the entry of the role that runs the deployment is *adopted*
(`import_`): Pulumi reads EKS's entry instead of creating one. Later runs by another identity
see the entry in the state and leave it alone; an adopted entry deleted from `adminRoleArns`
is deleted like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

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


def _adopted(arn: str, aws_context: AwsContext) -> bool:
    """The role runs this deployment: EKS made its entry when it created the cluster."""
    return arn == aws_context.deployer_arn


def create_admin_access(settings: Settings, cluster: eks.Cluster, aws_context: AwsContext) -> None:
    """One access entry with cluster-scoped `AmazonEKSClusterAdminPolicy` per `adminRoleArns` item;
    the deploying role's entry is adopted from EKS, never created twice."""
    for arn in settings.admin_role_arns:
        key = _access_entry_key(arn)
        adopt = _adopted(arn, aws_context)
        policy_arn = CLUSTER_ADMIN_POLICY.format(partition=aws_context.deployer_partition)
        # EKS's own entry carries its username and no tags: adopting compares them, so they are
        # not declared for an adopted entry.
        entry = aws.eks.AccessEntry(
            f"cluster-{key}",
            cluster_name=settings.cluster_name,
            principal_arn=arn,
            type="STANDARD",
            opts=pulumi.ResourceOptions(
                parent=cluster,
                depends_on=[cluster],
                import_=f"{settings.cluster_name}:{arn}" if adopt else None,
                ignore_changes=["userName", "kubernetesGroups", "tags", "tagsAll"] if adopt else None,
            ),
        )
        aws.eks.AccessPolicyAssociation(
            f"cluster-{key}-cluster-admin",
            cluster_name=settings.cluster_name,
            principal_arn=arn,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=pulumi.ResourceOptions(
                parent=entry,
                depends_on=[entry],
                import_=f"{settings.cluster_name}#{arn}#{policy_arn}" if adopt else None,
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


def create_cluster(settings: Settings, network: NetworkOutputs, aws_context: AwsContext) -> ClusterOutputs:
    """Create the KMS key, the EKS cluster with its OIDC provider, and a Kubernetes provider for it."""
    key = create_secrets_key(settings)
    endpoint = settings.endpoint
    cluster = eks.Cluster(
        "cluster",
        name=settings.cluster_name,
        version=settings.kubernetes_version,
        vpc_id=network.vpc_id,
        private_subnet_ids=network.private_subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
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
        # NetworkPolicies (the environments' default-deny) are only enforced with the policy agent on.
        vpc_cni_options=eks.VpcCniOptionsArgs(enable_network_policy=True),
        tags=settings.tags,
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
    )
