"""IAM roles for Kubernetes service accounts (IRSA): the one helper every role goes through.

A role made here can be assumed only by one service account of this cluster:
its trust policy names the cluster's OIDC provider as the principal and pins
both the `sub` (`system:serviceaccount:<namespace>:<name>`) and the `aud`
(`sts.amazonaws.com`) claims with `StringEquals`. The condition keys are built
from the issuer *without* `https://`; keys built from the URL never match.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class OidcProvider:
    """The cluster's IAM OIDC provider."""

    arn: pulumi.Output[str]
    issuer: pulumi.Output[str]  # e.g. oidc.eks.eu-west-1.amazonaws.com/id/ABC, no scheme


def trust_policy(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """The trust policy JSON that lets exactly one service account assume a role."""
    host_path = issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{host_path}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{host_path}:aud": STS_AUDIENCE,
                        }
                    },
                }
            ],
        }
    )


def service_account_role(
    resource_name: str,
    *,
    oidc: OidcProvider,
    namespace: str,
    service_account: str,
    tags: Mapping[str, str],
    role_name: str | None = None,
    managed_policy_arns: Sequence[pulumi.Input[str]] = (),
    inline_policies: Mapping[str, pulumi.Input[str]] | None = None,
    opts: pulumi.ResourceOptions | None = None,
    ready: list[pulumi.Resource] | None = None,
) -> aws.iam.Role:
    """Create a role trusted only by `<namespace>/<service_account>` and attach its permissions.

    `managed_policy_arns` are attached as policy attachments; `inline_policies`
    (name -> JSON document) become inline role policies, so they live and die
    with the role. `ready`, when given, receives them: what a release using the role waits for.
    """
    role = aws.iam.Role(
        resource_name,
        name=role_name,
        description=f"IRSA role for system:serviceaccount:{namespace}:{service_account}",
        assume_role_policy=pulumi.Output.all(oidc.arn, oidc.issuer).apply(
            lambda args: trust_policy(args[0], args[1], namespace, service_account)
        ),
        tags={**tags, "ServiceAccount": f"{namespace}/{service_account}"},
        opts=opts,
    )
    child = pulumi.ResourceOptions(parent=role)
    permissions: list[pulumi.Resource] = [
        aws.iam.RolePolicyAttachment(
            f"{resource_name}-managed-{index}", role=role.name, policy_arn=policy_arn, opts=child
        )
        for index, policy_arn in enumerate(managed_policy_arns)
    ]
    permissions += [
        aws.iam.RolePolicy(
            f"{resource_name}-{policy_name}", role=role.id, name=policy_name, policy=document, opts=child
        )
        for policy_name, document in (inline_policies or {}).items()
    ]
    if ready is not None:
        ready.extend(permissions)
    return role
