"""Karpenter (`compute: karpenter`): its IAM, its interruption queue, its Helm charts, and the
`NodePool` and `EC2NodeClass` objects, all infrastructure of the foundation.

Follows the Karpenter project's getting-started CloudFormation of the pinned version (1.14),
with these differences, on purpose:
- the controller's six policies are inline policies of its own role (IRSA or Pod Identity, per
  `identity`), not customer managed policies: they live and die with the role;
- the node role has no `AmazonEKS_CNI_Policy` (the VPC CNI has its own role, see `nodes.py`) and
  no `AmazonSSMManagedInstanceCore` (no shell on nodes; add it by hand if you use Session
  Manager);
- the node role gets its EKS access entry of type `EC2_LINUX` here: EKS makes one by itself only
  for the roles of managed node groups.

The controller runs on the managed node groups (the tainted add-on pool when there is one: the
chart tolerates `CriticalAddonsOnly` and keeps off the nodes Karpenter launches). The CRDs come
from the `karpenter-crd` chart, a release of its own, so that a chart upgrade upgrades them too
(Helm never upgrades a chart's `crds/`); the controller's chart then skips its copy.

Each `nodePools[]` entry is one `NodePool` and one `EC2NodeClass` of the same name: its instance
types and capacity type, at most `maxNodes` nodes, AL2023 in the private subnets with the EKS
cluster security group, IMDSv2 with a hop limit of 1, an encrypted gp3 root volume. Nodes carry
the label `strata.io/pool: <name>` like the managed node groups' nodes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from addons import SYSTEM_CLUSTER_CRITICAL, Chart, placement, release, service_account_values
from aws_context import AwsContext
from cluster import ClusterOutputs
from network import NetworkOutputs
from settings import NodePool, Settings
from workload_identity import addon_role

KARPENTER = Chart(
    chart="karpenter",
    repository="oci://public.ecr.aws/karpenter",
    release="karpenter",
    namespace="kube-system",
    service_account="karpenter",
    priority_class=SYSTEM_CLUSTER_CRITICAL,
)
KARPENTER_CRD = Chart(
    chart="karpenter-crd",
    repository="oci://public.ecr.aws/karpenter",
    release="karpenter-crd",
    namespace="kube-system",
    service_account="",
)
NODE_ROLE_POLICIES = ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
POOL_LABEL = "strata.io/pool"
ROOT_DEVICE = "/dev/xvda"  # AL2023 EKS AMIs
# EventBridge events Karpenter drains nodes for (the getting-started CloudFormation's rules).
INTERRUPTION_EVENTS = {
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "capacity-reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}
CAPACITY_TYPES = {"ON_DEMAND": "on-demand", "SPOT": "spot"}


@dataclass(frozen=True)
class KarpenterOutputs:
    """The controller's role, the node role, the queue and the objects later stages may wait for."""

    controller_role: aws.iam.Role
    node_role: aws.iam.Role
    queue: aws.sqs.Queue
    node_pools: list[pulumi.Resource]


def _document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, separators=(",", ":"))


def controller_policies(
    partition: str, region: str, account: str, cluster: str, node_role_arn: str, queue_arn: str
) -> dict[str, str]:
    """The controller's permissions, statement for statement as the getting-started CloudFormation of
    Karpenter 1.14 writes them (`KarpenterController*Policy`), scoped to this cluster and region."""
    ec2 = f"arn:{partition}:ec2:{region}"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    request_owned = {
        f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned",
        "aws:RequestTag/eks:eks-cluster-name": cluster,
    }
    any_nodepool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    launched = [
        f"{ec2}:*:{kind}/*"
        for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    ]
    profile = f"arn:{partition}:iam::{account}:instance-profile/*"
    cluster_arn = f"arn:{partition}:eks:{region}:{account}:cluster/{cluster}"
    return {
        "karpenter-node-lifecycle": _document(
            {
                "Sid": "AllowScopedEC2InstanceAccessActions",
                "Effect": "Allow",
                "Resource": [
                    f"{ec2}::image/*",
                    f"{ec2}::snapshot/*",
                    f"{ec2}:*:security-group/*",
                    f"{ec2}:*:subnet/*",
                    f"{ec2}:*:capacity-reservation/*",
                    f"{ec2}:*:placement-group/*",
                ],
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
            },
            {
                "Sid": "AllowScopedEC2LaunchTemplateAccessActions",
                "Effect": "Allow",
                "Resource": f"{ec2}:*:launch-template/*",
                "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                "Condition": {"StringEquals": owned, "StringLike": any_nodepool},
            },
            {
                "Sid": "AllowScopedEC2InstanceActionsWithTags",
                "Effect": "Allow",
                "Resource": launched,
                "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                "Condition": {
                    "StringEquals": request_owned,
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowScopedResourceCreationTagging",
                "Effect": "Allow",
                "Resource": launched,
                "Action": "ec2:CreateTags",
                "Condition": {
                    "StringEquals": {
                        **request_owned,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                    },
                    "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
                },
            },
            {
                "Sid": "AllowScopedResourceTagging",
                "Effect": "Allow",
                "Resource": f"{ec2}:*:instance/*",
                "Action": "ec2:CreateTags",
                "Condition": {
                    "StringEquals": owned,
                    "StringLike": any_nodepool,
                    "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            },
            {
                "Sid": "AllowScopedDeletion",
                "Effect": "Allow",
                "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
                "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                "Condition": {"StringEquals": owned, "StringLike": any_nodepool},
            },
        ),
        "karpenter-iam-integration": _document(
            {
                "Sid": "AllowPassingInstanceRole",
                "Effect": "Allow",
                "Resource": node_role_arn,
                "Action": "iam:PassRole",
                "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}},
            },
            {
                "Sid": "AllowScopedInstanceProfileCreationActions",
                "Effect": "Allow",
                "Resource": profile,
                "Action": ["iam:CreateInstanceProfile"],
                "Condition": {
                    "StringEquals": {**request_owned, "aws:RequestTag/topology.kubernetes.io/region": region},
                    "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            },
            {
                "Sid": "AllowScopedInstanceProfileTagActions",
                "Effect": "Allow",
                "Resource": profile,
                "Action": ["iam:TagInstanceProfile"],
                "Condition": {
                    "StringEquals": {
                        **owned,
                        "aws:ResourceTag/topology.kubernetes.io/region": region,
                        **request_owned,
                        "aws:RequestTag/topology.kubernetes.io/region": region,
                    },
                    "StringLike": {
                        "aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                        "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*",
                    },
                },
            },
            {
                "Sid": "AllowScopedInstanceProfileActions",
                "Effect": "Allow",
                "Resource": profile,
                "Action": [
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:DeleteInstanceProfile",
                ],
                "Condition": {
                    "StringEquals": {**owned, "aws:ResourceTag/topology.kubernetes.io/region": region},
                    "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"},
                },
            },
        ),
        "karpenter-eks-integration": _document(
            {
                "Sid": "AllowAPIServerEndpointDiscovery",
                "Effect": "Allow",
                "Resource": cluster_arn,
                "Action": "eks:DescribeCluster",
            }
        ),
        "karpenter-interruption": _document(
            {
                "Sid": "AllowInterruptionQueueActions",
                "Effect": "Allow",
                "Resource": queue_arn,
                "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            }
        ),
        "karpenter-resource-discovery": _document(
            {
                "Sid": "AllowRegionalReadActions",
                "Effect": "Allow",
                "Resource": "*",
                "Action": [
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribePlacementGroups",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                "Condition": {"StringEquals": {"aws:RequestedRegion": region}},
            },
            {
                "Sid": "AllowSSMReadActions",
                "Effect": "Allow",
                "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*",
                "Action": "ssm:GetParameter",
            },
            {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
            {
                "Sid": "AllowUnscopedInstanceProfileListAction",
                "Effect": "Allow",
                "Resource": "*",
                "Action": "iam:ListInstanceProfiles",
            },
            {
                "Sid": "AllowInstanceProfileReadActions",
                "Effect": "Allow",
                "Resource": profile,
                "Action": "iam:GetInstanceProfile",
            },
        ),
        "karpenter-zonal-shift": _document(
            {
                "Sid": "AllowZonalShiftStatusReadOnly",
                "Effect": "Allow",
                "Resource": "*",
                "Action": ["arc-zonal-shift:GetManagedResource"],
                "Condition": {"StringEquals": {"arc-zonal-shift:ResourceIdentifier": cluster_arn}},
            }
        ),
    }


def create_node_role(settings: Settings, aws_context: AwsContext) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
    """The role of the nodes Karpenter launches, with its managed policies' attachments."""
    role = aws.iam.Role(
        "karpenter-node-role",
        description=f"Nodes Karpenter launches for cluster {settings.cluster_name}",
        assume_role_policy=_document(
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ),
        tags=settings.tags,
    )
    attachments: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"karpenter-node-role-{policy}",
            role=role.name,
            policy_arn=aws_context.managed_policy_arn(policy),
            opts=pulumi.ResourceOptions(parent=role),
        )
        for policy in NODE_ROLE_POLICIES
    ]
    return role, attachments


def create_interruption_queue(settings: Settings) -> aws.sqs.Queue:
    """The SQS queue EventBridge sends interruption events to, encrypted, reachable over TLS only."""
    queue = aws.sqs.Queue(
        "karpenter-interruption",
        message_retention_seconds=300,
        sqs_managed_sse_enabled=True,
        tags=settings.tags,
    )
    aws.sqs.QueuePolicy(
        "karpenter-interruption",
        queue_url=queue.url,
        policy=queue.arn.apply(
            lambda arn: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Id": "EC2InterruptionPolicy",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                            "Action": "sqs:SendMessage",
                            "Resource": arn,
                        },
                        {
                            "Sid": "DenyHTTP",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sqs:*",
                            "Resource": arn,
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                }
            )
        ),
        opts=pulumi.ResourceOptions(parent=queue),
    )
    for name, (source, detail_type) in INTERRUPTION_EVENTS.items():
        rule = aws.cloudwatch.EventRule(
            f"karpenter-{name}",
            description=f"{detail_type} for Karpenter of cluster {settings.cluster_name}",
            event_pattern=json.dumps({"source": [source], "detail-type": [detail_type]}),
            tags=settings.tags,
            opts=pulumi.ResourceOptions(parent=queue),
        )
        aws.cloudwatch.EventTarget(
            f"karpenter-{name}",
            rule=rule.name,
            target_id="KarpenterInterruptionQueueTarget",
            arn=queue.arn,
            opts=pulumi.ResourceOptions(parent=rule),
        )
    return queue


def karpenter_values(settings: Settings, queue_name: pulumi.Input[str], role_arn: pulumi.Input[str] | None) -> dict:
    """The controller: this cluster, its interruption queue, on the add-on pool, requests as upstream.

    `AWS_REGION` is set: the managed nodes let pods reach no instance metadata (one hop), where
    the controller would otherwise look its region up.
    """
    addon = settings.addons.karpenter
    assert addon is not None
    values = placement(settings, KARPENTER.priority_class)
    values["nodeSelector"] = {"kubernetes.io/os": "linux", **values.get("nodeSelector", {})}
    return {
        "settings": {"clusterName": settings.cluster_name, "interruptionQueue": queue_name},
        "replicas": addon.replicas,
        "serviceAccount": service_account_values(KARPENTER, role_arn),
        "controller": {
            "env": [{"name": "AWS_REGION", "value": settings.region}],
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        },
        **values,
    }


def node_class(pool: NodePool, settings: Settings, node_role: aws.iam.Role, network: NetworkOutputs) -> dict:
    """The `EC2NodeClass` spec of a pool: AL2023, private subnets, the EKS cluster security group."""
    return {
        "role": node_role.name,
        "amiSelectorTerms": [{"alias": settings.karpenter_ami_alias}],
        "subnetSelectorTerms": network.private_subnet_ids.apply(lambda ids: [{"id": i} for i in ids]),
        # EKS tags the cluster security group it creates (and only that one) with the cluster's name.
        "securityGroupSelectorTerms": [{"tags": {"aws:eks:cluster-name": settings.cluster_name}}],
        "metadataOptions": {
            "httpEndpoint": "enabled",
            "httpProtocolIPv6": "disabled",
            "httpPutResponseHopLimit": 1,
            "httpTokens": "required",
        },
        "blockDeviceMappings": [
            {
                "deviceName": ROOT_DEVICE,
                "ebs": {
                    "volumeSize": f"{pool.disk_size}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": {**settings.tags, POOL_LABEL: pool.name},
    }


def node_pool_spec(pool: NodePool) -> dict:
    """The `NodePool` spec: the pool's instance types and capacity type, at most `maxNodes` nodes."""
    return {
        "template": {
            "metadata": {"labels": {POOL_LABEL: pool.name}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": pool.name},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(pool.instance_types)},
                    {
                        "key": "karpenter.sh/capacity-type",
                        "operator": "In",
                        "values": [CAPACITY_TYPES[pool.capacity_type]],
                    },
                    {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                ],
                # Nodes are replaced after 30 days, so they pick up new AMIs; a node whose pods'
                # disruption budgets block its draining goes at most 48 hours later.
                "expireAfter": "720h",
                "terminationGracePeriod": "48h",
            },
        },
        "limits": {"nodes": pool.max_nodes},
        # At most a tenth of the pool's nodes is disrupted at once (consolidation, expiry, and the
        # drift of every node when AWS publishes a new AMI for `al2023@latest`, or the stack pins another).
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": "1m",
            "budgets": [{"nodes": "10%"}],
        },
    }


def create_karpenter(
    settings: Settings,
    cluster: ClusterOutputs,
    network: NetworkOutputs,
    aws_context: AwsContext,
    depends_on: Sequence[pulumi.Resource],
) -> KarpenterOutputs:
    """The node role and its access entry, the queue and its rules, the controller's role, the CRD
    and controller releases, and each pool's `EC2NodeClass` and `NodePool`."""
    node_role, node_policies = create_node_role(settings, aws_context)
    node_access = aws.eks.AccessEntry(
        "karpenter-node-access",
        cluster_name=settings.cluster_name,
        principal_arn=node_role.arn,
        type="EC2_LINUX",
        tags=settings.tags,
        opts=pulumi.ResourceOptions(depends_on=[cluster.component]),
    )
    queue = create_interruption_queue(settings)
    policies = pulumi.Output.all(aws_context.partition, aws_context.account_id, node_role.arn, queue.arn).apply(
        lambda a: controller_policies(a[0], settings.region, a[1], settings.cluster_name, a[2], a[3])
    )
    role = addon_role(
        settings,
        cluster,
        "karpenter",
        KARPENTER.namespace,
        KARPENTER.service_account,
        inline_policies={
            name: policies.apply(lambda p, n=name: p[n]) for name in controller_policies("", "", "", "", "", "")
        },
    )
    provider = cluster.k8s_provider
    crds = release(KARPENTER_CRD, settings.addons.karpenter, {}, KARPENTER_CRD.namespace, provider, depends_on)
    controller = release(
        KARPENTER,
        settings.addons.karpenter,
        karpenter_values(settings, queue.name, None if settings.pod_identity else role.role.arn),
        KARPENTER.namespace,
        provider,
        [*depends_on, crds, *role.ready],
        skip_crds=True,
    )
    objects: list[pulumi.Resource] = []
    # A node launched before its role may join the cluster, or before it may pull images, never
    # becomes ready: the node classes wait for the access entry and the role's policies.
    opts = pulumi.ResourceOptions(provider=provider, depends_on=[crds, controller, node_access, *node_policies])
    for pool in settings.node_pools:
        nodeclass = k8s.apiextensions.CustomResource(
            f"ec2nodeclass-{pool.name}",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
            spec=node_class(pool, settings, node_role, network),
            opts=opts,
        )
        objects.append(
            k8s.apiextensions.CustomResource(
                f"nodepool-{pool.name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=node_pool_spec(pool),
                opts=pulumi.ResourceOptions(provider=provider, depends_on=[crds, controller, nodeclass]),
            )
        )
    return KarpenterOutputs(controller_role=role.role, node_role=node_role, queue=queue, node_pools=objects)
