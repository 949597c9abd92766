"""GitHub Actions' access to AWS: OIDC provider, deploy and preview roles, and nothing broader."""

from __future__ import annotations

import json
from typing import Any

from ci_access import (
    GITHUB_OIDC_HOST,
    deploy_subjects,
    github_trust_policy,
    kms_decrypt_statement,
    preview_subjects,
    state_access_policy,
)
from settings import Ci
from tests.conftest import Stack
from tests.harness import ACCOUNT_ID

ROLE = "aws:iam/role:Role"
PROVIDER = "aws:iam/openIdConnectProvider:OpenIdConnectProvider"


def _github_roles(stack: Stack) -> dict[str, dict]:
    return {r["name"]: r for r in stack.of_type(ROLE) if GITHUB_OIDC_HOST in r["inputs"]["assumeRolePolicy"]}


def _trust(role: dict) -> dict:
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    return statement


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
        statement = _trust(role)
        assert statement["Effect"] == "Allow"
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{GITHUB_OIDC_HOST}"}
        assert set(statement["Condition"]) == {"StringEquals"}, "no StringLike: no wildcard"
        condition = statement["Condition"]["StringEquals"]
        assert condition == {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com", f"{GITHUB_OIDC_HOST}:sub": expected[name]}
        assert "*" not in json.dumps(condition)
    assert roles["ci-deploy"]["inputs"]["name"] == ci["deployRoleName"]
    assert roles["ci-preview"]["inputs"]["name"] == ci["previewRoleName"]
    assert stack.output("ciRoleArns") == {
        "deploy": f"arn:aws:iam::{ACCOUNT_ID}:role/{ci['deployRoleName']}",
        "preview": f"arn:aws:iam::{ACCOUNT_ID}:role/{ci['previewRoleName']}",
    }


def test_the_deploy_role_can_run_pulumi_up_and_the_preview_role_only_reads(stack: Stack) -> None:
    roles = _github_roles(stack)
    if not roles:
        return
    assert _attached(stack, roles["ci-deploy"]) == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert _attached(stack, roles["ci-preview"]) == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    for policy in stack.of_type("aws:iam/rolePolicy:RolePolicy"):
        if policy["parent"] != roles["ci-preview"]["urn"]:
            continue
        for statement in json.loads(policy["inputs"]["policy"])["Statement"]:
            # `pulumi preview` takes no lock and writes nothing to the state: decrypting is all.
            assert statement["Action"] == ["kms:Decrypt"], statement
    access = {
        a["inputs"]["principalArn"]: a["inputs"]["policyArn"].rsplit("/", 1)[-1]
        for a in stack.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    }
    assert access[f"arn:aws:iam::{ACCOUNT_ID}:role/{roles['ci-deploy']['inputs']['name']}"] == (
        "AmazonEKSClusterAdminPolicy"
    )
    assert access[f"arn:aws:iam::{ACCOUNT_ID}:role/{roles['ci-preview']['inputs']['name']}"] == (
        "AmazonEKSAdminViewPolicy"
    )


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


def test_the_trust_policy_names_one_subject() -> None:
    statement = json.loads(github_trust_policy("arn:aws:iam::1:oidc-provider/x", "repo:o/n:pull_request"))["Statement"][
        0
    ]
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
            f"{GITHUB_OIDC_HOST}:sub": "repo:o/n:pull_request",
        }
    }


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


def test_a_preview_writes_nothing_to_the_state_and_only_decrypts_with_the_stacks_key() -> None:
    s3 = dict(github_repository="o/n", deploy_environment="prod", deploy_role_name="d", preview_role_name="p")
    s3.update(state_bucket="acme-state", state_prefix="pulumi")
    assert state_access_policy(Ci(**s3, secrets_provider="passphrase"), "aws", "1", "eu-west-1") is None
    kms = Ci(**s3, secrets_provider="awskms://alias/acme-pulumi?region=eu-west-1")
    (statement,) = json.loads(state_access_policy(kms, "aws", "1", "eu-west-1"))["Statement"]
    assert statement["Action"] == ["kms:Decrypt"] and "s3" not in json.dumps(statement)
    bare = Ci(github_repository="o/n", deploy_environment="prod", deploy_role_name="d", preview_role_name="p")
    assert state_access_policy(bare, "aws", "1", "eu-west-1") is None


def _ci(**extra: Any) -> Ci:
    return Ci(
        github_repository="Acme/infra", deploy_environment="prod", deploy_role_name="d", preview_role_name="p", **extra
    )


def test_the_roles_trust_githubs_immutable_subject_once_the_ids_are_known() -> None:
    names = _ci()
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
