"""`compute: karpenter`: the controller's IAM and queue, its charts, and the NodePools and
EC2NodeClasses the foundation creates; with other choices, none of it."""

from __future__ import annotations

import json

from tests.conftest import Stack
from tests.harness import ACCOUNT_ID

ROLE = "aws:iam/role:Role"
RELEASE = "kubernetes:helm.sh/v3:Release"
QUEUE = "aws:sqs/queue:Queue"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CONTROLLER_POLICIES = {
    "karpenter-node-lifecycle",
    "karpenter-iam-integration",
    "karpenter-eks-integration",
    "karpenter-interruption",
    "karpenter-resource-discovery",
    "karpenter-zonal-shift",
}
INTERRUPTION_EVENTS = {
    ("aws.health", "AWS Health Event"),
    ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    ("aws.ec2", "EC2 Instance State-change Notification"),
    ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}


def _karpenter(stack: Stack) -> bool:
    return stack.config.get("compute") == "karpenter"


def _role_arn(role: dict) -> str:
    return f"arn:aws:iam::{role.get('account', ACCOUNT_ID)}:role/{role['inputs'].get('name') or role['name'] + '-mock'}"


def _children(stack: Stack, typ: str, parent: dict) -> list[dict]:
    return [r for r in stack.of_type(typ) if r.get("parent") == parent["urn"]]


def test_karpenter_comes_with_its_compute_choice_only(stack: Stack) -> None:
    karpenter = [r for r in stack.of_type(RELEASE) if r["name"] in ("karpenter", "karpenter-crd")]
    pools = stack.of_type(NODE_POOL) + stack.of_type(NODE_CLASS)
    if not _karpenter(stack):
        assert karpenter == [] and pools == [] and stack.of_type(QUEUE) == []
        return
    assert len(karpenter) == 2
    assert len(stack.of_type(NODE_POOL)) == len(stack.config["nodePools"]) >= 1
    assert not [r for r in stack.of_type(RELEASE) if r["name"] == "cluster-autoscaler"], "Karpenter scales the nodes"


def test_the_node_role_is_least_privilege_and_has_an_ec2_linux_access_entry(stack: Stack) -> None:
    if not _karpenter(stack):
        assert not [r for r in stack.of_type(ROLE) if r["name"] == "karpenter-node-role"]
        return
    role = stack.one(ROLE, "karpenter-node-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    attached = {
        a["inputs"]["policyArn"] for a in _children(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", role)
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    }
    entries = [
        e["inputs"] for e in stack.of_type("aws:eks/accessEntry:AccessEntry") if e["name"] == "karpenter-node-access"
    ]
    assert entries == [
        {**entries[0], "principalArn": _role_arn(role), "type": "EC2_LINUX", "clusterName": stack.config["clusterName"]}
    ]


def test_the_interruption_queue_is_encrypted_tls_only_and_fed_by_every_rule(stack: Stack) -> None:
    if not _karpenter(stack):
        return
    queue = stack.one(QUEUE)
    assert queue["inputs"]["sqsManagedSseEnabled"] is True
    assert queue["inputs"]["messageRetentionSeconds"] == 300
    (policy,) = _children(stack, "aws:sqs/queuePolicy:QueuePolicy", queue)
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    allow, deny = statements
    assert allow["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert allow["Action"] == "sqs:SendMessage"
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    rules = _children(stack, "aws:cloudwatch/eventRule:EventRule", queue)
    events = {(p["source"][0], p["detail-type"][0]) for p in (json.loads(r["inputs"]["eventPattern"]) for r in rules)}
    assert events == INTERRUPTION_EVENTS
    for rule in rules:
        (target,) = _children(stack, "aws:cloudwatch/eventTarget:EventTarget", rule)
        assert target["inputs"]["arn"] == queue["outputs"]["arn"] if "outputs" in queue else True
        assert target["inputs"]["arn"].startswith("arn:aws:sqs:")


def _controller_role(stack: Stack) -> dict:
    roles = [r for r in stack.of_type(ROLE) if r["name"] in ("irsa-karpenter", "pod-identity-karpenter")]
    assert len(roles) == 1, [r["name"] for r in roles]
    return roles[0]


def test_the_controller_role_has_upstreams_policies_scoped_to_this_cluster(stack: Stack) -> None:
    if not _karpenter(stack):
        return
    role = _controller_role(stack)
    policies = {
        p["inputs"]["name"]: json.loads(p["inputs"]["policy"])
        for p in _children(stack, "aws:iam/rolePolicy:RolePolicy", role)
    }
    assert set(policies) == CONTROLLER_POLICIES
    node_role = _role_arn(stack.one(ROLE, "karpenter-node-role"))
    (pass_role,) = [s for s in policies["karpenter-iam-integration"]["Statement"] if s["Action"] == "iam:PassRole"]
    assert pass_role["Resource"] == node_role
    (queue_access,) = policies["karpenter-interruption"]["Statement"]
    assert queue_access["Resource"].startswith("arn:aws:sqs:")
    name = stack.config["clusterName"]
    text = json.dumps(policies["karpenter-node-lifecycle"])
    assert f"aws:ResourceTag/kubernetes.io/cluster/{name}" in text
    assert f":{stack.region}:" in text
    assert f"cluster/{name}" in json.dumps(policies["karpenter-eks-integration"])


def test_the_controller_runs_on_the_managed_nodes_with_its_queue_and_role(stack: Stack) -> None:
    if not _karpenter(stack):
        return
    crds = stack.one(RELEASE, "karpenter-crd")["inputs"]
    controller = stack.one(RELEASE, "karpenter")
    inputs, values = controller["inputs"], controller["inputs"]["values"]
    assert crds["chart"].endswith("/karpenter-crd") and inputs["chart"].endswith("/karpenter")
    assert crds["version"] == inputs["version"] == stack.config["addons"]["karpenter"]["chartVersion"]
    assert inputs["skipCrds"] is True, "the karpenter-crd release owns the CRDs"
    assert stack.one(RELEASE, "karpenter-crd")["urn"] in controller["dependencies"]
    assert values["settings"]["clusterName"] == stack.config["clusterName"]
    assert values["settings"]["interruptionQueue"] == stack.one(QUEUE)["inputs"].get(
        "name", values["settings"]["interruptionQueue"]
    )
    assert values["replicas"] == stack.config["addons"]["karpenter"]["replicas"]
    assert values["serviceAccount"]["name"] == "karpenter"
    # The nodes allow one metadata hop: the controller is told its region.
    assert {"name": "AWS_REGION", "value": stack.region} in values["controller"]["env"]
    pool = stack.config["addons"].get("nodePool")
    if pool:
        assert values["nodeSelector"]["strata.io/pool"] == pool
    groups = {g["urn"] for g in stack.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups and groups <= set(controller["dependencies"])


def test_each_node_pool_has_its_node_class_and_follows_the_configuration(stack: Stack) -> None:
    if not _karpenter(stack):
        return
    node_role = stack.one(ROLE, "karpenter-node-role")
    pools = {p["inputs"]["metadata"]["name"]: p for p in stack.of_type(NODE_POOL)}
    classes = {c["inputs"]["metadata"]["name"]: c["inputs"]["spec"] for c in stack.of_type(NODE_CLASS)}
    private = sorted(stack.output("privateSubnetIds"))
    for wanted in stack.config["nodePools"]:
        spec = pools[wanted["name"]]["inputs"]["spec"]
        requirements = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        assert requirements["node.kubernetes.io/instance-type"] == wanted["instanceTypes"]
        capacity = {"ON_DEMAND": ["on-demand"], "SPOT": ["spot"]}[wanted["capacityType"]]
        assert requirements["karpenter.sh/capacity-type"] == capacity
        assert spec["limits"] == {"nodes": wanted["maxNodes"]}
        # A new AMI drifts every node: they are replaced a tenth at a time, never all at once.
        assert spec["disruption"]["budgets"] == [{"nodes": "10%"}]
        assert spec["template"]["spec"]["terminationGracePeriod"] == "48h"
        assert spec["template"]["spec"]["nodeClassRef"]["name"] == wanted["name"]
        node_class = classes[wanted["name"]]
        assert node_class["role"] == node_role["inputs"].get("name", f"{node_role['name']}-mock")
        assert sorted(t["id"] for t in node_class["subnetSelectorTerms"]) == private
        assert node_class["metadataOptions"]["httpTokens"] == "required"
        assert node_class["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (disk,) = node_class["blockDeviceMappings"]
        assert disk["ebs"] == {
            "volumeSize": f"{wanted['diskSize']}Gi",
            "volumeType": "gp3",
            "encrypted": True,
            "deleteOnTermination": True,
        }
        crds = stack.one(RELEASE, "karpenter-crd")["urn"]
        assert crds in pools[wanted["name"]]["dependencies"]
        # Its nodes may join the cluster and pull images from the start.
        (node_class_resource,) = [
            c for c in stack.of_type(NODE_CLASS) if c["inputs"]["metadata"]["name"] == wanted["name"]
        ]
        joins = {stack.one("aws:eks/accessEntry:AccessEntry", "karpenter-node-access")["urn"]} | {
            a["urn"] for a in _children(stack, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", node_role)
        }
        assert joins <= set(node_class_resource["dependencies"])
