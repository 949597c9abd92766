"""The identity that runs `pulumi up` is, most of the time, one of the admin roles: EKS makes its
access entry when it creates the cluster, so the program never creates that entry. Before the
cluster exists it does not declare it at all (a `pulumi preview` cannot import what does not
exist yet); once it exists, the program adopts the entry EKS has instead of creating a second
one (which EKS refuses with `ResourceInUseException`)."""

from __future__ import annotations

from tests.conftest import STACKS, planned, run, runnable
from tests.harness import ACCOUNT_ID

FIRST = STACKS[0] if STACKS else ""  # conftest refuses a repository without stacks
ADMIN = f"arn:aws:iam::{ACCOUNT_ID}:role/platform-admin"
ADMIN_WITH_PATH = f"arn:aws:iam::{ACCOUNT_ID}:role/teams/platform-admin"
OTHER = f"arn:aws:iam::{ACCOUNT_ID}:role/break-glass"
ADMINS = runnable(FIRST, {"adminRoleArns": [ADMIN, OTHER]}) if STACKS else {}
AS_ADMIN = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/platform-admin/alice"
AS_CI = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/ci-deploy/GitHubActions"
FRESH: dict = {}
CREATED_BY_ADMIN = {"clusterExists": True, "accessEntries": [ADMIN]}
CREATED_BY_ADMIN_WITH_PATH = {"clusterExists": True, "accessEntries": [ADMIN_WITH_PATH]}
WORLDS = [
    (AS_ADMIN, FRESH, ADMIN),
    (AS_ADMIN, CREATED_BY_ADMIN, ADMIN),
    (AS_CI, CREATED_BY_ADMIN, ADMIN),
    (AS_CI, FRESH, ADMIN),
    (AS_ADMIN, CREATED_BY_ADMIN_WITH_PATH, ADMIN_WITH_PATH),
]
for _caller, _world, _issuer in WORLDS:
    planned(FIRST, ADMINS, caller=_caller, issuer=_issuer, **_world)

KINDS = ("aws:eks/accessEntry:AccessEntry", "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")


def _admin_access(caller: str, world: dict, issuer: str) -> dict[str, tuple[dict, dict]]:
    """Configured role -> (its access entry, its cluster-admin association), as run by `caller`."""
    result = run(FIRST, ADMINS, caller=caller, issuer=issuer, **world)
    assert not isinstance(result, Exception), result
    found = {}
    for entry in (r for r in result.resources if r["type"] == KINDS[0] and r["name"].startswith("cluster-admin-")):
        (association,) = [r for r in result.resources if r["type"] == KINDS[1] and r["parent"] == entry["urn"]]
        found[entry["name"].removeprefix("cluster-admin-")] = (entry, association)
    return found


def test_before_the_cluster_exists_the_deploying_admin_roles_entry_is_left_to_eks() -> None:
    access = _admin_access(AS_ADMIN, FRESH, ADMIN)
    assert "platform-admin" not in access, "EKS makes the creator's entry: declaring it fails at preview"
    entry, association = access["break-glass"]
    assert not entry["importId"] and not association["importId"], "another admin's entry is created"


def test_once_the_cluster_exists_the_entry_eks_made_is_adopted_not_created() -> None:
    for caller in (AS_ADMIN, AS_CI):  # whoever runs the next `pulumi up`
        access = _admin_access(caller, CREATED_BY_ADMIN, ADMIN)
        entry, association = access["platform-admin"]
        cluster = entry["inputs"]["clusterName"]
        assert entry["importId"] == f"{cluster}:{ADMIN}", caller
        policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        assert association["inputs"]["policyArn"] == policy
        if caller == AS_ADMIN:
            assert association["importId"] == f"{cluster}#{ADMIN}#{policy}"
        # What EKS sets on its own entry is not compared when it is adopted.
        assert {"userName", "kubernetesGroups", "tags", "tagsAll"} <= set(entry["ignoreChanges"])
        other, other_association = access["break-glass"]
        assert not other["importId"] and not other_association["importId"], "not in EKS: created"


def test_a_deployment_by_another_identity_on_a_fresh_account_creates_every_entry() -> None:
    for entry, association in _admin_access(AS_CI, FRESH, ADMIN).values():
        assert not entry["importId"] and not association["importId"]


def test_a_role_with_a_path_is_the_same_role_and_its_entry_keeps_the_path() -> None:
    entry, association = _admin_access(AS_ADMIN, CREATED_BY_ADMIN_WITH_PATH, ADMIN_WITH_PATH)["platform-admin"]
    assert entry["inputs"]["principalArn"] == ADMIN_WITH_PATH, "EKS keeps the creator's entry under the full ARN"
    assert entry["importId"].endswith(f":{ADMIN_WITH_PATH}")
