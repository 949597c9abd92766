"""EKS Auto Mode (`compute: auto-mode`): its two IAM roles, and the cluster objects it expects.

With Auto Mode, AWS runs in the cluster's control plane what the other compute choices install
as add-ons: Karpenter (the built-in node pools `system` and `general-purpose`), the pod network
(VPC CNI) and kube-proxy, CoreDNS, the EBS CSI driver, the load balancer controller and the
EKS Pod Identity agent. The foundation therefore creates none of them; it creates what the EKS
User Guide says Auto Mode needs from the cluster's owner:

- the **cluster role**, trusted by `eks.amazonaws.com` with `sts:AssumeRole` and `sts:TagSession`,
  with `AmazonEKSClusterPolicy`, `AmazonEKSComputePolicy`, `AmazonEKSBlockStoragePolicy`,
  `AmazonEKSLoadBalancingPolicy` and `AmazonEKSNetworkingPolicy` ("Cluster IAM role" of the
  Auto Mode guide): pulumi-eks makes exactly this role when `auto_mode` is on
  (`nodejs/eks/cluster/cluster.ts`). It is not made here, because a role passed to the remote
  `eks.Cluster` component is a resource reference, which hangs the Python mocks the tests run;
- the **node role**, trusted by `ec2.amazonaws.com`, with `AmazonEKSWorkerNodeMinimalPolicy` and
  `AmazonEC2ContainerRegistryPullOnly` ("Node IAM role"). EKS gives it its access entry itself
  when the cluster's compute configuration names it, so none is declared here;
- a default **StorageClass** `gp3` (the name every compute's class has, which the platform
  services' volumes name) of encrypted gp3 volumes for the provisioner
  `ebs.csi.eks.amazonaws.com` ("EKS Auto Mode does not create a StorageClass for you");
- the ConfigMap `kube-system/amazon-vpc-cni` with `enable-network-policy-controller: "true"`:
  without it, Auto Mode accepts the environments' NetworkPolicies but does not enforce them
  (the built-in NodeClass `default` keeps `networkPolicy: DefaultAllow`, which enforces them).

The node role is created here, not by pulumi-eks, so that the stack's own tests see its policies.
The IngressClasses of Auto Mode (`eks.amazonaws.com/alb`) are made by `ingress.py`, like the load
balancer controller's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from settings import Settings

CLUSTER_ROLE_POLICIES = (
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
)
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly")
# The built-in node pools: `system` (tainted `CriticalAddonsOnly`) for the add-ons, and
# `general-purpose` for everything else.
NODE_POOLS = ("general-purpose", "system")
SYSTEM_POOL = "system"
NODE_POOL_LABEL = "karpenter.sh/nodepool"
STORAGE_CLASS = "gp3"  # as without Auto Mode (`addons.DEFAULT_STORAGE_CLASS`): the volumes name it
STORAGE_PROVISIONER = "ebs.csi.eks.amazonaws.com"
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


@dataclass(frozen=True)
class AutoModeRoles:
    """The node role the cluster is created with, and its attachments (the cluster waits for them)."""

    node_role: aws.iam.Role
    attachments: list[pulumi.Resource]


def _trust(service: str, actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": actions}],
        }
    )


def _role(
    name: str, description: str, trust: str, policies: tuple[str, ...], settings: Settings, aws_context: AwsContext
) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    role = aws.iam.Role(name, description=description, assume_role_policy=trust, tags=settings.tags)
    attachments: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"{name}-{policy}",
            role=role.name,
            policy_arn=aws_context.managed_policy_arn(policy),
            opts=pulumi.ResourceOptions(parent=role),
        )
        for policy in policies
    ]
    return role, attachments


def create_auto_mode_roles(settings: Settings, aws_context: AwsContext) -> AutoModeRoles:
    """The role of the nodes Auto Mode launches (pulumi-eks makes the cluster role, see above)."""
    node_role, node_attachments = _role(
        "auto-mode-node-role",
        f"Nodes EKS Auto Mode launches for cluster {settings.cluster_name}",
        _trust("ec2.amazonaws.com", ["sts:AssumeRole"]),
        NODE_ROLE_POLICIES,
        settings,
        aws_context,
    )
    return AutoModeRoles(node_role=node_role, attachments=node_attachments)


def create_auto_mode_objects(provider: k8s.Provider, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
    """The default StorageClass of Auto Mode's block storage, and the switch that makes Auto Mode
    enforce NetworkPolicies."""
    opts = pulumi.ResourceOptions(provider=provider, depends_on=depends_on)
    storage_class = k8s.storage.v1.StorageClass(
        "storage-class-auto-ebs",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS, annotations={DEFAULT_CLASS_ANNOTATION: "true"}),
        provisioner=STORAGE_PROVISIONER,
        parameters={"type": "gp3", "encrypted": "true"},
        volume_binding_mode="WaitForFirstConsumer",  # the volume is created in the AZ of the pod's node
        allow_volume_expansion=True,
        reclaim_policy="Delete",
        opts=opts,
    )
    network_policy = k8s.core.v1.ConfigMap(
        "auto-mode-network-policy",
        metadata=k8s.meta.v1.ObjectMetaArgs(name="amazon-vpc-cni", namespace="kube-system"),
        data={"enable-network-policy-controller": "true"},
        opts=opts,
    )
    return [storage_class, network_policy]
