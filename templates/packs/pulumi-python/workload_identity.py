"""Workload identity: the IAM role of an add-on's service account, through IRSA or EKS Pod Identity.

`identity` in the stack configuration chooses, once for the whole cluster:
- `irsa`: the role trusts the cluster's OIDC provider for exactly one service account
  (`irsa.py`), and the service account carries the `eks.amazonaws.com/role-arn` annotation;
- `pod-identity`: the role trusts the EKS Pod Identity service (`pods.eks.amazonaws.com`, with
  `sts:AssumeRole` and `sts:TagSession`, as the EKS User Guide writes it) for the session tags
  of exactly one service account of this cluster, and one `PodIdentityAssociation` ties it to
  that service account; the service account carries no annotation. The `eks-pod-identity-agent`
  add-on (`cluster.py`) hands the credentials to the pods.

Resource names differ by choice (`irsa-<name>`, `pod-identity-<name>`), so a stack never turns
one kind of role into the other in place; strata never switches a workspace's choice by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from cluster import ClusterOutputs
from irsa import service_account_role
from settings import Settings

POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"


@dataclass(frozen=True)
class WorkloadRole:
    """A role, and what must exist before a pod can use it (its association, with Pod Identity)."""

    role: aws.iam.Role
    ready: list[pulumi.Resource] = field(default_factory=list)


def pod_identity_trust_policy(cluster_name: str, namespace: str, service_account: str) -> str:
    """The trust policy of a Pod Identity role: the EKS User Guide's (`pod-id-role`), with the
    session tags EKS Pod Identity sets as conditions, so that only an association of this
    cluster, namespace and service account can assume the role. Without them any association in
    the account (another cluster's, another namespace's) that names the role could use it."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
                    "Effect": "Allow",
                    "Principal": {"Service": POD_IDENTITY_SERVICE},
                    "Action": ["sts:AssumeRole", "sts:TagSession"],
                    "Condition": {
                        "StringEquals": {
                            "aws:RequestTag/eks-cluster-name": cluster_name,
                            "aws:RequestTag/kubernetes-namespace": namespace,
                            "aws:RequestTag/kubernetes-service-account": service_account,
                        }
                    },
                }
            ],
        }
    )


def pod_identity_role(
    resource_name: str,
    *,
    cluster_name: str,
    cluster: pulumi.Resource,
    namespace: str,
    service_account: str,
    tags: Mapping[str, str],
    role_name: str | None = None,
    managed_policy_arns: Sequence[pulumi.Input[str]] = (),
    inline_policies: Mapping[str, pulumi.Input[str]] | None = None,
) -> WorkloadRole:
    """A role for `<namespace>/<service_account>` through EKS Pod Identity, and its association."""
    role = aws.iam.Role(
        resource_name,
        name=role_name,
        description=f"Pod Identity role for system:serviceaccount:{namespace}:{service_account}",
        assume_role_policy=pod_identity_trust_policy(cluster_name, namespace, service_account),
        tags={**tags, "ServiceAccount": f"{namespace}/{service_account}"},
    )
    child = pulumi.ResourceOptions(parent=role)
    ready: list[pulumi.Resource] = []
    for index, policy_arn in enumerate(managed_policy_arns):
        ready.append(
            aws.iam.RolePolicyAttachment(
                f"{resource_name}-managed-{index}", role=role.name, policy_arn=policy_arn, opts=child
            )
        )
    for policy_name, document in (inline_policies or {}).items():
        ready.append(
            aws.iam.RolePolicy(
                f"{resource_name}-{policy_name}", role=role.id, name=policy_name, policy=document, opts=child
            )
        )
    ready.append(
        aws.eks.PodIdentityAssociation(
            resource_name,
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            role_arn=role.arn,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=role, depends_on=[cluster]),
        )
    )
    return WorkloadRole(role=role, ready=ready)


def addon_role(
    settings: Settings,
    cluster: ClusterOutputs,
    name: str,
    namespace: str,
    service_account: str,
    *,
    role_name: str | None = None,
    managed_policy_arns: Sequence[pulumi.Input[str]] = (),
    inline_policies: Mapping[str, pulumi.Input[str]] | None = None,
) -> WorkloadRole:
    """The role of one service account, by the stack's `identity`."""
    if settings.pod_identity:
        return pod_identity_role(
            f"pod-identity-{name}",
            cluster_name=settings.cluster_name,
            cluster=cluster.component,
            namespace=namespace,
            service_account=service_account,
            tags=settings.tags,
            role_name=role_name,
            managed_policy_arns=managed_policy_arns,
            inline_policies=inline_policies,
        )
    ready: list[pulumi.Resource] = []
    role = service_account_role(
        f"irsa-{name}",
        oidc=cluster.oidc,
        namespace=namespace,
        service_account=service_account,
        tags=settings.tags,
        role_name=role_name,
        managed_policy_arns=managed_policy_arns,
        inline_policies=inline_policies,
        ready=ready,
    )
    # The add-on's release waits for the role's permissions, as with Pod Identity.
    return WorkloadRole(role=role, ready=ready)
