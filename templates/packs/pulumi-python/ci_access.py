"""GitHub Actions' access to AWS: GitHub's OIDC provider and the two CI roles of this stack (`ci`).

The foundation's workflows (`.github/workflows/`) hold no AWS key. They ask GitHub for an OIDC
token and trade it for one of these roles with `aws-actions/configure-aws-credentials`:

- the **deploy role** (`ci.deployRoleName`), assumed by the `pulumi up` job of this stack. Its
  trust admits exactly the token of a job that runs in the GitHub environment named after the
  stack (`sub` = `repo:<owner>/<name>:environment:<stack>`), so the environment's protection
  rules (required reviewers, `main` only) guard every deployment. A token of any other job,
  branch or repository is refused. It has `AdministratorAccess`: `pulumi up` of this program
  creates IAM roles and policies (IRSA, node roles, these roles), which is already as much as
  administrator, so a longer list of services would be no boundary, only a list to keep up to
  date. The boundary is who may assume the role. It also gets an EKS access entry with
  `AmazonEKSClusterAdminPolicy`: the program installs the add-ons through the Kubernetes API.
- the **preview role** (`ci.previewRoleName`), assumed by the `pulumi preview` job of pull
  requests (`sub` = `repo:<owner>/<name>:pull_request`). A pull request's code runs with it
  before anyone reviewed it, so it reads only what a preview needs and nothing a secret lives
  in: the metadata reads of the program's lookups and of its providers (`Describe*`, `List*`,
  `Get*` of EC2, EKS, IAM, Route 53, ACM, KMS key metadata, Secrets Manager's secret list,
  descriptions and resource policies, never `GetSecretValue`); the state, in the state bucket
  under the backend's prefix only (every stack of this project, never `ReadOnlyAccess`, which
  reads every S3 object of the account);
  `kms:Decrypt` with the stack's KMS secrets provider (the stack's config secrets); and nothing
  that writes: `pulumi preview` takes no lock on a DIY (S3) backend and writes no history or
  checkpoint (pulumi/pulumi#8642, `diyBackend.Preview`). Its EKS access entry has
  `AmazonEKSViewPolicy`, which reads no Kubernetes Secret (`AmazonEKSAdminViewPolicy` reads them
  all: External Secrets' synced values, the repository credential, Argo CD's and Grafana's admin
  passwords); pulumi-kubernetes falls back to a client-side diff where a server-side dry run
  would need write access.

Both roles use `StringEquals` on `token.actions.githubusercontent.com:aud` (`sts.amazonaws.com`)
and on `:sub` for exact subjects; no other repository. IAM compares them case-sensitively:
`ci.githubRepository` must be spelt exactly as GitHub spells the owner and the repository.

Which `sub` GitHub sends depends on the repository: the name-only subject
(`repo:<owner>/<name>:...`) for repositories made before GitHub's immutable subjects (July
2026) that did not opt in, the immutable one (`repo:<owner>@<owner id>/<name>@<repository
id>:...`) for the others. strata cannot know the numeric ids, so by default (`ciSubjectFormat:
auto`) the roles trust the name-only subject exactly and the immutable one for any ids
(`StringLike` on `repo:<owner>@*/<name>@*:...`, a second statement): owner and repository names
hold no `@`, `/` or `:`, so only this repository's jobs match, as with the name-only form that
was the norm until then. Set the ids (`pulumi config set ciGithubOwnerId ...` and
`ciGithubRepositoryId ...`, from `gh api repos/<owner>/<name> --jq '.owner.id, .id'`) and the
roles trust exactly the immutable subject, which survives a rename of the owner or repository
by someone else; `ciSubjectFormat` (`names`, `ids`, `both`) forces exact forms. An organisation
that customised its subject template (GitHub's OIDC customisation API) must adapt
`deploy_subjects` and `preview_subjects`.

An AWS account has one OIDC provider per issuer URL. The stack whose `ci.oidcProvider` is
`create` (strata writes it on the first stack of each account: the first stack of all, or with
`strata new --account` the first of each environment's account) creates GitHub's; the others
(`existing`) look it up, so a preview stops with a clear error until it exists. A stack moved to
an account of its own by hand sets `ciOidcProvider: create` (a key strata does not write) with
`pulumi config set`. The provider is
created with `retain_on_delete`: the other stacks of the account, and anything else there,
keep using it when the creating stack is destroyed or stops creating it. An account that has
GitHub's provider already (made by hand or another tool) sets `ciOidcProviderArn` to its ARN:
the stack then uses it as it is.

The first `pulumi up` of each stack is run by a person: it creates these roles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pulumi
import pulumi_aws as aws

from aws_context import AwsContext
from cluster import ClusterOutputs
from settings import GITHUB_OIDC_HOST, Ci, Settings

GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
DEPLOY_POLICY = "AdministratorAccess"
ACCESS_POLICY = "arn:{partition}:eks::aws:cluster-access-policy/{name}"
DEPLOY_ACCESS_POLICY = "AmazonEKSClusterAdminPolicy"
# Every Kubernetes read but Secrets (AmazonEKSAdminViewPolicy would read them).
PREVIEW_ACCESS_POLICY = "AmazonEKSViewPolicy"
# What `pulumi preview` of this program reads in AWS: its lookups (caller, session context,
# availability zones, hosted zone, OIDC provider, clusters and access entries, log groups, the
# secret list, a secret's tags and resource policy) and its providers' (pulumi-eks looks up
# add-on versions, the region and the partition). Metadata only: no action here returns a
# secret value or an object's data. `tests/test_ci_access.py` maps every lookup to these.
PREVIEW_READS = (
    "acm:Describe*",
    "acm:List*",
    "ec2:Describe*",
    "eks:Describe*",
    "eks:List*",
    "iam:Get*",
    "iam:List*",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "logs:Describe*",
    "logs:ListTagsForResource",
    "route53:Get*",
    "route53:List*",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecrets",
)
# `pulumi up` of a cluster upgrade can outlast STS's default hour.
DEPLOY_SESSION_SECONDS = 7200


@dataclass(frozen=True)
class CiAccess:
    """The ARNs the workflows and the stack outputs need."""

    provider_arn: pulumi.Output[str]
    deploy_role_arn: pulumi.Output[str]
    preview_role_arn: pulumi.Output[str]


def deploy_subject(repository: str, environment: str) -> str:
    """The `sub` of a job running in GitHub environment `environment` of `repository`."""
    return f"repo:{repository}:environment:{environment}"


def preview_subject(repository: str) -> str:
    """The `sub` of a job started by a pull request of `repository`."""
    return f"repo:{repository}:pull_request"


def immutable_repository(repository: str, owner_id: str, repository_id: str) -> str:
    """`owner@<owner id>/name@<repository id>`: the repository as GitHub's immutable subject names it."""
    owner, name = repository.split("/", 1)
    return f"{owner}@{owner_id}/{name}@{repository_id}"


def subject_repositories(ci: Ci) -> list[str]:
    """The repository part(s) of the trusted subjects, as `ci.subject_format` chooses."""
    ids = immutable_repository(ci.github_repository, ci.github_owner_id, ci.github_repository_id)
    exact = {"auto": [ci.github_repository], "names": [ci.github_repository], "ids": [ids]}
    return exact.get(ci.subject_format, [ci.github_repository, ids])


def deploy_subjects(ci: Ci) -> list[str]:
    """Every `sub` the deploy role trusts: the stack's GitHub environment, in each chosen form."""
    return [deploy_subject(repository, ci.deploy_environment) for repository in subject_repositories(ci)]


def preview_subjects(ci: Ci) -> list[str]:
    """Every `sub` the preview role trusts: the repository's pull requests, in each chosen form."""
    return [preview_subject(repository) for repository in subject_repositories(ci)]


def preview_subject_patterns(ci: Ci) -> list[str]:
    """The `sub` patterns the preview role trusts beyond its exact subjects (`auto` only)."""
    return [preview_subject(repository) for repository in _pattern_repositories(ci)]


def deploy_subject_patterns(ci: Ci) -> list[str]:
    """The `sub` patterns the deploy role trusts beyond its exact subjects (`auto` only)."""
    return [deploy_subject(repository, ci.deploy_environment) for repository in _pattern_repositories(ci)]


def _pattern_repositories(ci: Ci) -> list[str]:
    """`owner@*/name@*`: the immutable subject's repository part for any ids, when they are unknown."""
    if ci.subject_format != "auto":
        return []
    owner, name = ci.github_repository.split("/", 1)
    return [f"{owner}@*/{name}@*"]


def github_trust_policy(provider_arn: str, subject: str | Sequence[str], patterns: Sequence[str] = ()) -> str:
    """Trust exactly these `sub` values (one, or the same subject in both of GitHub's forms) of
    GitHub's tokens minted for AWS STS, and the `patterns` in a second statement (`StringLike`,
    which a `StringEquals` of the same statement would AND away). Several values of one key are
    alternatives in IAM."""
    subjects = [subject] if isinstance(subject, str) else list(subject)

    def statement(sid: str, operator: str, values: list[str]) -> dict:
        condition = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE}}
        condition.setdefault(operator, {})[f"{GITHUB_OIDC_HOST}:sub"] = values[0] if len(values) == 1 else values
        return {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }

    statements = [statement("GitHubActionsOidc", "StringEquals", subjects)]
    if patterns:
        pattern_statement = statement("GitHubActionsOidcAnyIds", "StringLike", list(patterns))
        pattern_statement["Condition"]["StringNotLike"] = {f"{GITHUB_OIDC_HOST}:sub": subject_shape_guards(patterns)}
        statements.append(pattern_statement)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def subject_shape_guards(patterns: Sequence[str]) -> list[str]:
    """Subjects shaped unlike GitHub's own for this repository, refused beside the patterns.

    IAM's `*` matches `/`, `:` and `@` too, and GitHub environment names may hold them: another
    repository of the owner could run a job in an environment named
    `x/<name>@1:environment:prod`, whose subject the pattern would match. GitHub's own subject
    for this repository has one `/`, two `@` and exactly as many `:` as the pattern, so anything
    with more of them is refused (`StringNotLike`)."""
    colons = max(p.count(":") for p in patterns)
    return ["*/*/*", "*@*@*@*", "*" + ":*" * (colons + 1)]


def kms_decrypt_statement(secrets_provider: str, partition: str, account_id: str, region: str) -> dict | None:
    """`kms:Decrypt` on the key of an `awskms://` secrets provider (alias, key id or key ARN); None otherwise."""
    if not secrets_provider.startswith("awskms://"):
        return None
    url = urlsplit(secrets_provider)
    key_region = (parse_qs(url.query).get("region") or [region])[0]
    key = (url.netloc + url.path).strip("/")
    statement: dict = {"Sid": "DecryptStackSecrets", "Effect": "Allow", "Action": ["kms:Decrypt"]}
    if key.startswith("arn:"):
        statement["Resource"] = key
    elif key.startswith("alias/"):
        # Decrypt names no alias: match the key by the aliases it has.
        statement["Resource"] = f"arn:{partition}:kms:{key_region}:{account_id}:key/*"
        statement["Condition"] = {"ForAnyValue:StringEquals": {"kms:ResourceAliases": key}}
    else:
        statement["Resource"] = f"arn:{partition}:kms:{key_region}:{account_id}:key/{key}"
    return statement


def state_read_statements(ci: Ci, partition: str) -> list[dict]:
    """Reading the stack's state in its S3 bucket (`ci.stateBucket`), under its prefix only."""
    if not ci.state_bucket:
        return []  # Pulumi Cloud keeps the state: no AWS access is involved
    bucket = f"arn:{partition}:s3:::{ci.state_bucket}"
    prefix = f"{ci.state_prefix}/" if ci.state_prefix else ""
    listing: dict = {"Sid": "ListPulumiState", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": bucket}
    if prefix:
        listing["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}}
    return [
        listing,
        {"Sid": "ReadPulumiState", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket}/{prefix}*"},
    ]


def preview_policy(ci: Ci, partition: str, account_id: str, region: str) -> str:
    """Everything the preview role may do: the metadata reads of a preview, the stack's state
    (read only: a DIY (S3) backend's `pulumi preview` takes no lock, since only `up`, `refresh`,
    `destroy` and `import` write `.pulumi/locks/`, and saves no history or checkpoint), and
    decrypting the stack's config secrets with an `awskms://` secrets provider."""
    statements: list[dict] = [
        {"Sid": "PreviewLookups", "Effect": "Allow", "Action": list(PREVIEW_READS), "Resource": "*"},
        *state_read_statements(ci, partition),
    ]
    decrypt = kms_decrypt_statement(ci.secrets_provider or "", partition, account_id, region)
    if decrypt:
        statements.append(decrypt)
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _github_provider_arn(settings: Settings, ci: Ci) -> pulumi.Output[str]:
    """Use the provider `ciOidcProviderArn` names, create GitHub's OIDC provider (`create`) or
    find the one another stack created (`existing`)."""
    if ci.oidc_provider_arn:
        return pulumi.Output.from_input(ci.oidc_provider_arn)
    if ci.oidc_provider == "existing":
        return aws.iam.get_open_id_connect_provider_output(url=GITHUB_OIDC_URL).arn
    provider = aws.iam.OpenIdConnectProvider(
        "github-actions",
        url=GITHUB_OIDC_URL,
        client_id_lists=[STS_AUDIENCE],
        tags={**settings.tags, "strata.io/owner-stack": f"{pulumi.get_project()}/{pulumi.get_stack()}"},
        # One per account, shared by every stack (and anything else) there: destroying this
        # stack, or moving `create` to another stack, must not cut the others off.
        opts=pulumi.ResourceOptions(retain_on_delete=True),
    )
    return provider.arn


def _cluster_access(
    name: str,
    settings: Settings,
    cluster: ClusterOutputs,
    partition: pulumi.Output[str],
    role: aws.iam.Role,
    policy: str,
) -> None:
    """An EKS access entry for a CI role, with one cluster-wide access policy."""
    depends = pulumi.ResourceOptions(depends_on=[cluster.component])
    entry = aws.eks.AccessEntry(
        f"{name}-access",
        cluster_name=settings.cluster_name,
        principal_arn=role.arn,
        type="STANDARD",
        tags=settings.tags,
        opts=depends,
    )
    aws.eks.AccessPolicyAssociation(
        f"{name}-access-policy",
        cluster_name=settings.cluster_name,
        principal_arn=role.arn,
        policy_arn=partition.apply(lambda p: ACCESS_POLICY.format(partition=p, name=policy)),
        access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
        opts=pulumi.ResourceOptions(depends_on=[entry]),
    )


def create_ci_access(settings: Settings, cluster: ClusterOutputs, aws_context: AwsContext) -> CiAccess | None:
    """GitHub's OIDC provider (or its lookup), the deploy and preview roles, their cluster access."""
    ci = settings.ci
    if ci is None or not ci.enabled:
        return None
    provider_arn = _github_provider_arn(settings, ci)
    repository = ci.github_repository
    if ci.subject_format == "names":
        # GitHub gives repositories created (or renamed) since mid-2026 an id-based `sub`, which
        # these roles would not trust: every CI job would fail at configure-aws-credentials.
        pulumi.log.warn(
            f"`ciSubjectFormat: names`: the CI roles trust GitHub's name-based subject `repo:{repository}:...` "
            "only; a repository created or renamed since mid-2026 signs its jobs with an id-based subject: "
            "set `ciGithubOwnerId` and `ciGithubRepositoryId` (`gh api repos/"
            f"{repository} --jq '.owner.id, .id'`), or remove `ciSubjectFormat` to trust both forms"
        )

    deploy = aws.iam.Role(
        "ci-deploy",
        name=ci.deploy_role_name,
        description=f"pulumi up of stack {pulumi.get_stack()} from GitHub Actions ({repository}, "
        f"environment {ci.deploy_environment})",
        assume_role_policy=provider_arn.apply(
            lambda arn: github_trust_policy(arn, deploy_subjects(ci), deploy_subject_patterns(ci))
        ),
        max_session_duration=DEPLOY_SESSION_SECONDS,
        tags=settings.tags,
    )
    aws.iam.RolePolicyAttachment(
        "ci-deploy-policy",
        role=deploy.name,
        policy_arn=aws_context.managed_policy_arn(DEPLOY_POLICY),
        opts=pulumi.ResourceOptions(parent=deploy),
    )

    preview = aws.iam.Role(
        "ci-preview",
        name=ci.preview_role_name,
        description=f"pulumi preview of stack {pulumi.get_stack()} for pull requests of {repository} (read only)",
        assume_role_policy=provider_arn.apply(
            lambda arn: github_trust_policy(arn, preview_subjects(ci), preview_subject_patterns(ci))
        ),
        tags=settings.tags,
    )
    aws.iam.RolePolicy(
        "ci-preview-reads",
        role=preview.id,
        name="pulumi-preview",
        policy=pulumi.Output.all(aws_context.partition, aws_context.account_id).apply(
            lambda a: preview_policy(ci, a[0], a[1], settings.region)
        ),
        opts=pulumi.ResourceOptions(parent=preview),
    )

    _cluster_access("ci-deploy", settings, cluster, aws_context.partition, deploy, DEPLOY_ACCESS_POLICY)
    _cluster_access("ci-preview", settings, cluster, aws_context.partition, preview, PREVIEW_ACCESS_POLICY)
    return CiAccess(provider_arn=provider_arn, deploy_role_arn=deploy.arn, preview_role_arn=preview.arn)
