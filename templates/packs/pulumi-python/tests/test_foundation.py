"""What the foundation creates for every stack of this repository, checked under Pulumi mocks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Stack
from tests.harness import ACCOUNT_ID, REPO_ROOT

ROLE = "aws:iam/role:Role"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
APPLICATION_KINDS = {
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Pod",
    "Job",
    "CronJob",
    "Service",
    "Ingress",
    "HorizontalPodAutoscaler",
    "Secret",
}
# chart config key -> (chart, release name, namespace)
CHARTS = {
    "awsLoadBalancerController": ("aws-load-balancer-controller", "aws-load-balancer-controller", "kube-system"),
    "clusterAutoscaler": ("cluster-autoscaler", "cluster-autoscaler", "kube-system"),
    "metricsServer": ("metrics-server", "metrics-server", "kube-system"),
    "externalDns": ("external-dns", "external-dns", "external-dns"),
    "externalSecrets": ("external-secrets", "external-secrets", "external-secrets"),
    "argocd": ("argo-cd", "argocd", "argocd"),
}


# The releases of `compute: karpenter` (checked in test_karpenter.py).
KARPENTER_RELEASES = {"karpenter", "karpenter-crd"}


def _auto_mode(stack: Stack) -> bool:
    """EKS Auto Mode runs the load balancer and EBS controllers, CoreDNS and the nodes (see
    test_auto_mode.py): the tests of those add-ons check that they are absent then."""
    return stack.config.get("compute") == "auto-mode"


def charts(stack: Stack) -> dict[str, tuple[str, str, str]]:
    """The add-on charts of this stack: Cluster Autoscaler only with managed node groups alone, the
    load balancer controller unless EKS Auto Mode runs its own."""
    compute = stack.config.get("compute", "node-groups")
    skipped = {"node-groups": set(), "karpenter": {"clusterAutoscaler"}}.get(
        compute, {"clusterAutoscaler", "awsLoadBalancerController"}
    )
    return {key: chart for key, chart in CHARTS.items() if key not in skipped}


def _addon_names(stack: Stack) -> set[str]:
    return {a["inputs"]["addonName"] for a in stack.of_type("aws:eks/addon:Addon")}


def _policy(document: str) -> dict:
    return json.loads(document)


def _statements(document: str) -> list[dict]:
    statements = _policy(document)["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _irsa_roles(stack: Stack) -> list[dict]:
    """Roles trusted by the cluster's OIDC provider (not GitHub's: those are CI's, see test_ci_access.py)."""
    return [
        role
        for role in stack.of_type(ROLE)
        if "sts:AssumeRoleWithWebIdentity" in role["inputs"]["assumeRolePolicy"]
        and "token.actions.githubusercontent.com" not in role["inputs"]["assumeRolePolicy"]
    ]


def _trusted_service_account(role: dict) -> str:
    """`namespace:name` of the one service account a role trusts."""
    condition = _statements(role["inputs"]["assumeRolePolicy"])[0]["Condition"]["StringEquals"]
    sub = next(value for key, value in condition.items() if key.endswith(":sub"))
    return sub.removeprefix("system:serviceaccount:")


def _pod_identity(stack: Stack) -> bool:
    return stack.config.get("identity") == "pod-identity"


def _associated_role(stack: Stack, namespace: str, service_account: str) -> list[dict]:
    """The roles a Pod Identity association gives `<namespace>/<service_account>`."""
    arns = [
        a["inputs"]["roleArn"]
        for a in stack.of_type(ASSOCIATION)
        if (a["inputs"]["namespace"], a["inputs"]["serviceAccount"]) == (namespace, service_account)
    ]
    return [r for r in stack.of_type(ROLE) if _role_arn(r) in arns]


def _role_trusting(stack: Stack, namespace: str, service_account: str) -> dict:
    """The one role of a service account: trusted through IRSA, or associated through Pod Identity."""
    roles = [r for r in _irsa_roles(stack) if _trusted_service_account(r) == f"{namespace}:{service_account}"]
    roles += _associated_role(stack, namespace, service_account)
    assert len(roles) == 1, f"expected one role for {namespace}:{service_account}, found {len(roles)}"
    return roles[0]


def _annotation_of(stack: Stack, role: dict) -> str | None:
    """What a service account of the role must carry: its ARN with IRSA, nothing with Pod Identity."""
    return None if _associated_role_of(stack, role) else _role_arn(role)


def _associated_role_of(stack: Stack, role: dict) -> bool:
    return any(a["inputs"]["roleArn"] == _role_arn(role) for a in stack.of_type(ASSOCIATION))


def _role_arn(role: dict) -> str:
    name = role["inputs"].get("name") or f"{role['name']}-mock"
    return f"arn:aws:iam::{role.get('account', ACCOUNT_ID)}:role/{name}"


def _inline_policies(stack: Stack, role: dict) -> dict[str, str]:
    return {
        p["inputs"]["name"]: p["inputs"]["policy"]
        for p in stack.of_type("aws:iam/rolePolicy:RolePolicy")
        if p["parent"] == role["urn"]
    }


def _managed_policies(stack: Stack, role: dict) -> set[str]:
    return {
        p["inputs"]["policyArn"]
        for p in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if p["parent"] == role["urn"]
    }


def _release(stack: Stack, name: str) -> dict:
    return stack.one(RELEASE, name)


# --- cluster ----------------------------------------------------------------------------------


def test_the_cluster_is_named_private_encrypted_logged_and_on_standard_support(stack: Stack) -> None:
    cluster = stack.one("eks:index:Cluster")["inputs"]
    key = stack.one("aws:kms/key:Key")
    assert cluster["name"] == stack.config["clusterName"]
    assert cluster["version"] == stack.config["kubernetesVersion"]
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["nodeAssociatePublicIpAddress"] is False
    # Auto Mode's built-in node class launches nodes in the cluster's subnets: private ones only.
    assert cluster["privateSubnetIds"] and bool(cluster.get("publicSubnetIds")) != _auto_mode(stack)
    assert "subnetIds" not in cluster
    assert cluster["enabledClusterLogTypes"] == stack.config["clusterLogTypes"]
    assert {"api", "audit", "authenticator"} <= set(cluster["enabledClusterLogTypes"])
    assert key["inputs"]["enableKeyRotation"] is True
    assert cluster["encryptionConfigKeyArn"].endswith(f"key/{key['name']}-key-id")
    assert cluster["upgradePolicy"]["supportType"] == stack.config.get("supportType", "STANDARD")
    if _auto_mode(stack):  # Auto Mode's network policy switch: see test_auto_mode.py
        assert "vpcCniOptions" not in cluster
    else:
        assert cluster["vpcCniOptions"]["enableNetworkPolicy"] is True
    endpoint = stack.config["endpoint"]
    assert cluster["endpointPrivateAccess"] == endpoint["privateAccess"]
    assert cluster["endpointPublicAccess"] == endpoint["publicAccess"]
    assert cluster.get("publicAccessCidrs", []) == endpoint.get("publicAccessCidrs", [])


def test_admin_roles_get_cluster_scoped_admin_access_entries(stack: Stack) -> None:
    cluster = stack.one("eks:index:Cluster")
    assert not cluster["inputs"].get("accessEntries"), "the entries are the program's, not the component's"
    entries = [e for e in stack.of_type("aws:eks/accessEntry:AccessEntry") if e["parent"] == cluster["urn"]]
    assert sorted(e["inputs"]["principalArn"] for e in entries) == sorted(stack.config["adminRoleArns"])
    for entry in entries:
        assert entry["inputs"]["type"] == "STANDARD"
        assert entry["inputs"]["clusterName"] == stack.config["clusterName"]
        assert entry["name"].startswith("cluster-admin-"), "pulumi-eks's name, so older stacks keep the entry"
        assert not entry["importId"], "the tests run as an IAM user that is no admin role: nothing is adopted"
        (policy,) = [a for a in stack.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
                     if a["parent"] == entry["urn"]]  # fmt: skip
        assert policy["inputs"]["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert policy["inputs"]["accessScope"] == {"type": "cluster"}


def test_coredns_is_a_managed_addon_created_once_nodes_exist(stack: Stack) -> None:
    # pulumi-eks makes vpc-cni and kube-proxy managed add-ons, CoreDNS only with its default node group.
    addons = {a["inputs"]["addonName"]: a for a in stack.of_type("aws:eks/addon:Addon")}
    if _auto_mode(stack):  # Auto Mode runs CoreDNS itself
        assert "coredns" not in addons
        assert stack.one("eks:index:Cluster")["inputs"]["corednsAddonOptions"]["enabled"] is False
        return
    coredns = addons["coredns"]
    assert coredns["inputs"]["clusterName"] == stack.config["clusterName"]
    assert coredns["inputs"]["resolveConflictsOnCreate"] == "OVERWRITE"
    groups = {g["urn"] for g in stack.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups and groups <= set(coredns["dependencies"])
    assert stack.one("eks:index:Cluster")["inputs"]["skipDefaultNodeGroup"] is True
    assert "corednsAddonOptions" not in stack.one("eks:index:Cluster")["inputs"]


# --- nodes ------------------------------------------------------------------------------------


def test_every_node_group_is_private_al2023_imdsv2_hop_1_and_encrypted(stack: Stack) -> None:
    cluster = stack.one("eks:index:Cluster")["inputs"]
    groups = {g["name"]: g for g in stack.of_type("aws:eks/nodeGroup:NodeGroup")}
    assert set(groups) == {f"nodes-{g['name']}" for g in stack.config["nodeGroups"]}
    for wanted in stack.config["nodeGroups"]:
        group = groups[f"nodes-{wanted['name']}"]
        inputs = group["inputs"]
        assert inputs["clusterName"] == stack.config["clusterName"]
        assert inputs["subnetIds"] == cluster["privateSubnetIds"]
        assert inputs["amiType"].startswith("AL2023_")
        assert inputs["instanceTypes"] == wanted["instanceTypes"]
        assert inputs["scalingConfig"] == {
            "minSize": wanted["minSize"],
            "maxSize": wanted["maxSize"],
            "desiredSize": wanted["desiredSize"],
        }
        assert inputs["labels"]["strata.io/pool"] == wanted["name"]
        assert len(inputs.get("taints", [])) == len(wanted.get("taints", []))
        assert group["ignoreChanges"] == ["scalingConfig.desiredSize"]
        template = stack.one("aws:ec2/launchTemplate:LaunchTemplate", group["name"])["inputs"]
        assert inputs["launchTemplate"] == {"id": f"{group['name']}-id", "version": "1"}
        assert template["metadataOptions"]["httpTokens"] == "required"
        assert template["metadataOptions"]["httpPutResponseHopLimit"] == 1
        (root,) = template["blockDeviceMappings"]
        assert root["ebs"]["volumeType"] == "gp3"
        assert root["ebs"]["encrypted"] == "true"
        assert root["ebs"]["volumeSize"] == wanted["diskSize"]


def test_the_node_role_has_no_cni_policy_which_goes_to_an_irsa_role_for_aws_node(stack: Stack) -> None:
    if _auto_mode(stack):  # Auto Mode's node role: see test_auto_mode.py; it runs no `aws-node`
        assert not [r for r in stack.of_type(ROLE) if r["name"] == "node-role"]
        assert not stack.of_type("kubernetes:core/v1:ServiceAccountPatch")
        return
    node_role = stack.one(ROLE, "node-role")
    policies = {arn.rsplit("/", 1)[-1] for arn in _managed_policies(stack, node_role)}
    assert policies == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"}
    cni_role = _role_trusting(stack, "kube-system", "aws-node")
    assert {arn.rsplit("/", 1)[-1] for arn in _managed_policies(stack, cni_role)} == {"AmazonEKS_CNI_Policy"}
    patch = stack.one("kubernetes:core/v1:ServiceAccountPatch")
    assert patch["inputs"]["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == _role_arn(cni_role)
    for group in stack.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert patch["urn"] in group["dependencies"], "nodes must start after aws-node has its role"


# --- IAM --------------------------------------------------------------------------------------


def test_every_irsa_role_trusts_exactly_one_service_account_of_this_cluster(stack: Stack) -> None:
    roles = _irsa_roles(stack)
    assert roles
    for role in roles:
        (statement,) = _statements(role["inputs"]["assumeRolePolicy"])
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": stack.output("oidcProviderArn")}
        assert set(statement["Condition"]) == {"StringEquals"}
        condition = statement["Condition"]["StringEquals"]
        issuer = stack.output("oidcIssuer")
        assert not issuer.startswith("https://")
        assert set(condition) == {f"{issuer}:sub", f"{issuer}:aud"}
        assert condition[f"{issuer}:aud"] == "sts.amazonaws.com"
        assert condition[f"{issuer}:sub"].startswith("system:serviceaccount:")
        assert "*" not in condition[f"{issuer}:sub"]


def test_the_load_balancer_controller_gets_the_vendored_policy_limited_to_this_vpc(stack: Stack) -> None:
    if "awsLoadBalancerController" not in charts(stack):
        assert not _associated_role(stack, "kube-system", "aws-load-balancer-controller")
        assert not [
            r for r in _irsa_roles(stack) if _trusted_service_account(r).endswith(":aws-load-balancer-controller")
        ]
        return
    role = _role_trusting(stack, "kube-system", "aws-load-balancer-controller")
    policies = _inline_policies(stack, role)
    vendored = Path(REPO_ROOT, "policies", "aws-load-balancer-controller", "iam_policy.json").read_text()
    assert _policy(policies["aws-load-balancer-controller"]) == json.loads(vendored)
    (guard,) = _statements(policies["security-groups-of-this-vpc-only"])
    assert guard["Effect"] == "Deny"
    assert guard["Condition"]["ArnNotEquals"]["ec2:Vpc"].endswith(f":vpc/{stack.output('vpcId')}")
    # A negated operator holds when the key is absent: without this guard the deny would refuse
    # every request that names no VPC.
    assert guard["Condition"]["Null"] == {"ec2:Vpc": "false"}


def test_the_cluster_autoscaler_may_scale_only_this_clusters_node_groups(stack: Stack) -> None:
    if "clusterAutoscaler" not in charts(stack):
        assert not [r for r in _irsa_roles(stack) if _trusted_service_account(r).endswith(":cluster-autoscaler")]
        assert not [r for r in stack.of_type(RELEASE) if r["name"] == "cluster-autoscaler"]
        return
    role = _role_trusting(stack, "kube-system", "cluster-autoscaler")
    statements = _statements(_inline_policies(stack, role)["cluster-autoscaler"])
    scaling = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert len(scaling) == 1
    tag = f"aws:ResourceTag/k8s.io/cluster-autoscaler/{stack.config['clusterName']}"
    assert scaling[0]["Condition"]["StringEquals"] == {tag: "owned"}
    assert "autoscaling:TerminateInstanceInAutoScalingGroup" in scaling[0]["Action"]
    for statement in statements:
        if statement is not scaling[0]:
            assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in statement["Action"])


def test_external_dns_may_change_only_the_projects_hosted_zone(stack: Stack) -> None:
    role = _role_trusting(stack, "external-dns", "external-dns")
    for statement in _statements(_inline_policies(stack, role)["external-dns"]):
        if "route53:ChangeResourceRecordSets" in statement["Action"]:
            assert statement["Resource"] == ["arn:aws:route53:::hostedzone/ZMOCKZONE"]
        else:
            assert statement["Action"] == ["route53:ListHostedZones"]


def test_the_ebs_csi_driver_is_a_managed_addon_with_its_role_and_the_v2_policy(stack: Stack) -> None:
    if _auto_mode(stack):  # Auto Mode's block storage runs with the cluster role
        assert "aws-ebs-csi-driver" not in _addon_names(stack)
        assert not _associated_role(stack, "kube-system", "ebs-csi-controller-sa")
        return
    (addon,) = [a["inputs"] for a in stack.of_type("aws:eks/addon:Addon") if a["name"] == "aws-ebs-csi-driver"]
    role = _role_trusting(stack, "kube-system", "ebs-csi-controller-sa")
    assert addon["addonName"] == "aws-ebs-csi-driver"
    assert addon["clusterName"] == stack.config["clusterName"]
    assert addon.get("serviceAccountRoleArn") == _annotation_of(stack, role)
    assert "defaultStorageClass" not in addon.get("configurationValues", ""), "its class is not encrypted"
    # The V2 policy has no path (the V1 policy is `service-role/AmazonEBSCSIDriverPolicy`).
    assert _managed_policies(stack, role) == {"arn:aws:iam::aws:policy/AmazonEBSCSIDriverPolicyV2"}


def test_the_default_storage_class_is_encrypted_gp3_and_nothing_patches_gp2(stack: Stack) -> None:
    (gp3,) = [c["inputs"] for c in stack.kubernetes_objects("StorageClass")]
    if _auto_mode(stack):  # `gp3` of Auto Mode's provisioner: see test_auto_mode.py
        assert gp3["provisioner"] == "ebs.csi.eks.amazonaws.com"
        return
    assert gp3["metadata"]["name"] == "gp3"
    assert gp3["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert gp3["provisioner"] == "ebs.csi.aws.com"
    assert gp3["parameters"]["type"] == "gp3" and gp3["parameters"]["encrypted"] == "true"
    assert gp3["volumeBindingMode"] == "WaitForFirstConsumer"
    # EKS marks no `gp2` default since 1.30 and newer clusters have none: a patch would fail there.
    assert not stack.of_type("kubernetes:storage.k8s.io/v1:StorageClassPatch")


def test_each_environment_reads_only_its_own_secrets_through_its_secret_store(stack: Stack) -> None:
    project = stack.config["project"]
    for env in stack.config["environments"]:
        role = _role_trusting(stack, env["namespace"], "aws-secrets-reader")
        (statement,) = _statements(_inline_policies(stack, role)["read-environment-secrets"])
        assert statement["Resource"] == (
            f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{project}/{env['name']}/*"
        )
        assert all(action.startswith("secretsmanager:") for action in statement["Action"])
        account = next(
            sa
            for sa in stack.kubernetes_objects("ServiceAccount")
            if sa["inputs"]["metadata"]["namespace"] == env["namespace"]
        )
        assert account["inputs"]["metadata"]["annotations"][ROLE_ARN_ANNOTATION] == _role_arn(role)
        store = next(
            s
            for s in stack.kubernetes_objects("SecretStore")
            if s["inputs"]["metadata"]["namespace"] == env["namespace"]
        )
        assert store["inputs"]["apiVersion"] == "external-secrets.io/v1"
        aws = store["inputs"]["spec"]["provider"]["aws"]
        assert aws["service"] == "SecretsManager" and aws["region"] == stack.region
        assert aws["auth"]["jwt"]["serviceAccountRef"]["name"] == "aws-secrets-reader"


def test_service_roles_are_created_named_and_exported(stack: Stack) -> None:
    wanted = stack.config.get("serviceRoles") or []
    exported = stack.output("serviceRoleArns")
    assert set(exported) == {f"{r['namespace']}/{r['service']}" for r in wanted}
    for entry in wanted:
        role = _role_trusting(stack, entry["namespace"], entry["serviceAccount"])
        assert role["inputs"]["name"] == entry["roleName"]
        assert exported[f"{entry['namespace']}/{entry['service']}"] == _role_arn(role)


def test_pod_identity_roles_trust_the_eks_service_and_each_has_one_association(stack: Stack) -> None:
    associations = stack.of_type(ASSOCIATION)
    agent = [a for a in stack.of_type("aws:eks/addon:Addon") if a["inputs"]["addonName"] == "eks-pod-identity-agent"]
    if not _pod_identity(stack):
        assert associations == [] and agent == []
        return
    # EKS Auto Mode runs the Pod Identity agent itself.
    assert len(agent) == (0 if _auto_mode(stack) else 1) and associations
    for association in associations:
        (role,) = [r for r in stack.of_type(ROLE) if _role_arn(r) == association["inputs"]["roleArn"]]
        (statement,) = _statements(role["inputs"]["assumeRolePolicy"])
        assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
        assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
        assert statement["Condition"] == {
            "StringEquals": {
                "aws:RequestTag/eks-cluster-name": stack.config["clusterName"],
                "aws:RequestTag/kubernetes-namespace": association["inputs"]["namespace"],
                "aws:RequestTag/kubernetes-service-account": association["inputs"]["serviceAccount"],
            }
        }, "only this association's session tags may assume the role"
        assert association["inputs"]["clusterName"] == stack.config["clusterName"]
    for release in stack.of_type(RELEASE):
        assert not agent or agent[0]["urn"] in release["dependencies"], f"{release['name']} starts before the agent"


def test_every_add_on_release_waits_for_its_roles_permissions(stack: Stack) -> None:
    # Started before its role's policies exist, a controller's first calls are denied (and some,
    # like the load balancer controller's webhook, then fail the next releases).
    awaited = {dep for release in stack.of_type(RELEASE) for dep in release["dependencies"]}
    prefix = "pod-identity-" if stack.config.get("identity") == "pod-identity" else "irsa-"
    releases = {release["name"] for release in stack.of_type(RELEASE)}
    add_on_roles = [r for r in stack.of_type(ROLE) if r["name"].removeprefix(prefix) in releases]
    assert add_on_roles, "the load balancer controller and External DNS have roles"
    for role in add_on_roles:
        for kind in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
            for permission in stack.of_type(kind):
                if permission.get("parent") == role["urn"]:
                    assert permission["urn"] in awaited, f"no release waits for {permission['name']}"


# --- add-ons ----------------------------------------------------------------------------------


def test_every_chart_is_pinned_atomic_with_a_timeout_and_an_explicit_release_name(stack: Stack) -> None:
    releases = stack.of_type(RELEASE)
    karpenter = KARPENTER_RELEASES if stack.config.get("compute") == "karpenter" else set()
    assert {r["name"] for r in releases} == {name for _, name, _ in charts(stack).values()} | karpenter
    for key, (chart, name, namespace) in charts(stack).items():
        release = _release(stack, name)["inputs"]
        assert release["chart"] == chart
        assert release["name"] == name
        assert release["version"] == stack.config["addons"][key]["chartVersion"]
        assert release["namespace"] == namespace
        assert release["repositoryOpts"]["repo"].startswith("https://")
        assert release["atomic"] is True, "a failed install or upgrade must roll back"
        assert 0 < release["timeout"] <= 1800


def _pod_placements(values: dict, chart: str) -> dict[str, dict]:
    """Where each component of a chart gets its nodeSelector, tolerations and priority class."""
    if chart == "argo-cd":
        found = {"argo-cd": values["global"]}
        if "redis-ha" in values:
            redis = values["redis-ha"]
            found["redis-ha"] = redis
            found["redis-ha haproxy"] = {**redis, "priorityClassName": redis["haproxy"]["priorityClassName"]}
        return found
    if chart == "external-secrets":
        return {chart: values, "webhook": values["webhook"], "certController": values["certController"]}
    return {chart: values}


def test_every_addon_pod_is_placed_on_the_addon_pool_with_a_priority_class(stack: Stack) -> None:
    pool = stack.config["addons"].get("nodePool")
    selector = {"strata.io/pool": pool} if pool else None
    if _auto_mode(stack):  # Auto Mode's built-in pool for add-ons
        selector = {"karpenter.sh/nodepool": "system"}
    for chart, name, namespace in charts(stack).values():
        values = _release(stack, name)["inputs"]["values"]
        for component, place in _pod_placements(values, chart).items():
            assert {"key": "CriticalAddonsOnly", "operator": "Exists"} in place["tolerations"], component
            assert place.get("nodeSelector") == selector, component
            wanted = "system-cluster-critical" if namespace == "kube-system" else "platform-critical"
            assert place["priorityClassName"] == wanted, component


def test_the_load_balancer_controller_creates_no_ingress_class_of_its_own(stack: Stack) -> None:
    if "awsLoadBalancerController" not in charts(stack):
        assert not [r for r in stack.of_type(RELEASE) if r["name"] == "aws-load-balancer-controller"]
        return
    values = _release(stack, "aws-load-balancer-controller")["inputs"]["values"]
    assert values["createIngressClassResource"] is False


def test_charts_with_aws_access_annotate_the_service_account_their_role_trusts(stack: Stack) -> None:
    cases = {
        "aws-load-balancer-controller": lambda v: v["serviceAccount"],
        "cluster-autoscaler": lambda v: v["rbac"]["serviceAccount"],
        "external-dns": lambda v: v["serviceAccount"],
    }
    if "clusterAutoscaler" not in charts(stack):
        del cases["cluster-autoscaler"]
    if "awsLoadBalancerController" not in charts(stack):
        del cases["aws-load-balancer-controller"]
    for name, service_account_of in cases.items():
        release = _release(stack, name)["inputs"]
        account = service_account_of(release["values"])
        role = _role_trusting(stack, release["namespace"], account["name"])
        assert account["create"] is True
        assert account["annotations"].get(ROLE_ARN_ANNOTATION) == _annotation_of(stack, role)
    operator = _release(stack, "external-secrets")["inputs"]["values"]["serviceAccount"]
    assert ROLE_ARN_ANNOTATION not in operator.get("annotations", {}), "the operator itself reads no secrets"


def test_addon_values_follow_the_configuration(stack: Stack) -> None:
    addons, name = stack.config["addons"], stack.config["clusterName"]
    if "awsLoadBalancerController" in charts(stack):
        lbc = _release(stack, "aws-load-balancer-controller")["inputs"]["values"]
        assert (lbc["clusterName"], lbc["region"], lbc["vpcId"]) == (name, stack.region, stack.output("vpcId"))
        assert lbc["replicaCount"] == addons["awsLoadBalancerController"]["replicas"]
    if "clusterAutoscaler" in charts(stack):
        autoscaler = _release(stack, "cluster-autoscaler")["inputs"]["values"]
        assert autoscaler["autoDiscovery"]["clusterName"] == name
        assert autoscaler["awsRegion"] == stack.region
        assert autoscaler["image"]["tag"] == addons["clusterAutoscaler"]["imageTag"]
        assert autoscaler["rbac"]["serviceAccount"]["name"] == "cluster-autoscaler"
    assert _release(stack, "metrics-server")["inputs"]["values"]["replicas"] == addons["metricsServer"]["replicas"]
    dns = _release(stack, "external-dns")["inputs"]["values"]
    assert dns["provider"] == {"name": "aws"}
    assert dns["domainFilters"] == [stack.config.get("dnsZone") or stack.config["domain"]]
    assert dns["policy"] == addons["externalDns"]["policy"]
    assert dns["txtOwnerId"] == name
    assert dns["sources"] == ["service", "ingress"]
    secrets = _release(stack, "external-secrets")["inputs"]["values"]
    assert secrets["replicaCount"] == addons["externalSecrets"]["replicas"]
    assert secrets["leaderElect"] == (addons["externalSecrets"]["replicas"] > 1)
    argocd = _release(stack, "argocd")["inputs"]["values"]
    if addons["argocd"]["ha"]:
        assert argocd["redis-ha"]["enabled"] is True
        assert argocd["server"]["replicas"] > 1 and argocd["repoServer"]["replicas"] > 1
    else:
        assert "redis-ha" not in argocd


def test_releases_wait_for_nodes_and_the_load_balancer_controller(stack: Stack) -> None:
    groups = {g["urn"] for g in stack.of_type("aws:eks/nodeGroup:NodeGroup")}
    if _auto_mode(stack):  # no node group, no controller of ours: Auto Mode runs both
        assert not groups and "awsLoadBalancerController" not in charts(stack)
        return
    lbc = _release(stack, "aws-load-balancer-controller")
    for release in stack.of_type(RELEASE):
        assert groups <= set(release["dependencies"])
        if release is not lbc:
            assert lbc["urn"] in release["dependencies"]


def test_every_kubernetes_resource_uses_the_clusters_provider(stack: Stack) -> None:
    provider = stack.one("pulumi:providers:kubernetes")
    assert provider["inputs"]["kubeconfig"] == stack.output("kubeconfig")
    for resource in stack.resources:
        if resource["type"].startswith("kubernetes:"):
            assert resource["provider"].startswith(provider["urn"] + "::"), resource["name"]


# --- platform layer ---------------------------------------------------------------------------


def test_every_environment_namespace_is_restricted_quota_limited_and_default_deny(stack: Stack) -> None:
    namespaces = {
        n["inputs"]["metadata"]["name"]: n["inputs"]["metadata"] for n in stack.kubernetes_objects("Namespace")
    }

    def in_namespace(kind: str, namespace: str) -> list[dict]:
        return [
            o["inputs"] for o in stack.kubernetes_objects(kind) if o["inputs"]["metadata"]["namespace"] == namespace
        ]

    for env in stack.config["environments"]:
        labels = namespaces[env["namespace"]]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
        (quota,) = in_namespace("ResourceQuota", env["namespace"])
        assert quota["spec"]["hard"] == {
            "requests.cpu": env["quota"]["requestsCpu"],
            "requests.memory": env["quota"]["requestsMemory"],
            "limits.cpu": env["quota"]["limitsCpu"],
            "limits.memory": env["quota"]["limitsMemory"],
            "pods": env["quota"]["pods"],
        }
        (limits,) = in_namespace("LimitRange", env["namespace"])
        (item,) = limits["spec"]["limits"]
        assert item["type"] == "Container"
        assert item["default"] == {"cpu": env["limits"]["defaultCpu"], "memory": env["limits"]["defaultMemory"]}
        assert item["max"] == {"cpu": env["limits"]["maxCpu"], "memory": env["limits"]["maxMemory"]}
        policies = {p["metadata"]["name"]: p["spec"] for p in in_namespace("NetworkPolicy", env["namespace"])}
        deny = policies["default-deny"]
        assert deny.get("podSelector", {}) == {}
        assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny


def test_priority_classes_exist_without_the_reserved_prefix(stack: Stack) -> None:
    classes = {c["inputs"]["metadata"]["name"]: c["inputs"] for c in stack.kubernetes_objects("PriorityClass")}
    assert {"platform-critical", "service-high", "service-default"} <= set(classes)
    assert not any(name.startswith("system-") for name in classes)
    assert (
        classes["platform-critical"]["value"] > classes["service-high"]["value"] > classes["service-default"]["value"]
    )
    assert all(c["value"] <= 1_000_000_000 for c in classes.values())


def test_application_service_monitors_are_kept_to_their_namespace(stack: Stack) -> None:
    """The scrape guard denies, in application namespaces only, on ServiceMonitors only."""
    (policy,) = stack.kubernetes_objects("ValidatingAdmissionPolicy")
    (binding,) = stack.kubernetes_objects("ValidatingAdmissionPolicyBinding")
    spec = policy["inputs"]["spec"]
    assert spec["failurePolicy"] == "Fail"
    (rule,) = spec["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["monitoring.coreos.com"] and rule["resources"] == ["servicemonitors"]
    assert len(spec["validations"]) == 3
    assert all(v["message"] and v["expression"] for v in spec["validations"])
    bound = binding["inputs"]["spec"]
    assert bound["policyName"] == policy["inputs"]["metadata"]["name"]
    assert bound["validationActions"] == ["Deny"]
    assert bound["matchResources"]["namespaceSelector"] == {"matchLabels": {"strata.io/tier": "application"}}
    tiers = {
        ns["inputs"]["metadata"]["name"]: ns["inputs"]["metadata"]["labels"].get("strata.io/tier")
        for ns in stack.kubernetes_objects("Namespace")
    }
    for env in stack.config["environments"]:
        assert tiers[env["namespace"]] == "application"


def test_cluster_shared_config_describes_the_cluster(stack: Stack) -> None:
    (config,) = [
        c for c in stack.kubernetes_objects("ConfigMap") if c["inputs"]["metadata"]["name"] != "amazon-vpc-cni"
    ]
    assert config["inputs"]["metadata"] == {"name": "cluster-shared-config", "namespace": "kube-system"}
    data = config["inputs"]["data"]
    assert data["region"] == stack.region
    assert data["clusterName"] == stack.config["clusterName"]
    assert data["vpcId"] == stack.output("vpcId")
    assert data["environments"].split(",") == [e["name"] for e in stack.config["environments"]]


# --- hand-over --------------------------------------------------------------------------------


def test_each_environment_has_a_root_application_for_apps_env_in_a_locked_down_project(stack: Stack) -> None:
    """The root project may create Applications only: no AppProject comes from git."""
    gitops = stack.config["gitops"]
    argocd = _release(stack, "argocd")
    applications = {a["inputs"]["metadata"]["name"]: a for a in stack.kubernetes_objects("Application")}
    projects = {p["inputs"]["metadata"]["name"]: p for p in stack.kubernetes_objects("AppProject")}
    platform = stack.config.get("platformServices") or {}
    platform_on = bool(platform.get("monitoring") or platform.get("logging"))
    assert set(applications) == {f"{e['name']}-apps" for e in stack.config["environments"]} | (
        {"platform"} if platform_on else set()
    )
    for env in stack.config["environments"]:
        application = applications[f"{env['name']}-apps"]
        metadata, spec = application["inputs"]["metadata"], application["inputs"]["spec"]
        assert application["inputs"]["apiVersion"] == "argoproj.io/v1alpha1"
        assert metadata["namespace"] == "argocd"
        assert metadata["finalizers"] == ["resources-finalizer.argocd.argoproj.io"]
        assert spec["source"] == {
            "repoURL": gitops["repoUrl"],
            "targetRevision": gitops["targetRevision"],
            "path": f"apps/{env['name']}",
        }
        assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "argocd"}
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        project = projects[spec["project"]]
        assert argocd["urn"] in application["dependencies"]
        assert argocd["urn"] in project["dependencies"]
        assert project["urn"] in application["dependencies"]
        project_spec = project["inputs"]["spec"]
        assert project_spec["sourceRepos"] == [gitops["repoUrl"]]
        assert project_spec["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "argocd"}]
        assert project_spec.get("clusterResourceWhitelist", []) == []
        assert project_spec["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]
        environment_project = projects[env["name"]]
        assert environment_project["urn"] in application["dependencies"], "the projects exist before the first sync"


def test_argo_cds_default_project_is_locked_before_any_root_application(stack: Stack) -> None:
    """`default` allows everything: an Application naming it would leave its environment's fence.
    argocd-server creates it at startup, so it is patched (server-side apply, forced), not created."""
    argocd = _release(stack, "argocd")
    (patch,) = stack.of_type("kubernetes:argoproj.io/v1alpha1:AppProjectPatch")
    metadata, spec = patch["inputs"]["metadata"], patch["inputs"]["spec"]
    assert (metadata["name"], metadata["namespace"]) == ("default", "argocd")
    assert metadata["annotations"] == {"pulumi.com/patchForce": "true"}
    assert spec["sourceRepos"] == [] and spec["destinations"] == [] and spec["sourceNamespaces"] == []
    assert spec["clusterResourceWhitelist"] == [] and spec["namespaceResourceWhitelist"] == []
    assert spec["namespaceResourceBlacklist"] == [{"group": "*", "kind": "*"}]
    assert argocd["urn"] in patch["dependencies"], "argocd-server has created it by then"
    for application in stack.kubernetes_objects("Application"):
        assert patch["urn"] in application["dependencies"], application["inputs"]["metadata"]["name"]


def test_each_environment_has_its_own_project_fenced_to_its_namespace(stack: Stack) -> None:
    gitops = stack.config["gitops"]
    projects = {p["inputs"]["metadata"]["name"]: p["inputs"] for p in stack.kubernetes_objects("AppProject")}
    for env in stack.config["environments"]:
        project = projects[env["name"]]
        assert project["metadata"]["namespace"] == "argocd"
        spec = project["spec"]
        assert spec["sourceRepos"] == [gitops["repoUrl"]]
        assert spec["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": env["namespace"]}]
        assert spec["clusterResourceWhitelist"] == []
        kinds = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
        assert ("apps", "Deployment") in kinds and ("external-secrets.io", "ExternalSecret") in kinds
        assert not {
            k
            for k in kinds
            if k[0] in ("rbac.authorization.k8s.io", "argoproj.io", "external-secrets.io") and k[1] != "ExternalSecret"
        }, "no role, project, Application or SecretStore from git"
        assert ("", "ResourceQuota") not in kinds and ("", "LimitRange") not in kinds and ("", "Secret") not in kinds


def test_no_application_layer_object_is_created(stack: Stack) -> None:
    for resource in stack.resources:
        if resource["type"].startswith("kubernetes:") and ":" in resource["type"][len("kubernetes:") :]:
            kind = resource["type"].rsplit(":", 1)[1]
            assert kind not in APPLICATION_KINDS, f"{resource['name']} is a {kind}"


def test_outputs_export_the_cluster_and_keep_the_kubeconfig_secret(stack: Stack) -> None:
    outputs = stack.run.outputs
    assert outputs["clusterName"]["value"] == stack.config["clusterName"]
    assert outputs["kubeconfig"]["secret"] is True
    for name in ("vpcId", "oidcProviderArn", "serviceRoleArns", "addonRoleArns", "secretStoreRoleArns"):
        assert name in outputs


# --- platform services (layer 3) ----------------------------------------------------------------


def _platform(stack: Stack) -> dict:
    return stack.config.get("platformServices") or {}


def test_the_platform_root_syncs_the_platform_tree_in_projects_of_its_own(stack: Stack) -> None:
    """The root `platform` may create Applications only; its Applications' project reaches only the
    platform namespaces, from the gitops repo and the exact chart repositories."""
    platform = _platform(stack)
    applications = {a["inputs"]["metadata"]["name"]: a for a in stack.kubernetes_objects("Application")}
    projects = {p["inputs"]["metadata"]["name"]: p for p in stack.kubernetes_objects("AppProject")}
    if not (platform.get("monitoring") or platform.get("logging")):
        assert "platform" not in applications and "platform" not in projects
        return
    gitops = stack.config["gitops"]
    root = applications["platform"]
    spec = root["inputs"]["spec"]
    assert spec["project"] == "platform-root"
    assert spec["source"] == {
        "repoURL": gitops["repoUrl"],
        "targetRevision": gitops["targetRevision"],
        "path": platform["path"],
    }
    assert projects["platform-root"]["urn"] in root["dependencies"]
    assert projects["platform"]["urn"] in root["dependencies"]
    root_project = projects["platform-root"]["inputs"]["spec"]
    assert root_project["namespaceResourceWhitelist"] == [{"group": "argoproj.io", "kind": "Application"}]
    assert root_project["clusterResourceWhitelist"] == []
    project = projects["platform"]["inputs"]["spec"]
    namespaces = {d["namespace"] for d in project["destinations"]}
    assert namespaces == {
        n for n, on in (("monitoring", platform.get("monitoring")), ("logging", platform.get("logging"))) if on
    }
    assert not namespaces & {e["namespace"] for e in stack.config["environments"]}
    assert project["sourceRepos"][0] == gitops["repoUrl"]
    assert all(not repo.endswith("*") for repo in project["sourceRepos"])
    cluster_kinds = {(k["group"], k["kind"]) for k in project["clusterResourceWhitelist"]}
    assert cluster_kinds <= {
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    }
    assert ("", "Namespace") not in cluster_kinds and ("argoproj.io", "AppProject") not in {
        (k["group"], k["kind"]) for k in project["namespaceResourceWhitelist"]
    }


def test_environment_projects_allow_service_monitors_only_with_monitoring(stack: Stack) -> None:
    platform = _platform(stack)
    projects = {p["inputs"]["metadata"]["name"]: p["inputs"] for p in stack.kubernetes_objects("AppProject")}
    for env in stack.config["environments"]:
        kinds = {(k["group"], k["kind"]) for k in projects[env["name"]]["spec"]["namespaceResourceWhitelist"]}
        assert (("monitoring.coreos.com", "ServiceMonitor") in kinds) == bool(platform.get("monitoring"))


def test_the_log_shipper_may_write_only_to_the_clusters_log_groups(stack: Stack) -> None:
    platform = _platform(stack)
    groups = stack.of_type("aws:cloudwatch/logGroup:LogGroup")
    roles = [r for r in stack.of_type(ROLE) if r["name"] == "irsa-fluent-bit"]
    if not platform.get("logging"):
        assert not groups and not roles
        return
    cluster = stack.config["clusterName"]
    names = {g["inputs"]["name"]: g["inputs"]["retentionInDays"] for g in groups}
    expected = {
        f"/aws/eks/{cluster}/containers/{e['name']}": e.get("logRetentionDays", 30)
        for e in stack.config["environments"]
    }
    expected[f"/aws/eks/{cluster}/containers/platform"] = max(expected.values())
    assert names == expected
    (role,) = roles
    trust = _policy(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:logging:fluent-bit" in trust.values()
    (policy,) = [
        p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if p["name"] == "irsa-fluent-bit-write-container-logs"
    ]
    statements = _policy(policy["inputs"]["policy"])["Statement"]
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources
        for resource in resources:
            assert f":log-group:/aws/eks/{cluster}/containers/" in resource, resource
        assert not {a for a in statement["Action"] if a in ("logs:CreateLogGroup", "logs:*", "logs:DeleteLogGroup")}
    (account,) = [
        a for a in stack.kubernetes_objects("ServiceAccount") if a["inputs"]["metadata"]["name"] == "fluent-bit"
    ]
    assert account["inputs"]["metadata"]["namespace"] == "logging"
    assert ROLE_ARN_ANNOTATION in account["inputs"]["metadata"]["annotations"]


def test_grafana_admin_comes_from_secrets_manager_through_external_secrets(stack: Stack) -> None:
    platform = _platform(stack)
    secrets = [
        o for o in stack.kubernetes_objects("ExternalSecret") if o["inputs"]["metadata"]["name"] == "grafana-admin"
    ]
    if not platform.get("monitoring"):
        assert not secrets
        return
    (secret,) = secrets
    spec = secret["inputs"]["spec"]
    assert secret["inputs"]["metadata"]["namespace"] == "monitoring"
    assert spec["target"]["name"] == "grafana-admin"
    assert {d["secretKey"] for d in spec["data"]} == {"admin-user", "admin-password"}
    assert {d["remoteRef"]["key"] for d in spec["data"]} == {f"{stack.config['clusterName']}/grafana-admin"}
    namespaces = {
        n["inputs"]["metadata"]["name"]: n["inputs"]["metadata"]["labels"]
        for n in stack.kubernetes_objects("Namespace")
    }
    # The node exporter needs the host's network and PID namespace: not `baseline`, not `restricted`.
    assert namespaces["monitoring"]["pod-security.kubernetes.io/enforce"] == "privileged"
