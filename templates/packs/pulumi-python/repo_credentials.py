"""Argo CD's credential for a private gitops repository, from AWS Secrets Manager (`gitops.repoCredentials`).

With `secrets-manager` (the default) the foundation creates:
  - the Secrets Manager secret `<project>/argocd/gitops-repo`, without a value: the value
    (a GitHub App or a read-only token or deploy key, as JSON) is put there by a person, once,
    and never enters git or the stack configuration (the README shows how);
  - an IAM role that may read exactly that secret, trusted only by the ServiceAccount
    `argocd/gitops-repo-reader`;
  - the SecretStore `argocd/gitops-repo`, authenticating as that ServiceAccount;
  - the ExternalSecret `argocd/gitops-repo`, which writes the Secret Argo CD reads repository
    credentials from: labelled `argocd.argoproj.io/secret-type: repository`, with `type: git`,
    `url: <gitops.repoUrl>` and every field of the secret's JSON (`githubAppID`,
    `githubAppInstallationID`, `githubAppPrivateKey`; or `username` and `password`; or
    `sshPrivateKey` for an ssh URL).
With `none` (a public repository) nothing is created.

One secret serves every cluster of the project. With a cluster per environment, every stack
of the account would create the same secret: the first stack that finds it missing creates
and tags it as its own (`strata.io/owner-stack`), the other stacks only read it. The secret is
kept when its owner is destroyed (`retainOnDelete`), because the other clusters still use it,
and keeps its value. When the owner stack is created again, it adopts its retained secret
(`import_`, by ARN) instead of failing with "already exists".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from aws_context import AwsContext
from cluster import ClusterOutputs
from irsa import service_account_role
from settings import Settings

NAMESPACE = "argocd"
READER_SERVICE_ACCOUNT = "gitops-repo-reader"
SECRET_STORE_NAME = "gitops-repo"
EXTERNAL_SECRET_NAME = "gitops-repo"
REPOSITORY_LABEL = {"argocd.argoproj.io/secret-type": "repository"}
OWNER_TAG = "strata.io/owner-stack"
READ_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")


@dataclass(frozen=True)
class RepoCredentials:
    """What the hand-over waits for, and the role ARN for the stack outputs."""

    external_secret: k8s.apiextensions.CustomResource
    role_arn: pulumi.Output[str]


def secret_name(settings: Settings) -> str:
    """`<project>/argocd/gitops-repo`: the one Secrets Manager secret holding the repository credential."""
    return f"{settings.project}/argocd/gitops-repo"


def this_stack() -> str:
    """`<pulumi project>/<stack>`: the value of the owner tag."""
    return f"{pulumi.get_project()}/{pulumi.get_stack()}"


def owned_elsewhere(found_tags: Sequence[dict[str, str] | None], me: str) -> bool:
    """Whether another stack manages the secret: it exists, and its owner tag names another stack.

    `found_tags` holds the tags of every existing secret with the exact name (at most one).
    A secret without the tag (made by hand) is left to whoever made it, too.
    """
    return any((tags or {}).get(OWNER_TAG) != me for tags in found_tags)


def _existing_secrets(name: str) -> list[tuple[str, dict[str, str] | None]]:
    """The ARN and tags of the secret named exactly `name`, if it exists (ListSecrets' `name`
    filter is a prefix match)."""
    found = aws.secretsmanager.get_secrets(
        filters=[aws.secretsmanager.GetSecretsFilterArgs(name="name", values=[name])]
    )
    return [
        (arn, aws.secretsmanager.get_secret(arn=arn).tags)
        for arn, found_name in zip(found.arns or [], found.names or [], strict=True)
        if found_name == name
    ]


def read_secret_policy(partition: str, region: str, account_id: str, name: str) -> str:
    """Read exactly one secret: its ARN is the name plus `-` and six random characters."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadTheGitopsRepositoryCredential",
                    "Effect": "Allow",
                    "Action": list(READ_ACTIONS),
                    "Resource": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{name}-??????",
                }
            ],
        }
    )


def external_secret_spec(settings: Settings) -> dict:
    """The Argo CD repository Secret: `type` and `url` fixed here, the credential fields from the JSON."""
    return {
        "refreshInterval": "1h",
        "secretStoreRef": {"kind": "SecretStore", "name": SECRET_STORE_NAME},
        "target": {
            "name": EXTERNAL_SECRET_NAME,
            "creationPolicy": "Owner",
            "template": {
                "engineVersion": "v2",
                "mergePolicy": "Merge",  # the JSON's fields, plus the two below (which win)
                "metadata": {"labels": dict(REPOSITORY_LABEL)},
                "data": {"type": "git", "url": settings.gitops.repo_url},
            },
        },
        "dataFrom": [{"extract": {"key": secret_name(settings)}}],
    }


def create_repo_credentials(
    settings: Settings,
    cluster: ClusterOutputs,
    namespace: k8s.core.v1.Namespace,
    operator: k8s.helm.v3.Release,
    aws_context: AwsContext,
) -> RepoCredentials | None:
    """The secret (unless another stack owns it), its reader role, ServiceAccount, SecretStore and ExternalSecret."""
    if settings.gitops.repo_credentials == "none":
        return None
    name = secret_name(settings)
    existing = _existing_secrets(name)
    if not owned_elsewhere([tags for _, tags in existing], this_stack()):
        aws.secretsmanager.Secret(
            "gitops-repo-credentials",
            name=name,
            description=(
                f"Argo CD's read-only credential for {settings.gitops.repo_url} (value set by hand, see README)"
            ),
            tags={**settings.tags, OWNER_TAG: this_stack()},
            # Ours and there already: retained by an earlier life of this stack (adopted), or in
            # the state already (the import option then changes nothing).
            opts=pulumi.ResourceOptions(retain_on_delete=True, import_=existing[0][0] if existing else None),
        )
    policy = pulumi.Output.all(aws_context.partition, aws_context.account_id).apply(
        lambda a: read_secret_policy(a[0], settings.region, a[1], name)
    )
    role = service_account_role(
        "irsa-gitops-repo-reader",
        oidc=cluster.oidc,
        namespace=NAMESPACE,
        service_account=READER_SERVICE_ACCOUNT,
        tags=settings.tags,
        inline_policies={"read-gitops-repo-credential": policy},
    )
    opts = pulumi.ResourceOptions(provider=cluster.k8s_provider)
    account = k8s.core.v1.ServiceAccount(
        "gitops-repo-reader",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=READER_SERVICE_ACCOUNT,
            namespace=namespace.metadata.name,
            annotations={"eks.amazonaws.com/role-arn": role.arn},
        ),
        automount_service_account_token=False,
        opts=opts,
    )
    store = k8s.apiextensions.CustomResource(
        "gitops-repo-secret-store",
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
    external_secret = k8s.apiextensions.CustomResource(
        "gitops-repo-external-secret",
        api_version="external-secrets.io/v1",
        kind="ExternalSecret",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=EXTERNAL_SECRET_NAME, namespace=namespace.metadata.name),
        spec=external_secret_spec(settings),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[operator, store])),
    )
    return RepoCredentials(external_secret=external_secret, role_arn=role.arn)
