"""GitHub Actions' access to AWS: OIDC provider, deploy and preview roles, and nothing broader.

The trust policies are evaluated as IAM evaluates them (`trusts`: an Allow statement whose
every condition holds; `StringEquals` compares exactly, `StringLike` with `*` and `?`), against
the subjects GitHub sends in each of its two forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ci_access import (
    GITHUB_OIDC_HOST,
    deploy_subjects,
    github_trust_policy,
    kms_decrypt_statement,
    preview_policy,
    preview_subjects,
)
from settings import Ci
from tests.conftest import STACKS, Stack, planned, run, runnable
from tests.harness import ACCOUNT_ID, REPO_ROOT, project_name, stack_values

ROLE = "aws:iam/role:Role"
PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def _github_roles(stack: Stack) -> dict[str, dict]:
    return {r["name"]: r for r in stack.of_type(ROLE) if GITHUB_OIDC_HOST in r["inputs"]["assumeRolePolicy"]}


def _statements(role: dict) -> list[dict]:
    return json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]


def _like(pattern: str, value: str) -> bool:
    """IAM's `StringLike`: `*` any run of characters, `?` one; everything else literal, case-sensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _holds(operator: str, test: Any, values: list[str], claim: str) -> bool:
    """One condition key: some value matches (`StringNotLike`: none of the patterns matches)."""
    if operator == "StringNotLike":
        return all(test(value, claim) for value in values)
    return any(test(value, claim) for value in values)


def trusts(policy: str, subject: str, audience: str = "sts.amazonaws.com") -> bool:
    """Whether a trust policy lets a GitHub token with this `sub` and `aud` assume the role."""
    claims = {f"{GITHUB_OIDC_HOST}:sub": subject, f"{GITHUB_OIDC_HOST}:aud": audience}
    tests = {
        "StringEquals": lambda want, got: want == got,
        "StringLike": _like,
        "StringNotLike": lambda pattern, got: not _like(pattern, got),
    }
    for statement in json.loads(policy)["Statement"]:
        if statement["Effect"] != "Allow" or statement["Action"] != "sts:AssumeRoleWithWebIdentity":
            continue
        conditions = statement.get("Condition") or {}
        assert set(conditions) <= set(tests), f"an operator this evaluator does not know: {conditions}"
        if all(
            key in claims
            and _holds(operator, tests[operator], [values] if isinstance(values, str) else values, claims[key])
            for operator, keys in conditions.items()
            for key, values in keys.items()
        ):
            return True
    return False


def _attached(stack: Stack, role: dict) -> list[str]:
    return [
        a["inputs"]["policyArn"]
        for a in stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a["parent"] == role["urn"]
    ]


def test_ci_roles_trust_only_this_repository_with_exact_conditions(stack: Stack) -> None:
    ci: dict[str, Any] | None = stack.config.get("ci")
    roles = _github_roles(stack)
    if not ci or not ci.get("githubRepository"):
        assert not roles and not stack.of_type(PROVIDER), "no GitHub repository: no CI role"
        assert stack.output("ciRoleArns") is None
        return
    repository = ci["githubRepository"]
    assert set(roles) == {"ci-deploy", "ci-preview"}
    expected = {
        "ci-deploy": f"repo:{repository}:environment:{ci['deployEnvironment']}",
        "ci-preview": f"repo:{repository}:pull_request",
    }
    for name, role in roles.items():
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert statement["Principal"] == {
                "Federated": f"arn:aws:iam::{stack.account}:oidc-provider/{GITHUB_OIDC_HOST}"
            }
            assert statement["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:aud"] == "sts.amazonaws.com"
        assert expected[name] in json.dumps(statement) or trusts(role["inputs"]["assumeRolePolicy"], expected[name])
    assert roles["ci-deploy"]["inputs"]["name"] == ci["deployRoleName"]
    assert roles["ci-preview"]["inputs"]["name"] == ci["previewRoleName"]
    assert stack.output("ciRoleArns") == {
        "deploy": f"arn:aws:iam::{stack.account}:role/{ci['deployRoleName']}",
        "preview": f"arn:aws:iam::{stack.account}:role/{ci['previewRoleName']}",
    }


def _subjects(repository: str, owner_id: str, repository_id: str, tail: str) -> dict[str, str]:
    owner, name = repository.split("/", 1)
    return {"names": f"repo:{repository}:{tail}", "ids": f"repo:{owner}@{owner_id}/{name}@{repository_id}:{tail}"}


def test_ci_roles_trust_this_repositorys_tokens_in_either_form_and_no_other(stack: Stack) -> None:
    ci: dict[str, Any] | None = stack.config.get("ci")
    roles = _github_roles(stack)
    if not ci or not ci.get("githubRepository"):
        return
    repository, environment = ci["githubRepository"], ci["deployEnvironment"]
    owner, name = repository.split("/", 1)
    deploy, preview = (roles[r]["inputs"]["assumeRolePolicy"] for r in ("ci-deploy", "ci-preview"))
    ids = ("4242", "777000")
    if stack.config.get("ciGithubOwnerId"):
        ids = (str(stack.config["ciGithubOwnerId"]), str(stack.config["ciGithubRepositoryId"]))
    subject_format = stack.config.get("ciSubjectFormat") or ("ids" if stack.config.get("ciGithubOwnerId") else "auto")
    forms = {"auto": {"names", "ids"}, "both": {"names", "ids"}, "names": {"names"}, "ids": {"ids"}}[subject_format]
    for form, subject in _subjects(repository, *ids, f"environment:{environment}").items():
        assert trusts(deploy, subject) == (form in forms), f"the deploy job's token ({form}): {subject}"
        assert not trusts(preview, subject), f"the preview role trusts a deploy token: {subject}"
        assert not trusts(deploy, subject, audience="sigstore"), "a token minted for another audience"
    for form, subject in _subjects(repository, *ids, "pull_request").items():
        assert trusts(preview, subject) == (form in forms), f"the pull request's token ({form}): {subject}"
        assert not trusts(deploy, subject), f"a pull request's token assumes the deploy role: {subject}"
    others = [
        *_subjects(f"{owner}/{name}-fork", *ids, f"environment:{environment}").values(),
        *_subjects(f"{owner}x/{name}", *ids, f"environment:{environment}").values(),
        *_subjects(f"{owner}/x{name}", *ids, f"environment:{environment}").values(),
        *_subjects(repository, *ids, "environment:other").values(),
        *_subjects(repository, *ids, "ref:refs/heads/main").values(),
        f"repo:{owner}@1/{name}-fork@2:environment:{environment}",
        # Another repository of the owner, in an environment named to end like this one's subject
        # (IAM's `*` matches `/`, `:` and `@`, and GitHub environment names may hold them).
        f"repo:{owner}@1/other@2:environment:x/{name}@1:environment:{environment}",
        f"repo:{owner}@1/other@2:environment:x:{owner}@1/{name}@2:environment:{environment}",
        f"repo:{owner}@1/other@2:environment:{owner}@1/{name}@2:pull_request",
        f"repo:{owner}@1/{name}@2:environment:pull_request",
    ]
    for subject in others:
        assert not trusts(deploy, subject), f"the deploy role trusts {subject}"
        assert not trusts(preview, subject), f"the preview role trusts {subject}"


def test_the_deploy_role_can_run_pulumi_up_and_the_preview_role_only_reads(stack: Stack) -> None:
    roles = _github_roles(stack)
    if not roles:
        return
    assert _attached(stack, roles["ci-deploy"]) == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert _attached(stack, roles["ci-preview"]) == [], "no managed policy: ReadOnlyAccess reads every S3 object"
    (policy,) = [p for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if p["parent"] == roles["ci-preview"]["urn"]]
    for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            service, verb = action.split(":")
            # `pulumi preview` takes no lock and writes nothing: it reads metadata, its state and
            # decrypts its config; no secret value and no other object's data.
            assert verb.startswith(("Describe", "List", "Get")) or action == "kms:Decrypt", action
            assert action not in ("secretsmanager:GetSecretValue", "ssm:GetParameter", "ssm:GetParameters"), action
            if service == "s3":
                assert statement["Resource"] != "*", statement
    access = {
        a["inputs"]["principalArn"]: a["inputs"]["policyArn"].rsplit("/", 1)[-1]
        for a in stack.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    assert access[f"arn:aws:iam::{stack.account}:role/{roles['ci-deploy']['inputs']['name']}"] == (
        "AmazonEKSClusterAdminPolicy"
    )
    assert access[f"arn:aws:iam::{stack.account}:role/{roles['ci-preview']['inputs']['name']}"] == (
        "AmazonEKSViewPolicy"
    ), "a pull request reads no Kubernetes Secret"


def test_only_the_stack_marked_create_makes_githubs_oidc_provider(stack: Stack) -> None:
    ci = stack.config.get("ci") or {}
    if not ci.get("githubRepository"):
        return
    providers = stack.of_type(PROVIDER)
    if ci.get("oidcProvider", "create") == "create":
        (provider,) = providers
        assert provider["inputs"]["url"] == f"https://{GITHUB_OIDC_HOST}"
        assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    else:
        assert not providers, "another stack of the account owns it: this one only looks it up"


def test_the_trust_policy_names_one_subject_or_adds_patterns_in_a_statement_of_their_own() -> None:
    policy = github_trust_policy("arn:aws:iam::1:oidc-provider/x", "repo:o/n:pull_request")
    (statement,) = json.loads(policy)["Statement"]
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
            f"{GITHUB_OIDC_HOST}:sub": "repo:o/n:pull_request",
        }
    }
    policy = github_trust_policy(
        "arn:aws:iam::1:oidc-provider/x", "repo:o/n:pull_request", ["repo:o@*/n@*:pull_request"]
    )
    exact, pattern = json.loads(policy)["Statement"]
    assert exact == statement
    assert pattern["Condition"] == {
        "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"},
        "StringLike": {f"{GITHUB_OIDC_HOST}:sub": "repo:o@*/n@*:pull_request"},
        # GitHub's subject for this repository has one `/`, two `@` and two `:`: nothing more.
        "StringNotLike": {f"{GITHUB_OIDC_HOST}:sub": ["*/*/*", "*@*@*@*", "*:*:*:*"]},
    }
    assert trusts(policy, "repo:o@1/n@2:pull_request") and trusts(policy, "repo:o/n:pull_request")
    assert not trusts(policy, "repo:o@1/n2@2:pull_request") and not trusts(policy, "repo:o@1/n@2:environment:x")


def test_the_secrets_key_is_found_by_alias_id_or_arn() -> None:
    by_alias = kms_decrypt_statement("awskms://alias/acme-pulumi?region=eu-west-1", "aws", "111122223333", "us-east-1")
    assert by_alias == {
        "Sid": "DecryptStackSecrets",
        "Effect": "Allow",
        "Action": ["kms:Decrypt"],
        "Resource": "arn:aws:kms:eu-west-1:111122223333:key/*",
        "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/acme-pulumi"}},
    }
    by_id = kms_decrypt_statement("awskms://1234abcd-12ab-34cd-56ef-1234567890ab", "aws", "111122223333", "us-east-1")
    assert by_id["Resource"] == "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert kms_decrypt_statement(f"awskms://{arn}", "aws", "1", "x")["Resource"] == arn
    assert kms_decrypt_statement("passphrase", "aws", "1", "x") is None


def test_a_preview_reads_its_own_state_only_and_decrypts_with_the_stacks_key() -> None:
    s3 = dict(github_repository="o/n", deploy_environment="prod", deploy_role_name="d", preview_role_name="p")
    s3.update(state_bucket="acme-state", state_prefix="pulumi")
    statements = {s["Sid"]: s for s in json.loads(preview_policy(Ci(**s3), "aws", "1", "eu-west-1"))["Statement"]}
    assert set(statements) == {"PreviewLookups", "ListPulumiState", "ReadPulumiState"}
    assert statements["ReadPulumiState"]["Action"] == ["s3:GetObject"]
    assert statements["ReadPulumiState"]["Resource"] == "arn:aws:s3:::acme-state/pulumi/*"
    assert statements["ListPulumiState"]["Resource"] == "arn:aws:s3:::acme-state"
    assert statements["ListPulumiState"]["Condition"] == {"StringLike": {"s3:prefix": ["pulumi/", "pulumi/*"]}}
    assert not any(a.startswith("s3:") for a in statements["PreviewLookups"]["Action"])
    kms = Ci(**s3, secrets_provider="awskms://alias/acme-pulumi?region=eu-west-1")
    decrypt = json.loads(preview_policy(kms, "aws", "1", "eu-west-1"))["Statement"][-1]
    assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Sid"] == "DecryptStackSecrets"
    cloud = Ci(github_repository="o/n", deploy_environment="prod", deploy_role_name="d", preview_role_name="p")
    assert [s["Sid"] for s in json.loads(preview_policy(cloud, "aws", "1", "eu-west-1"))["Statement"]] == [
        "PreviewLookups"
    ], "Pulumi Cloud keeps the state: no S3 access"


def _ci(**extra: Any) -> Ci:
    return Ci(
        github_repository="Acme/infra", deploy_environment="prod", deploy_role_name="d", preview_role_name="p", **extra
    )


def test_the_roles_trust_githubs_immutable_subject_once_the_ids_are_known() -> None:
    names = _ci(subject_format="names")
    assert deploy_subjects(names) == ["repo:Acme/infra:environment:prod"]
    assert preview_subjects(names) == ["repo:Acme/infra:pull_request"]
    ids = _ci(github_owner_id="123456", github_repository_id="789012", subject_format="ids")
    assert deploy_subjects(ids) == ["repo:Acme@123456/infra@789012:environment:prod"]
    assert preview_subjects(ids) == ["repo:Acme@123456/infra@789012:pull_request"]
    both = _ci(github_owner_id="123456", github_repository_id="789012", subject_format="both")
    assert deploy_subjects(both) == [
        "repo:Acme/infra:environment:prod",
        "repo:Acme@123456/infra@789012:environment:prod",
    ]
    statement = json.loads(github_trust_policy("arn:aws:iam::1:oidc-provider/x", deploy_subjects(both)))["Statement"][0]
    assert statement["Condition"]["StringEquals"][f"{GITHUB_OIDC_HOST}:sub"] == deploy_subjects(both)
    assert "*" not in json.dumps(statement["Condition"])


# What each provider function the program calls needs in IAM (what terraform-provider-aws's data
# source calls). A preview runs every one of them with the preview role.
INVOKE_ACTIONS: dict[str, list[str]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": [],  # sts:GetCallerIdentity needs no permission
    "aws:index/getPartition:getPartition": [],
    "aws:index/getRegion:getRegion": [],
    "aws:iam/getPolicyDocument:getPolicyDocument": [],  # computed locally
    "aws:iam/getSessionContext:getSessionContext": ["iam:GetRole"],
    "aws:index/getAvailabilityZones:getAvailabilityZones": ["ec2:DescribeAvailabilityZones"],
    "aws:route53/getZone:getZone": ["route53:ListHostedZones", "route53:GetHostedZone", "route53:ListTagsForResource"],
    "aws:iam/getOpenIdConnectProvider:getOpenIdConnectProvider": [
        "iam:ListOpenIDConnectProviders",
        "iam:GetOpenIDConnectProvider",
    ],
    "aws:secretsmanager/getSecrets:getSecrets": ["secretsmanager:ListSecrets"],
    "aws:secretsmanager/getSecret:getSecret": ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"],
    "aws:cloudwatch/getLogGroups:getLogGroups": ["logs:DescribeLogGroups"],
    "aws:eks/getClusters:getClusters": ["eks:ListClusters"],
    "aws:eks/getAccessEntry:getAccessEntry": ["eks:DescribeAccessEntry"],
}
FIRST = STACKS[0] if STACKS else ""
_PROJECT = stack_values(REPO_ROOT, FIRST)[0].get(f"{project_name(REPO_ROOT)}:project", "") if STACKS else ""
# Worlds in which every lookup of the program runs: a fresh account, and a day-2 account where the
# cluster, an admin's access entry and the gitops repository credential exist.
LOOKUP_WORLDS = [
    {},
    {
        "clusterExists": True,
        "accessEntries": [f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"],
        "secrets": [{"name": f"{_PROJECT}/argocd/gitops-repo", "tags": {}}],
        "caller": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-admin/alice",
    },
]
LOOKUP_OVERRIDES = (
    runnable(FIRST, {"adminRoleArns": [f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"]}) if STACKS else {}
)
for _world in LOOKUP_WORLDS:
    planned(FIRST, LOOKUP_OVERRIDES, **_world)


def _allows(statements: list[dict], action: str) -> bool:
    return any(
        s["Effect"] == "Allow" and any(_like(pattern.lower(), action.lower()) for pattern in s["Action"])
        for s in statements
    )


def test_the_preview_role_may_make_every_lookup_the_program_makes(stack: Stack) -> None:
    ci = stack.config.get("ci") or {}
    if stack.name != FIRST or not ci.get("githubRepository"):
        return
    statements = json.loads(preview_policy(Ci(
        github_repository=ci["githubRepository"], deploy_environment=ci["deployEnvironment"],
        deploy_role_name=ci["deployRoleName"], preview_role_name=ci["previewRoleName"],
        state_bucket=ci.get("stateBucket"), state_prefix=ci.get("statePrefix", ""),
        secrets_provider=ci.get("secretsProvider"),
    ), "aws", stack.account, stack.region))["Statement"]  # fmt: skip
    called: set[str] = set()
    for world in LOOKUP_WORLDS:
        result = run(FIRST, LOOKUP_OVERRIDES, **world)
        assert not isinstance(result, Exception), result
        called |= set(result.invokes)
    unknown = called - set(INVOKE_ACTIONS)
    assert not unknown, f"a lookup this test does not know (add what it needs in IAM): {sorted(unknown)}"
    expected = {"aws:eks/getAccessEntry:getAccessEntry"}
    if (stack.config.get("gitops") or {}).get("repoCredentials", "secrets-manager") != "none":
        expected.add("aws:secretsmanager/getSecret:getSecret")
    assert expected <= called, "the worlds above no longer reach every lookup this test is about"
    missing = [(token, action) for token in sorted(called) for action in INVOKE_ACTIONS[token]
               if not _allows(statements, action)]  # fmt: skip
    assert not missing, f"pulumi preview would be refused: {missing}"
