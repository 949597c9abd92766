"""Layer 3, the platform services: what monitoring and logging need from AWS and the cluster.

The services themselves are Argo CD Applications of pinned Helm charts in the gitops
repository (`platform/<stack>/`), synced by the root Application `platform` (`gitops.py`).
The foundation creates what they need and must not come from that repository:

Monitoring (kube-prometheus-stack, `platformServices.monitoring`):
  - the namespace `monitoring`, enforcing the `privileged` Pod Security Standard (the node
    exporter needs the host's network, PID namespace and filesystem) and warning on `baseline`;
  - Grafana's admin credential: the Secrets Manager secret `<cluster>/grafana-admin`, created
    without a value (a person puts `{"admin-user": ..., "admin-password": ...}` there once, see
    the README), a role that may read exactly that secret, trusted only by the ServiceAccount
    `monitoring/grafana-admin-reader`, the SecretStore `monitoring/grafana-admin` and the
    ExternalSecret `monitoring/grafana-admin`, which writes the Secret Grafana's
    `admin.existingSecret` names.

Logging (Fluent Bit, `platformServices.logging`):
  - the namespace `logging` (`privileged`: Fluent Bit reads `/var/log` of the host);
  - one CloudWatch log group per environment hosted here,
    `/aws/eks/<cluster>/containers/<environment>`, with the environment's retention
    (`environments[].logRetentionDays`), and `/aws/eks/<cluster>/containers/platform` for every
    other namespace, kept as long as the longest of them;
  - the ServiceAccount `logging/fluent-bit` (the chart creates none), annotated with an IRSA
    role that may create streams in and write to exactly those log groups: no other log group,
    no `logs:CreateLogGroup`, no `Resource: "*"`. The log groups are retained when the stack
    deletes them (`retain_on_delete`): turning logging off or removing an environment leaves
    the logs in CloudWatch, with their retention, for someone to delete by hand.

(Named `platform_services`, not `platform`, which would shadow the standard library.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from cluster import ClusterOutputs
from irsa import service_account_role
from settings import Settings

MONITORING_NAMESPACE = "monitoring"
LOGGING_NAMESPACE = "logging"
LOG_SHIPPER_SERVICE_ACCOUNT = "fluent-bit"
GRAFANA_ADMIN_READER = "grafana-admin-reader"
GRAFANA_ADMIN_STORE = "grafana-admin"
GRAFANA_ADMIN_SECRET = "grafana-admin"  # the Kubernetes Secret `grafana.admin.existingSecret` names
GRAFANA_ADMIN_KEYS = ("admin-user", "admin-password")
PLATFORM_LOG_GROUP = "platform"
# What Fluent Bit's `cloudwatch_logs` output calls with `auto_create_group Off` and no
# `log_retention_days`: CreateLogStream and PutLogEvents (no Describe* call, no CreateLogGroup).
LOG_WRITE_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
SECRET_READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


@dataclass(frozen=True)
class PlatformServiceOutputs:
    """Namespaces (by name), the log groups (group key -> name) and the roles, for the stack outputs."""

    namespaces: dict[str, k8s.core.v1.Namespace] = field(default_factory=dict)
    log_groups: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    role_arns: dict[str, pulumi.Output[str]] = field(default_factory=dict)


def container_log_group(settings: Settings, group: str) -> str:
    """`/aws/eks/<cluster>/containers/<group>`: an environment's name, or `platform` for the rest."""
    return f"/aws/eks/{settings.cluster_name}/containers/{group}"


def existing_log_groups(settings: Settings) -> set[str]:
    """The cluster's container log groups that exist in the account (a lookup that finds none
    when there are none): those a previous life of the stack retained."""
    prefix = f"/aws/eks/{settings.cluster_name}/containers/"
    return set(aws.cloudwatch.get_log_groups(log_group_name_prefix=prefix).log_group_names or [])


def log_group_retentions(settings: Settings) -> dict[str, int]:
    """Each log group's retention: an environment's own; the platform's, the longest of them."""
    retentions = {env.name: env.log_retention_days for env in settings.environments}
    retentions[PLATFORM_LOG_GROUP] = max(retentions.values(), default=30)
    return retentions


def grafana_admin_secret_name(settings: Settings) -> str:
    """`<cluster>/grafana-admin`: the Secrets Manager secret with Grafana's admin credential."""
    return f"{settings.cluster_name}/grafana-admin"


def log_group_arn(partition: str, region: str, account_id: str, name: str) -> str:
    """The ARN of a log group, without the `:*` that covers its streams."""
    return f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}"


def log_shipper_policy(log_group_arns: Sequence[str]) -> str:
    """Create streams in and write to exactly these log groups (and their streams, `:*`)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WriteTheClustersContainerLogs",
                    "Effect": "Allow",
                    "Action": list(LOG_WRITE_ACTIONS),
                    "Resource": sorted(f"{arn.removesuffix(':*')}:*" for arn in log_group_arns),
                }
            ],
        }
    )


def read_grafana_admin_policy(partition: str, region: str, account_id: str, name: str) -> str:
    """Read exactly one secret: its ARN is the name plus `-` and six random characters."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadGrafanaAdminCredential",
                    "Effect": "Allow",
                    "Action": list(SECRET_READ_ACTIONS),
                    "Resource": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{name}-??????",
                }
            ],
        }
    )


def grafana_admin_external_secret_spec(settings: Settings) -> dict:
    """The Secret Grafana's `admin.existingSecret` names, from the JSON fields `admin-user` and `admin-password`."""
    return {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "SecretStore", "name": GRAFANA_ADMIN_STORE},
        "target": {"name": GRAFANA_ADMIN_SECRET, "creationPolicy": "Owner"},
        "data": [
            {"secretKey": key, "remoteRef": {"key": grafana_admin_secret_name(settings), "property": key}}
            for key in GRAFANA_ADMIN_KEYS
        ],
    }


def _namespace(name: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    """A platform-service namespace: `privileged` enforced (host access), `baseline` warned and audited."""
    return k8s.core.v1.Namespace(
        f"ns-{name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            labels={
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/audit": "baseline",
                "pod-security.kubernetes.io/warn": "baseline",
                "strata.io/tier": "platform",
            },
        ),
        opts=opts,
    )


def create_monitoring(
    settings: Settings,
    cluster: ClusterOutputs,
    operator: k8s.helm.v3.Release,
    aws_context: AwsContext,
    outputs: PlatformServiceOutputs,
) -> None:
    """The `monitoring` namespace and Grafana's admin credential through External Secrets."""
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    namespace = _namespace(MONITORING_NAMESPACE, opts)
    outputs.namespaces[MONITORING_NAMESPACE] = namespace
    name = grafana_admin_secret_name(settings)
    aws.secretsmanager.Secret(
        "grafana-admin",
        name=name,
        description=f"Grafana's admin credential on {settings.cluster_name} (value set by hand, see README)",
        tags=settings.tags,
        # Deleted at once with monitoring: inside a recovery window (30 days by default) the name
        # stays taken, and turning monitoring on again would fail with "scheduled for deletion".
        # Nothing else reads it, and a new one is set by hand when monitoring comes back.
        recovery_window_in_days=0,
    )
    policy = pulumi.Output.all(aws_context.partition, aws_context.account_id).apply(
        lambda a: read_grafana_admin_policy(a[0], settings.region, a[1], name)
    )
    role = service_account_role(
        "irsa-grafana-admin-reader",
        oidc=cluster.oidc,
        namespace=MONITORING_NAMESPACE,
        service_account=GRAFANA_ADMIN_READER,
        tags=settings.tags,
        inline_policies={"read-grafana-admin-credential": policy},
    )
    outputs.role_arns["grafana-admin-reader"] = role.arn
    account = k8s.core.v1.ServiceAccount(
        "grafana-admin-reader",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=GRAFANA_ADMIN_READER,
            namespace=namespace.metadata.name,
            annotations={"eks.amazonaws.com/role-arn": role.arn},
        ),
        automount_service_account_token=False,
        opts=opts,
    )
    store = k8s.apiextensions.CustomResource(
        "grafana-admin-secret-store",
        api_version="external-secrets.io/v1",
        kind="SecretStore",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_STORE, namespace=namespace.metadata.name),
        spec={
            "provider": {
                "aws": {
                    "service": "SecretsManager",
                    "region": settings.region,
                    "auth": {"jwt": {"serviceAccountRef": {"name": GRAFANA_ADMIN_READER}}},
                }
            }
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[operator, account])),
    )
    k8s.apiextensions.CustomResource(
        "grafana-admin-external-secret",
        api_version="external-secrets.io/v1",
        kind="ExternalSecret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=namespace.metadata.name),
        spec=grafana_admin_external_secret_spec(settings),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[operator, store])),
    )


def create_logging(
    settings: Settings, cluster: ClusterOutputs, aws_context: AwsContext, outputs: PlatformServiceOutputs
) -> None:
    """The `logging` namespace, the cluster's container log groups, and Fluent Bit's role and ServiceAccount."""
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    namespace = _namespace(LOGGING_NAMESPACE, opts)
    outputs.namespaces[LOGGING_NAMESPACE] = namespace
    retained = existing_log_groups(settings)
    groups = {
        group: aws.cloudwatch.LogGroup(
            f"container-logs-{group}",
            name=container_log_group(settings, group),
            retention_in_days=days,
            tags={**settings.tags, "LogGroup": group},
            # The logs outlive the stack's wish to delete them (`strata remove platform logging`,
            # an environment removed): Pulumi forgets the group, CloudWatch keeps it (and its
            # retention) until someone deletes it by hand. Turned on again, the stack adopts the
            # group it left (`import_`; a group already in the state is unaffected by it), where
            # creating it would fail with "already exists".
            opts=pulumi.ResourceOptions(
                retain_on_delete=True,
                import_=container_log_group(settings, group)
                if container_log_group(settings, group) in retained
                else None,
            ),
        )
        for group, days in log_group_retentions(settings).items()
    }
    outputs.log_groups.update({group: log_group.name for group, log_group in groups.items()})
    names = [container_log_group(settings, group) for group in groups]
    policy = pulumi.Output.all(aws_context.partition, aws_context.account_id).apply(
        lambda a: log_shipper_policy([log_group_arn(a[0], settings.region, a[1], name) for name in names])
    )
    role = service_account_role(
        "irsa-fluent-bit",
        oidc=cluster.oidc,
        namespace=LOGGING_NAMESPACE,
        service_account=LOG_SHIPPER_SERVICE_ACCOUNT,
        tags=settings.tags,
        inline_policies={"write-container-logs": policy},
    )
    outputs.role_arns["fluent-bit"] = role.arn
    k8s.core.v1.ServiceAccount(
        "fluent-bit",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=LOG_SHIPPER_SERVICE_ACCOUNT,
            namespace=namespace.metadata.name,
            annotations={"eks.amazonaws.com/role-arn": role.arn},
            labels={"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/part-of": "platform"},
        ),
        opts=opts,
    )


def create_platform_services(
    settings: Settings,
    cluster: ClusterOutputs,
    operator: k8s.helm.v3.Release,
    aws_context: AwsContext,
) -> PlatformServiceOutputs:
    """What the enabled platform services need; nothing when none is on."""
    outputs = PlatformServiceOutputs()
    if settings.platform_services.monitoring:
        create_monitoring(settings, cluster, operator, aws_context, outputs)
    if settings.platform_services.logging:
        create_logging(settings, cluster, aws_context, outputs)
    return outputs
