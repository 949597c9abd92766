"""IAM roles of the application services (`serviceRoles`): IRSA roles for the gitops repository to
annotate, or (`identity: pod-identity`) Pod Identity roles with their association.

Each role is trusted only by `<namespace>/<serviceAccount>` and starts with the
managed policies listed in `policyArns` (none by default): what a service may do
in AWS is decided per service, not by the platform. The ARNs are exported as
`serviceRoleArns`, keyed `<namespace>/<service>`, so that one stack can host the
same service in several environments.
"""

from __future__ import annotations

import pulumi

from cluster import ClusterOutputs
from irsa import service_account_role
from settings import ServiceRole, Settings
from workload_identity import pod_identity_role


def create_service_role(role: ServiceRole, settings: Settings, cluster: ClusterOutputs) -> pulumi.Output[str]:
    """The role of one service in one namespace; returns its ARN."""
    if settings.pod_identity:
        return pod_identity_role(
            f"service-{role.namespace}-{role.service}",
            cluster_name=settings.cluster_name,
            cluster=cluster.component,
            namespace=role.namespace,
            service_account=role.service_account,
            role_name=role.role_name,
            tags={**settings.tags, "Service": role.service, "Namespace": role.namespace},
            managed_policy_arns=list(role.policy_arns),
        ).role.arn
    return service_account_role(
        f"service-{role.namespace}-{role.service}",
        oidc=cluster.oidc,
        namespace=role.namespace,
        service_account=role.service_account,
        role_name=role.role_name,
        tags={**settings.tags, "Service": role.service, "Namespace": role.namespace},
        managed_policy_arns=list(role.policy_arns),
    ).arn


def create_service_roles(settings: Settings, cluster: ClusterOutputs) -> dict[str, pulumi.Output[str]]:
    """All service roles; returns `<namespace>/<service>` -> role ARN."""
    return {role.key: create_service_role(role, settings, cluster) for role in settings.service_roles}
