"""Worker nodes: the node IAM role, the VPC CNI's own IRSA role, launch templates and managed node groups.

Nodes run AL2023 in the private subnets only. Each node group gets its own
launch template that requires IMDSv2 with a hop limit of 1, so pods (which sit
one network hop behind the node) cannot read the node role's credentials, and
an encrypted gp3 root volume.

The node role carries only `AmazonEKSWorkerNodePolicy` and
`AmazonEC2ContainerRegistryPullOnly`. `AmazonEKS_CNI_Policy` goes to an IRSA
role for the `aws-node` service account instead (EKS Best Practices). The VPC
CNI add-on is created inside the `eks.Cluster` component, before the OIDC
provider this role trusts exists, so the role cannot be handed to the add-on;
the service account is annotated by a server-side-apply patch instead, and the
node groups wait for that patch, so the first `aws-node` pod already starts
with the role.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from cluster import ClusterOutputs
from irsa import service_account_role
from network import NetworkOutputs
from settings import NodeGroup, Settings

NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
POOL_LABEL = "strata.io/pool"
ROOT_DEVICE = "/dev/xvda"  # AL2023 EKS AMIs


def create_node_role(settings: Settings, aws_context: AwsContext) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """The EC2 role shared by all managed node groups, and its policy attachments."""
    role = aws.iam.Role(
        "node-role",
        description=f"EKS managed node groups of cluster {settings.cluster_name}",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ec2.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
        tags=settings.tags,
    )
    attachments: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"node-role-{policy}",
            role=role.name,
            policy_arn=aws_context.managed_policy_arn(policy),
            opts=pulumi.ResourceOptions(parent=role),
        )
        for policy in NODE_ROLE_POLICIES
    ]
    return role, attachments


def configure_vpc_cni_role(cluster: ClusterOutputs, settings: Settings, aws_context: AwsContext) -> pulumi.Resource:
    """Give `kube-system/aws-node` an IRSA role with `AmazonEKS_CNI_Policy`; return the annotation patch."""
    role = service_account_role(
        "irsa-vpc-cni",
        oidc=cluster.oidc,
        namespace="kube-system",
        service_account="aws-node",
        tags=settings.tags,
        managed_policy_arns=[aws_context.managed_policy_arn("AmazonEKS_CNI_Policy")],
    )
    return k8s.core.v1.ServiceAccountPatch(
        "aws-node-irsa",
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(
            name="aws-node",
            namespace="kube-system",
            annotations={"eks.amazonaws.com/role-arn": role.arn},
        ),
        opts=pulumi.ResourceOptions(provider=cluster.k8s_provider),
    )


def create_launch_template(group: NodeGroup, settings: Settings) -> aws.ec2.LaunchTemplate:
    """IMDSv2 only with hop limit 1, and an encrypted gp3 root volume."""
    tags = {**settings.tags, POOL_LABEL: group.name}
    return aws.ec2.LaunchTemplate(
        f"nodes-{group.name}",
        description=f"EKS node group {group.name} of cluster {settings.cluster_name}",
        update_default_version=True,
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled",
            http_tokens="required",
            http_put_response_hop_limit=1,
        ),
        block_device_mappings=[
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=ROOT_DEVICE,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=group.disk_size,
                    volume_type="gp3",
                    encrypted="true",
                    delete_on_termination="true",
                ),
            )
        ],
        tag_specifications=[
            aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags) for kind in ("instance", "volume")
        ],
        tags=tags,
    )


def create_node_group(
    group: NodeGroup,
    settings: Settings,
    node_role: aws.iam.Role,
    subnet_ids: pulumi.Input[Sequence[str]],
    depends_on: Sequence[pulumi.Resource],
) -> aws.eks.NodeGroup:
    """One managed node group in the private subnets; Cluster Autoscaler owns its desired size."""
    template = create_launch_template(group, settings)
    return aws.eks.NodeGroup(
        f"nodes-{group.name}",
        cluster_name=settings.cluster_name,
        node_group_name_prefix=f"{group.name}-",
        node_role_arn=node_role.arn,
        subnet_ids=subnet_ids,
        version=settings.kubernetes_version,
        ami_type=group.ami_type,
        capacity_type=group.capacity_type,
        instance_types=list(group.instance_types),
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(
            min_size=group.min_size,
            max_size=group.max_size,
            desired_size=group.desired_size,
        ),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        node_repair_config=aws.eks.NodeGroupNodeRepairConfigArgs(enabled=True),
        launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
            id=template.id,
            version=template.latest_version.apply(str),
        ),
        labels={**group.labels, POOL_LABEL: group.name},
        taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in group.taints],
        tags={**settings.tags, POOL_LABEL: group.name},
        opts=pulumi.ResourceOptions(
            depends_on=list(depends_on),
            ignore_changes=["scalingConfig.desiredSize"],
        ),
    )


def create_node_groups(
    settings: Settings, cluster: ClusterOutputs, network: NetworkOutputs, aws_context: AwsContext
) -> list[aws.eks.NodeGroup]:
    """The node role, the CNI role, and one managed node group per `nodeGroups[]` entry."""
    node_role, attachments = create_node_role(settings, aws_context)
    cni_patch = configure_vpc_cni_role(cluster, settings, aws_context)
    # Nodes must reach the internet (through NAT) to join the cluster and pull images.
    depends_on = [cluster.component, cni_patch, *attachments, *network.egress]
    return [
        create_node_group(group, settings, node_role, network.private_subnet_ids, depends_on)
        for group in settings.node_groups
    ]
