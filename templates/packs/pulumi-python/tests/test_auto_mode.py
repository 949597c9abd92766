"""`compute: auto-mode`: the cluster with EKS Auto Mode on, its two roles, no add-on that Auto Mode
runs itself, and the StorageClass, IngressClasses and network policy switch it expects; with the
other choices, none of it."""

from __future__ import annotations

import json

from tests.conftest import Stack
from tests.harness import ACCOUNT_ID

ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
RELEASE = "kubernetes:helm.sh/v3:Release"
ADDON = "aws:eks/addon:Addon"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
INGRESS_CLASS = "kubernetes:networking.k8s.io/v1:IngressClass"
AUTO_PARAMS = "kubernetes:eks.amazonaws.com/v1:IngressClassParams"
LBC_PARAMS = "kubernetes:elbv2.k8s.aws/v1beta1:IngressClassParams"
CLUSTER_POLICIES = {
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
}
NODE_POLICIES = {"AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"}
# What Auto Mode runs itself: none of it is installed by the foundation.
RUN_BY_AUTO_MODE = {"aws-load-balancer-controller", "cluster-autoscaler", "karpenter", "karpenter-crd"}
ADDONS_RUN_BY_AUTO_MODE = {"aws-ebs-csi-driver", "coredns", "kube-proxy", "vpc-cni", "eks-pod-identity-agent"}


def _auto_mode(stack: Stack) -> bool:
    return stack.config.get("compute") == "auto-mode"


def _role_arn(role: dict) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{role['inputs'].get('name') or role['name'] + '-mock'}"


def _managed_policies(stack: Stack, role: dict) -> set[str]:
    return {a["inputs"]["policyArn"] for a in stack.of_type(ATTACHMENT) if a.get("parent") == role["urn"]}


def _trust(role: dict) -> dict:
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    return statement


def test_the_cluster_has_auto_mode_on_with_both_built_in_node_pools(stack: Stack) -> None:
    cluster = stack.one("eks:index:Cluster")
    inputs = cluster["inputs"]
    if not _auto_mode(stack):
        assert "autoMode" not in inputs
        assert not [r for r in stack.of_type(ROLE) if r["name"].startswith("auto-mode-")]
        return
    auto = inputs["autoMode"]
    assert auto["enabled"] is True
    assert auto["createNodeRole"] is False, "the node role is the foundation's own"
    assert sorted(auto["computeConfig"]["nodePools"]) == ["general-purpose", "system"]
    assert auto["computeConfig"]["nodeRoleArn"] == _role_arn(stack.one(ROLE, "auto-mode-node-role"))
    # Auto Mode runs CoreDNS, kube-proxy and the VPC CNI itself.
    assert inputs["corednsAddonOptions"]["enabled"] is False
    assert inputs["kubeProxyAddonOptions"]["enabled"] is False
    assert "vpcCniOptions" not in inputs
    # The cluster is created with its roles' policies attached.
    attachments = {a["urn"] for a in stack.of_type(ATTACHMENT) if a["name"].startswith("auto-mode-")}
    assert len(attachments) == len(NODE_POLICIES)
    assert attachments <= set(cluster["dependencies"])
    assert stack.output("autoModeNodeRoleArn") == auto["computeConfig"]["nodeRoleArn"]
    # The built-in node class launches nodes in the cluster's subnets: the private ones only.
    assert "publicSubnetIds" not in inputs
    assert sorted(inputs["privateSubnetIds"]) == sorted(stack.output("privateSubnetIds"))


def test_the_cluster_role_is_pulumi_eks_s_auto_mode_role(stack: Stack) -> None:
    """pulumi-eks makes the cluster role with these five policies and `sts:TagSession` when
    `autoMode` is on and no `serviceRole` is given (not visible under mocks: the component's
    children are not run)."""
    from auto_mode import CLUSTER_ROLE_POLICIES

    assert set(CLUSTER_ROLE_POLICIES) == CLUSTER_POLICIES
    if _auto_mode(stack):
        assert "serviceRole" not in stack.one("eks:index:Cluster")["inputs"]


def test_the_node_role_is_minimal_and_gets_no_access_entry_of_ours(stack: Stack) -> None:
    if not _auto_mode(stack):
        return
    role = stack.one(ROLE, "auto-mode-node-role")
    assert _managed_policies(stack, role) == {f"arn:aws:iam::aws:policy/{p}" for p in NODE_POLICIES}
    assert _trust(role)["Principal"] == {"Service": "ec2.amazonaws.com"}
    # EKS makes the node role's access entry itself, from the compute configuration.
    entries = [e["inputs"]["principalArn"] for e in stack.of_type("aws:eks/accessEntry:AccessEntry")]
    assert _role_arn(role) not in entries
    assert not stack.of_type("aws:eks/nodeGroup:NodeGroup"), "Auto Mode launches the nodes"


def test_nothing_auto_mode_runs_is_installed_twice(stack: Stack) -> None:
    if not _auto_mode(stack):
        return
    releases = {r["name"] for r in stack.of_type(RELEASE)}
    assert not releases & RUN_BY_AUTO_MODE
    assert releases >= {"metrics-server", "external-dns", "argocd", "external-secrets"}
    assert not {a["inputs"]["addonName"] for a in stack.of_type(ADDON)} & ADDONS_RUN_BY_AUTO_MODE
    trusted = " ".join(
        r["inputs"]["assumeRolePolicy"] + r["inputs"].get("description", "") for r in stack.of_type(ROLE)
    )
    for account in ("aws-load-balancer-controller", "ebs-csi-controller-sa", "cluster-autoscaler", "aws-node"):
        assert account not in trusted, f"no role for {account}: Auto Mode runs it"


def test_the_add_ons_run_on_the_built_in_system_pool(stack: Stack) -> None:
    if not _auto_mode(stack):
        return
    for release in stack.of_type(RELEASE):
        values = release["inputs"]["values"]
        placement = values.get("global", values)
        assert placement["nodeSelector"] == {"karpenter.sh/nodepool": "system"}, release["name"]
        assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in placement["tolerations"]


def test_the_default_storage_class_is_auto_modes_encrypted_gp3(stack: Stack) -> None:
    classes = {c["inputs"]["metadata"]["name"]: c["inputs"] for c in stack.of_type(STORAGE_CLASS)}
    if not _auto_mode(stack):
        assert classes.get("gp3", {}).get("provisioner") != "ebs.csi.eks.amazonaws.com"
        return
    (default,) = [
        c
        for c in classes.values()
        if c["metadata"]["annotations"].get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default["metadata"]["name"] == "gp3"  # the name the platform services' volumes use
    assert default["provisioner"] == "ebs.csi.eks.amazonaws.com"
    assert default["parameters"] == {"type": "gp3", "encrypted": "true"}
    assert default["volumeBindingMode"] == "WaitForFirstConsumer"


def test_auto_mode_enforces_the_network_policies(stack: Stack) -> None:
    maps = [
        c["inputs"]
        for c in stack.of_type("kubernetes:core/v1:ConfigMap")
        if c["inputs"]["metadata"].get("name") == "amazon-vpc-cni"
    ]
    if not _auto_mode(stack):
        assert maps == []
        return
    (config,) = maps
    assert config["metadata"]["namespace"] == "kube-system"
    assert config["data"] == {"enable-network-policy-controller": "true"}


def test_dns_stays_allowed_where_auto_mode_answers_it(stack: Stack) -> None:
    # Auto Mode answers DNS on each node: no CoreDNS pod a `k8s-app: kube-dns` peer could match.
    policies = [p["inputs"] for p in stack.kubernetes_objects("NetworkPolicy")]
    policies = [p for p in policies if p["metadata"]["name"] == "allow-dns-egress"]
    assert policies
    for policy in policies:
        (rule,) = policy["spec"]["egress"]
        assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]
        assert ("to" not in rule) == _auto_mode(stack), rule


def test_the_ingress_classes_are_auto_modes_with_the_same_names(stack: Stack) -> None:
    classes = stack.of_type(INGRESS_CLASS)
    names = {f"{e['name']}-{x}" for e in stack.config["environments"] for x in ("public", "internal")}
    assert {c["inputs"]["metadata"]["name"] for c in classes} == names
    if not _auto_mode(stack):
        assert stack.of_type(AUTO_PARAMS) == []
        return
    assert stack.of_type(LBC_PARAMS) == []
    for ingress_class in classes:
        spec = ingress_class["inputs"]["spec"]
        assert spec["controller"] == "eks.amazonaws.com/alb"
        assert spec["parameters"] == {
            "apiGroup": "eks.amazonaws.com",
            "kind": "IngressClassParams",
            "name": ingress_class["inputs"]["metadata"]["name"],
        }
    for params in stack.of_type(AUTO_PARAMS):
        spec = params["inputs"]["spec"]
        assert spec["certificateARNs"] and "certificateArn" not in spec
        assert "tags" not in spec, "Auto Mode's managed policies do not tag its load balancers"
        assert spec["scheme"] in ("internet-facing", "internal")
        assert spec["namespaceSelector"]["matchLabels"]
