"""Per-environment access to AWS Secrets Manager through the External Secrets Operator.

Model (chosen over one operator-wide role): each environment gets
  - an IAM role that may read only `<project>/<environment>/*` secrets,
  - a ServiceAccount `aws-secrets-reader` in the environment's namespace,
    annotated with that role (the only identity the role trusts), and
  - a SecretStore `aws-secrets-manager` in the same namespace that
    authenticates as that ServiceAccount (`auth.jwt.serviceAccountRef`).
The operator's own service account has no AWS permissions, so an ExternalSecret
in `dev` can only ever reach `<project>/dev/*`, even if someone writes a
ClusterSecretStore without credentials. Applications reference the store as
`secretStoreRef: {kind: SecretStore, name: aws-secrets-manager}` with keys like
`<project>/<environment>/<name>`.

Secrets encrypted with the default `aws/secretsmanager` key need no KMS grant;
secrets under a customer managed key also need `kms:Decrypt` on that key.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from cluster import ClusterOutputs
from irsa import service_account_role
from platform_layer import PlatformLayer
from settings import Environment, Settings

SECRET_STORE_NAME = "aws-secrets-manager"
READER_SERVICE_ACCOUNT = "aws-secrets-reader"
SECRET_READ_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:GetResourcePolicy",
)


def secrets_prefix(settings: Settings, env: Environment) -> str:
    """The Secrets Manager name prefix an environment may read: `<project>/<environment>/`."""
    return f"{settings.project}/{env.name}/"


def read_secrets_policy(partition: str, region: str, account_id: str, prefix: str) -> str:
    """Read-only access to the secrets whose names start with `prefix`."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadEnvironmentSecrets",
                    "Effect": "Allow",
                    "Action": list(SECRET_READ_ACTIONS),
                    "Resource": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{prefix}*",
                }
            ],
        }
    )


def create_environment_store(
    env: Environment,
    settings: Settings,
    cluster: ClusterOutputs,
    namespace: k8s.core.v1.Namespace,
    operator: k8s.helm.v3.Release,
    aws_context: AwsContext,
) -> aws.iam.Role:
    """The role, service account and SecretStore of one environment."""
    policy = pulumi.Output.all(aws_context.partition, aws_context.account_id).apply(
        lambda a: read_secrets_policy(a[0], settings.region, a[1], secrets_prefix(settings, env))
    )
    role = service_account_role(
        f"irsa-secrets-{env.name}",
        oidc=cluster.oidc,
        namespace=env.namespace,
        service_account=READER_SERVICE_ACCOUNT,
        tags={**settings.tags, "Environment": env.name},
        inline_policies={"read-environment-secrets": policy},
    )
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    account = k8s.core.v1.ServiceAccount(
        f"secrets-reader-{env.name}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=READER_SERVICE_ACCOUNT,
            namespace=namespace.metadata.name,
            annotations={"eks.amazonaws.com/role-arn": role.arn},
        ),
        automount_service_account_token=False,
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        f"secret-store-{env.name}",
        api_version="external-secrets.io/v1",
        kind="SecretStore",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=SECRET_STORE_NAME, namespace=namespace.metadata.name),
        spec={
            "provider": {
                "aws": {
                    "service": "SecretsManager",
                    "region": settings.region,
                    "auth": {"jwt": {"serviceAccountRef": {"name": READER_SERVICE_ACCOUNT}}},
                }
            }
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[operator, account])),
    )
    return role


def create_secret_stores(
    settings: Settings,
    cluster: ClusterOutputs,
    platform: PlatformLayer,
    operator: k8s.helm.v3.Release,
    aws_context: AwsContext,
) -> dict[str, pulumi.Output[str]]:
    """One SecretStore per environment; returns environment -> role ARN."""
    return {
        env.name: create_environment_store(
            env, settings, cluster, platform.environment_namespaces[env.name], operator, aws_context
        ).arn
        for env in settings.environments
    }
