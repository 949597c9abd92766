"""The identity that runs `pulumi up` is, most of the time, one of the admin roles: EKS has then
made its access entry when it created the cluster, and the program adopts that entry instead of
creating it again (which EKS refuses with `ResourceInUseException`)."""

from __future__ import annotations

from tests.conftest import STACKS, planned, run, runnable
from tests.harness import ACCOUNT_ID

FIRST = STACKS[0] if STACKS else ""  # conftest refuses a repository without stacks
ADMIN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"
OTHER = f"arn:aws:iam::{ACCOUNT_ID}:role/break-glass"
ADMINS = runnable(FIRST, {"adminRoleArns": [ADMIN, OTHER]}) if STACKS else {}
AS_ADMIN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-admin/alice"
AS_CI = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/ci-deploy/GitHubActions"
for _caller in (AS_ADMIN, AS_CI):
    planned(FIRST, ADMINS, caller=_caller)


def _admin_access(caller: str) -> dict[str, tuple[dict, dict]]:
    """principal -> (its access entry, its cluster-admin association), as run by `caller`."""
    result = run(FIRST, ADMINS, caller=caller)
    assert not isinstance(result, Exception), result
    kinds = ("aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    entries = {r["inputs"]["principalArn"]: r for r in result.resources if r["type"] == kinds[0]}
    associations = {r["parent"]: r for r in result.resources if r["type"] == kinds[1]}
    return {arn: (entry, associations[entry["urn"]]) for arn, entry in entries.items() if arn in (ADMIN, OTHER)}


def test_the_deploying_admin_roles_entry_is_adopted_from_eks_not_created() -> None:
    access = _admin_access(AS_ADMIN)
    entry, association = access[ADMIN]
    cluster = entry["inputs"]["clusterName"]
    assert entry["importId"] == f"{cluster}:{ADMIN}"
    policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association["importId"] == f"{cluster}#{ADMIN}#{policy}"
    assert association["inputs"]["policyArn"] == policy
    # What EKS sets on its own entry is not compared when it is adopted.
    assert {"userName", "kubernetesGroups", "tags", "tagsAll"} <= set(entry["ignoreChanges"])
    assert "tags" not in entry["inputs"]
    # The other admin role gets an entry of its own, created as usual.
    other, other_association = access[OTHER]
    assert not other["importId"] and not other_association["importId"]


def test_a_deployment_by_another_identity_adopts_nothing() -> None:
    for entry, association in _admin_access(AS_CI).values():
        assert not entry["importId"] and not association["importId"]
