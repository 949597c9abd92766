"""Argo CD's credential for the gitops repository: a Secrets Manager secret read through External Secrets."""

from __future__ import annotations

import json

from repo_credentials import OWNER_TAG, owned_elsewhere
from tests.conftest import Stack


def test_a_private_repository_gets_exactly_its_secret_and_a_repository_secret_in_argocd(stack: Stack) -> None:
    gitops, project = stack.config["gitops"], stack.config["project"]
    if gitops.get("repoCredentials", "secrets-manager") == "none":
        assert not [
            s for s in stack.of_type("aws:secretsmanager/secret:Secret") if s["inputs"]["name"].endswith("/gitops-repo")
        ]
        assert not [
            e for e in stack.kubernetes_objects("ExternalSecret") if e["inputs"]["metadata"]["namespace"] == "argocd"
        ]
        return
    name = f"{project}/argocd/gitops-repo"
    (secret,) = [s for s in stack.of_type("aws:secretsmanager/secret:Secret") if s["inputs"]["name"] == name]
    assert secret["inputs"]["name"] == name and "secretString" not in secret["inputs"], "no value in code"
    roles = [
        r for r in stack.of_type("aws:iam/role:Role") if "argocd:gitops-repo-reader" in r["inputs"]["assumeRolePolicy"]
    ]
    (role,) = roles
    (policy,) = [
        p["inputs"]["policy"] for p in stack.of_type("aws:iam/rolePolicy:RolePolicy") if p["parent"] == role["urn"]
    ]
    (statement,) = json.loads(policy)["Statement"]
    assert statement["Resource"] == f"arn:aws:secretsmanager:{stack.region}:{stack.account}:secret:{name}-??????"
    assert sorted(statement["Action"]) == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    (store,) = [
        s["inputs"] for s in stack.kubernetes_objects("SecretStore") if s["inputs"]["metadata"]["namespace"] == "argocd"
    ]
    assert store["spec"]["provider"]["aws"]["auth"]["jwt"]["serviceAccountRef"]["name"] == "gitops-repo-reader"
    (external,) = [
        e["inputs"]
        for e in stack.kubernetes_objects("ExternalSecret")
        if e["inputs"]["metadata"]["namespace"] == "argocd"
    ]
    assert external["metadata"] == {"name": "gitops-repo", "namespace": "argocd"}
    spec = external["spec"]
    assert spec["secretStoreRef"] == {"kind": "SecretStore", "name": store["metadata"]["name"]}
    assert spec["dataFrom"] == [{"extract": {"key": name}}]
    template = spec["target"]["template"]
    assert template["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "repository"}
    assert template["data"] == {"type": "git", "url": gitops["repoUrl"]}
    assert template["mergePolicy"] == "Merge", "the credential fields of the JSON must reach the Secret"
    root_apps = stack.kubernetes_objects("Application")
    credential = next(r for r in stack.resources if r["name"] == "gitops-repo-external-secret")
    assert all(credential["urn"] in app["dependencies"] for app in root_apps)


def test_only_the_stack_that_owns_the_secret_manages_it() -> None:
    me = "acme-foundation/dev"
    assert not owned_elsewhere([], me), "missing: this stack creates it"
    assert not owned_elsewhere([{OWNER_TAG: me}], me), "ours: keep managing it"
    assert owned_elsewhere([{OWNER_TAG: "acme-foundation/prod"}], me), "another stack's: only read it"
    assert owned_elsewhere([{}], me) and owned_elsewhere([None], me), "made by hand: leave it alone"
